"""events's OpenAPI document fuzzed with schemathesis (all checks); a file per service, so that the fuzzers of
different services run on different test workers."""

from __future__ import annotations

from .fuzz import IMPORTS, schema_fuzz_test

test_events_survives_the_schema_fuzzer = schema_fuzz_test("sprakvan_events.service:SERVICE")
test_events_imports_survive_the_schema_fuzzer = schema_fuzz_test(
    "sprakvan_events.service:SERVICE", role="admin", paths=IMPORTS
)

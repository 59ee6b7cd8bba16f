"""intake's OpenAPI document fuzzed with schemathesis (all checks); a file per service, so that the fuzzers of
different services run on different test workers."""

from __future__ import annotations

from .fuzz import IMPORTS, schema_fuzz_test

test_intake_survives_the_schema_fuzzer = schema_fuzz_test("sprakvan_intake.service:SERVICE")
test_intake_imports_survive_the_schema_fuzzer = schema_fuzz_test(
    "sprakvan_intake.service:SERVICE", role="admin", paths=IMPORTS
)

"""Every service's OpenAPI document fuzzed with schemathesis (all checks): one line per service."""

from __future__ import annotations

from .fuzz import IMPORTS, schema_fuzz_test

test_intake_survives_the_schema_fuzzer = schema_fuzz_test("sprakvan_intake.service:SERVICE")
test_intake_imports_survive_the_schema_fuzzer = schema_fuzz_test(
    "sprakvan_intake.service:SERVICE", role="admin", paths=IMPORTS
)
test_events_survives_the_schema_fuzzer = schema_fuzz_test("sprakvan_events.service:SERVICE")
test_reporting_survives_the_schema_fuzzer = schema_fuzz_test("sprakvan_reporting.service:SERVICE")
test_reporting_imports_survive_the_schema_fuzzer = schema_fuzz_test(
    "sprakvan_reporting.service:SERVICE", role="admin", paths=IMPORTS
)

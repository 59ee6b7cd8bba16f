"""Matching's OpenAPI document fuzzed with schemathesis (all checks), on real NATS and PostgreSQL."""

from __future__ import annotations

from tests.fuzz import IMPORTS, schema_fuzz_test

test_matching_survives_the_schema_fuzzer = schema_fuzz_test("sprakvan_matching.service:SERVICE")
test_matching_imports_survive_the_schema_fuzzer = schema_fuzz_test(
    "sprakvan_matching.service:SERVICE", role="admin", paths=IMPORTS
)

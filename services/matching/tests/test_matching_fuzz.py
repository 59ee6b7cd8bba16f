"""Matching's OpenAPI document fuzzed with schemathesis (all checks), on real NATS and PostgreSQL."""

from __future__ import annotations

from tests.fuzz import schema_fuzz_test

test_matching_survives_the_schema_fuzzer = schema_fuzz_test("sprakvan_matching.service:SERVICE")

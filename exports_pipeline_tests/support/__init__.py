"""Helpers shared by the tests and the benchmarks (no fixtures, no tests: conftest files
hold the fixtures, which call these)."""

"""Fixtures of the reliability tests: the API tests' shared seeded store, on every backend."""

from exports_pipeline_tests.api.conftest import (  # noqa: F401 (fixtures, and the hook that parametrizes them)
    pytest_generate_tests,
    shared_engine,
    shared_keys,
    shared_store_url,
)

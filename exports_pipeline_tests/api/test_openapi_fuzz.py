"""Schemathesis against the served API's /openapi.json: no 5xx, every response as documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hypothesis
import pytest
import schemathesis
import sqlalchemy as sa
from schemathesis.checks import positive_data_acceptance

from exports_pipeline.api.app import create_app
from exports_pipeline_tests.support.api import Keys, seed_spaces
from exports_pipeline_tests.support.served import served_api, unlimited_env

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 40


@pytest.fixture(scope="module")
def fuzzed_api(
    shared_store_url: str, shared_engine: sa.Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Keys]]:
    keys = seed_spaces(shared_engine)
    home: Path = tmp_path_factory.mktemp("fuzz")
    env = unlimited_env(shared_store_url, home / "home")
    with served_api(env, home / "api.log") as base_url:
        yield base_url, keys


@pytest.fixture(scope="module")
def api_schema(fuzzed_api: tuple[str, Keys]):  # type: ignore[no-untyped-def]
    base_url, keys = fuzzed_api
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.update(base_url=base_url, headers={"Authorization": f"Bearer {keys.acme}"})
    return schema


def _operations() -> list[tuple[str, str]]:
    # The app's own schema names the operations (no server needed to collect tests).
    paths = create_app().openapi()["paths"]
    return [(path, method.upper()) for path, item in paths.items() for method in item]


@pytest.mark.parametrize(("path", "method"), _operations(), ids=lambda v: str(v))
def test_responses_conform_to_the_schema(api_schema, path: str, method: str) -> None:  # type: ignore[no-untyped-def]
    operation = api_schema[path][method]

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=True,
        database=None,
    )
    def responses_conform(case: schemathesis.Case) -> None:
        # A schema-valid body may still be a 422: the date must not be after today in
        # the space and cross-field rules (attribution needs sources) are not in the schema.
        case.call_and_validate(excluded_checks=[positive_data_acceptance])

    responses_conform()

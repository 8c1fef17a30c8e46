"""Schemathesis, stateful: sequences of create -> status (the link inferred from the create
response's `export_id`) against a served API; every response as documented, no 5xx, and
the sequences really reach accepted exports and their status."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis.checks import positive_data_acceptance

from exports_pipeline_tests.support.api import Keys
from exports_pipeline_tests.support.served import served_api, unlimited_env

pytestmark = pytest.mark.integration

ACCESS_LINE = re.compile(
    r'"(GET|POST) /public-api/v1/events/exports(/\d+)?(/download)?\S* HTTP/[\d.]+" (\d{3})'
)


@pytest.fixture(scope="module")
def served(
    shared_store_url: str, shared_keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    home: Path = tmp_path_factory.mktemp("stateful")
    log = home / "api.log"
    with served_api(unlimited_env(shared_store_url, home / "home"), log) as base_url:
        yield base_url, log


def _in_range_date(context: Any, body: Any) -> Any:
    # The schema cannot say "not after today in the space": a well-formed date becomes one
    # that can be exported, so that sequences go on past the create. Malformed dates (the
    # negative cases) are left alone.
    if isinstance(body, dict) and isinstance(body.get("date"), str) and len(body["date"]) == 10:
        try:
            dt.date.fromisoformat(body["date"])
        except ValueError:
            return body
        body["date"] = "2024-01-15"
    return body


def test_create_then_status_sequences_conform(served: tuple[str, Path], shared_keys: Keys) -> None:
    base_url, log = served
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.update(base_url=base_url)

    # The key as explicit auth (not a fixed header): operations that declare header
    # parameters (Idempotency-Key) would make a fixed header look generated to schemathesis.
    @schema.auth()
    class ApiKey:
        def get(self, case: Any, ctx: Any) -> str:
            return shared_keys.acme

        def set(self, case: Any, data: str, ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    schema.hook("map_body")(_in_range_date)
    machine = schema.as_state_machine()

    class Sequences(machine):  # type: ignore[misc, valid-type]
        def validate_response(self, response, case, **kwargs):  # type: ignore[no-untyped-def]
            # Schema-valid bodies may break cross-field rules (attribution needs sources).
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

    Sequences.run(
        settings=hypothesis.settings(
            max_examples=20,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )
    seen = Counter(
        (method, bool(export_id), bool(download), int(status))
        for method, export_id, download, status in ACCESS_LINE.findall(log.read_text())
    )
    print(f"\nstateful schemathesis: {sum(seen.values())} requests, {dict(seen)}")
    assert not [key for key in seen if key[3] >= 500]
    assert seen[("POST", False, False, 202)] > 0
    assert seen[("GET", True, False, 200)] > 0

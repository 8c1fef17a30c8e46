"""SQL injection strings in every parameter are a 401/403/404/422, never a 5xx: the store
keeps every table and row, and no SQL statement the API runs contains the input text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline_tests.support.api import EXPORTS, Keys, bearer, make_settings
from exports_pipeline_tests.support.contents import store_contents

INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE exports; --",
    "'); DROP TABLE api_keys; --",
    "1 UNION SELECT key_hash, key_prefix FROM api_keys --",
    '" OR ""="',
    "%' OR 1=1 --",
    "2024-01-15'; UPDATE spaces SET subscription_active = false; --",
    "x'; DELETE FROM exports WHERE '1'='1",
    "$$; TRUNCATE api_keys; $$",
    "1/**/OR/**/1=1",
    "acme' --",
    "\\'; DROP TABLE spaces; --",
]
VALID = {"date": "2024-01-15"}
ATTRIBUTED = {
    "date": "2024-01-15",
    "sources": ["facebook_ads"],
    "attribution_model": "linear",
    "attribution_window": 7,
}
SIGNED = {"expires": "9999999999", "signature": "0" * 64}


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    expected: frozenset[int]
    body: dict[str, Any] | None = None
    authorization: str | None = field(default="acme")


def _probes(text: str) -> dict[str, Probe]:
    quoted = quote(text, safe="")
    create = {
        "date": {"date": text},
        "query_mode": {**VALID, "query_mode": text},
        "event_names item": {**VALID, "event_names": ["purchase", text]},
        "sources item": {**ATTRIBUTED, "sources": ["facebook_ads", text]},
        "attribution_model": {**ATTRIBUTED, "attribution_model": text},
        "attribution_window": {**ATTRIBUTED, "attribution_window": text},
        "fields item": {**VALID, "fields": ["id", text]},
        "body key": {**VALID, text: "2024-01-15"},
    }
    probes = {name: Probe("POST", EXPORTS, frozenset({422}), body) for name, body in create.items()}
    probes["status export_id"] = Probe("GET", f"{EXPORTS}/{quoted}", frozenset({404, 422}))
    probes["download export_id"] = Probe(
        "GET", f"{EXPORTS}/{quoted}/download?{urlencode(SIGNED)}", frozenset({403, 404}), None, None
    )
    probes["download expires, signature"] = Probe(
        "GET",
        f"{EXPORTS}/1/download?{urlencode({'expires': text, 'signature': text})}",
        frozenset({403}),
        None,
        None,
    )
    probes["authorization"] = Probe("POST", EXPORTS, frozenset({401}), VALID, f"Bearer {text}")
    probes["authorization scheme"] = Probe("POST", EXPORTS, frozenset({401}), VALID, text)
    return probes


CASES = [
    pytest.param(text, name, probe, id=f"{name}-{index}")
    for index, text in enumerate(INJECTIONS)
    for name, probe in _probes(text).items()
]


@pytest.fixture(scope="module")
def api(
    shared_store_url: str, tmp_path_factory: pytest.TempPathFactory, shared_keys: Keys
) -> Iterator[tuple[TestClient, list[str]]]:
    """The app on the shared store, and every SQL statement it sends to the store."""
    settings = make_settings(
        shared_store_url,
        Path(tmp_path_factory.mktemp("home")),
        rate_limit_create_per_minute=1_000_000,
        rate_limit_status_per_minute=1_000_000,
    )
    statements: list[str] = []
    with TestClient(create_app(settings)) as client:
        sa.event.listen(
            client.app.state.engine,  # type: ignore[attr-defined]
            "before_cursor_execute",
            lambda _conn, _cursor, statement, *_: statements.append(statement),
        )
        yield client, statements


@pytest.mark.parametrize(("text", "target", "probe"), CASES)
def test_injection_is_refused_and_reaches_no_sql(
    api: tuple[TestClient, list[str]],
    shared_engine: sa.Engine,
    shared_keys: Keys,
    text: str,
    target: str,
    probe: Probe,
) -> None:
    client, statements = api
    headers = {}
    if probe.authorization == "acme":
        headers = bearer(shared_keys.acme)
    elif probe.authorization is not None:
        headers = {"Authorization": probe.authorization}
    before = store_contents(shared_engine)
    del statements[:]

    response = client.request(probe.method, probe.path, json=probe.body, headers=headers)

    assert response.status_code in probe.expected, response.text
    assert "message" in response.json()
    assert store_contents(shared_engine) == before
    assert not [s for s in statements if text in s]


def test_a_valid_create_changes_the_store_so_the_snapshot_can_tell(
    api: tuple[TestClient, list[str]], shared_engine: sa.Engine, shared_keys: Keys
) -> None:
    client, _ = api
    before = store_contents(shared_engine)
    assert client.post(EXPORTS, json=VALID, headers=bearer(shared_keys.acme)).status_code == 202
    assert store_contents(shared_engine) != before

"""SPEC 6.5 endpoints API: create (secret once), list (no secrets), delete; at most 10 per
space; same auth as exports; URL and event rules as 422s naming the field."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.store.exports import create_export, mark_failed, mark_processing
from exports_pipeline.store.schema import webhook_deliveries
from exports_pipeline_tests.support.api import (
    EXPORTS,
    Keys,
    bearer,
    completed_export,
    make_settings,
)

HOOKS = "/public-api/v1/webhook-endpoints"
PUBLIC = "https://8.8.8.8/hooks/exports"
ALL_EVENTS = ["export.completed", "export.failed", "export.cancelled", "export.expired"]


@pytest.fixture
def dev_client(store_url: str, tmp_path: Path, keys: Keys) -> Iterator[TestClient]:
    """EXPORTS_WEBHOOK_ALLOW_PRIVATE=1 and room for many creates a minute."""
    settings = make_settings(
        store_url, tmp_path / "home", webhook_allow_private=True, rate_limit_create_per_minute=100
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _create(client: TestClient, key: str, body: object):  # type: ignore[no-untyped-def]
    return client.post(HOOKS, json=body, headers=bearer(key))


def test_create_shows_the_secret_once_and_list_never(client: TestClient, keys: Keys) -> None:
    created = _create(client, keys.acme, {"url": PUBLIC, "events": ["export.failed"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"id", "url", "events", "created_at", "secret"}
    assert (body["url"], body["events"]) == (PUBLIC, ["export.failed"])
    assert body["secret"].startswith("whsec_")
    assert dt.datetime.fromisoformat(body["created_at"]).tzinfo == dt.UTC
    assert created.headers["X-RateLimit-Limit"] == "5"
    listed = client.get(HOOKS, headers=bearer(keys.acme))
    assert listed.status_code == 200
    assert listed.json() == {"data": [{k: v for k, v in body.items() if k != "secret"}]}
    assert body["secret"] not in listed.text
    assert listed.headers["X-RateLimit-Limit"] == "30"


def test_events_default_to_all(client: TestClient, keys: Keys) -> None:
    assert _create(client, keys.acme, {"url": PUBLIC}).json()["events"] == ALL_EVENTS


def test_delete_then_gone(client: TestClient, keys: Keys) -> None:
    endpoint_id = _create(client, keys.acme, {"url": PUBLIC}).json()["id"]
    deleted = client.delete(f"{HOOKS}/{endpoint_id}", headers=bearer(keys.acme))
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "X-RateLimit-Remaining" in deleted.headers
    assert client.get(HOOKS, headers=bearer(keys.acme)).json() == {"data": []}
    again = client.delete(f"{HOOKS}/{endpoint_id}", headers=bearer(keys.acme))
    assert again.status_code == 404
    assert again.json() == {"message": f"Webhook endpoint {endpoint_id} not found."}


def test_another_spaces_endpoint_is_404_and_never_listed(client: TestClient, keys: Keys) -> None:
    theirs = _create(client, keys.other, {"url": PUBLIC}).json()["id"]
    assert client.get(HOOKS, headers=bearer(keys.acme)).json() == {"data": []}
    response = client.delete(f"{HOOKS}/{theirs}", headers=bearer(keys.acme))
    assert response.status_code == 404
    unknown = client.delete(f"{HOOKS}/{theirs + 1000}", headers=bearer(keys.acme))
    assert unknown.status_code == 404
    assert response.json()["message"].replace(str(theirs), "") == unknown.json()["message"].replace(
        str(theirs + 1000), ""
    )
    assert [e["id"] for e in client.get(HOOKS, headers=bearer(keys.other)).json()["data"]] == [
        theirs
    ]


@pytest.mark.parametrize("endpoint_id", ["abc", "1.0", "1e3"])
def test_an_id_not_in_digits_is_422_naming_it(
    client: TestClient, keys: Keys, endpoint_id: str
) -> None:
    response = client.delete(f"{HOOKS}/{endpoint_id}", headers=bearer(keys.acme))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "endpoint_id"


@pytest.mark.parametrize("endpoint_id", ["0", "-1", str(2**63)])
def test_an_id_out_of_range_is_404(client: TestClient, keys: Keys, endpoint_id: str) -> None:
    assert client.delete(f"{HOOKS}/{endpoint_id}", headers=bearer(keys.acme)).status_code == 404


def test_at_most_ten_per_space(dev_client: TestClient, keys: Keys) -> None:
    ids = []
    for n in range(10):
        response = _create(dev_client, keys.acme, {"url": f"{PUBLIC}/{n}"})
        assert response.status_code == 201
        ids.append(response.json()["id"])
    eleventh = _create(dev_client, keys.acme, {"url": PUBLIC})
    assert eleventh.status_code == 409
    assert "10 webhook endpoints" in eleventh.json()["message"]
    # Another space has its own ten.
    assert _create(dev_client, keys.other, {"url": PUBLIC}).status_code == 201
    assert dev_client.delete(f"{HOOKS}/{ids[0]}", headers=bearer(keys.acme)).status_code == 204
    assert _create(dev_client, keys.acme, {"url": PUBLIC}).status_code == 201


INVALID = [
    ({}, "url", "field required"),
    ({"url": None}, "url", "must not be null"),
    ({"url": 5}, "url", "must be a string"),
    ({"url": "http://8.8.8.8/hook"}, "url", "https"),
    ({"url": "https://127.0.0.1/hook"}, "url", "loopback"),
    ({"url": "https://localhost/hook"}, "url", "loopback"),
    ({"url": "https://[::1]/hook"}, "url", "loopback"),
    ({"url": "https://10.0.0.1/hook"}, "url", "private"),
    ({"url": "https://192.168.0.10/hook"}, "url", "private"),
    ({"url": "https://169.254.10.10/hook"}, "url", "link-local"),
    ({"url": "https://169.254.169.254/latest"}, "url", "metadata"),
    ({"url": "https://[::ffff:127.0.0.1]/hook"}, "url", "loopback"),
    ({"url": "https://no-such-host.invalid/hook"}, "url", "does not resolve"),
    ({"url": "not-a-url"}, "url", "must be an https:// URL"),
    ({"url": "https://8.8.8.8/a b"}, "url", "spaces"),
    ({"url": PUBLIC, "events": []}, "events", "at least one"),
    ({"url": PUBLIC, "events": None}, "events", "must not be null"),
    ({"url": PUBLIC, "events": "export.completed"}, "events", "list"),
    ({"url": PUBLIC, "events": ["export.done"]}, "events.0", "unknown event type"),
    ({"url": PUBLIC, "events": ["export.failed", 3]}, "events.1", "must be a string"),
    ({"url": PUBLIC, "events": ["export.failed", "export.failed"]}, "events.1", "repeats"),
    ({"url": PUBLIC, "secret": "whsec_mine"}, "secret", "unknown field"),
    ([PUBLIC], "body", "JSON object"),
]


@pytest.mark.parametrize(("body", "field", "rule"), INVALID)
def test_invalid_bodies_are_422_naming_the_field(
    client: TestClient, keys: Keys, body: object, field: str, rule: str
) -> None:
    response = _create(client, keys.acme, body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert rule in errors[0]["message"]
    assert response.json()["message"].startswith("Invalid webhook endpoint: ")


@pytest.mark.parametrize("raw", [b"", b"{", b"null"])
def test_a_body_that_is_no_json_object_is_422(client: TestClient, keys: Keys, raw: bytes) -> None:
    response = client.post(HOOKS, content=raw, headers=bearer(keys.acme))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body"


def test_every_broken_rule_is_listed_at_once(client: TestClient, keys: Keys) -> None:
    response = _create(client, keys.acme, {"url": None, "events": [], "extra": 1})
    assert {e["field"] for e in response.json()["errors"]} == {"url", "events", "extra"}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/hook", "https://localhost/hook", "http://10.0.0.1/hook"]
)
def test_the_dev_flag_allows_http_and_private_addresses(
    dev_client: TestClient, keys: Keys, url: str
) -> None:
    assert _create(dev_client, keys.acme, {"url": url}).status_code == 201


@pytest.mark.parametrize(
    ("key", "status"),
    [("missing", 401), ("acme_revoked", 401), ("acme_no_export", 403), ("lapsed", 403)],
)
@pytest.mark.parametrize("method", ["post", "get", "delete"])
def test_same_auth_and_permissions_as_exports(
    client: TestClient, keys: Keys, key: str, status: int, method: str
) -> None:
    headers = {} if key == "missing" else bearer(getattr(keys, key))
    path = f"{HOOKS}/1" if method == "delete" else HOOKS
    kwargs = {"json": {"url": PUBLIC}} if method == "post" else {}
    response = client.request(method.upper(), path, headers=headers, **kwargs)
    assert response.status_code == status


def test_creates_and_deletes_share_the_create_limit(client: TestClient, keys: Keys) -> None:
    for _ in range(4):
        assert _create(client, keys.acme, {"url": PUBLIC}).status_code == 201
    assert (
        client.post(EXPORTS, json={"date": "2024-01-15"}, headers=bearer(keys.acme)).status_code
        == 202
    )
    limited = client.delete(f"{HOOKS}/1", headers=bearer(keys.acme))
    assert limited.status_code == 429
    assert "Retry-After" in limited.headers


def _export_payload(engine: sa.Engine, export_id: int) -> dict:
    with engine.connect() as conn:
        [payload] = conn.execute(
            sa.select(webhook_deliveries.c.payload).where(
                webhook_deliveries.c.export_id == export_id
            )
        ).scalars()
    return json.loads(payload)


def test_the_webhook_data_is_the_status_answer_without_the_url(
    client: TestClient,
    keys: Keys,
    store_engine: sa.Engine,
    storage: LocalExportStorage,
    tmp_path: Path,
) -> None:
    assert _create(client, keys.acme, {"url": PUBLIC}).status_code == 201
    stored = completed_export(store_engine, storage, tmp_path)
    with store_engine.begin() as conn:
        failed = create_export(
            conn, space_id="acme", request=ExportRequest(date=dt.date(2024, 1, 15)), trigger="api"
        )
        mark_processing(conn, failed, run_id="run-2")
        mark_failed(conn, failed, message="The export failed because the store was down.")
    for export_id in (stored.export_id, failed):
        status = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme)).json()
        expected = {k: v for k, v in status.items() if k not in ("download_url", "expires_at")}
        payload = _export_payload(store_engine, export_id)
        assert payload["data"] == expected
        assert payload["type"] == f"export.{status['status']}"


def test_a_refused_url_is_one_error_naming_the_rule_never_the_resolved_address(
    client: TestClient, keys: Keys
) -> None:
    response = _create(client, keys.acme, {"url": "https://localhost/hook"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "url", "message": "must not point at a loopback address: localhost"}
    ]
    assert "127.0.0.1" not in response.text and "::1" not in response.text

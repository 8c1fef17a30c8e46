"""SPEC 6.2 list (newest first, cursor, filters, own space only) and 6.3 cancel (200/409/404)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.store.exports import (
    CANCELLED_MESSAGE,
    create_export,
    mark_cancelled,
    mark_expired,
    mark_failed,
    mark_processing,
)
from exports_pipeline_tests.support.api import (
    EXPORTS,
    Keys,
    StoredFile,
    bearer,
    completed_export,
    make_settings,
)


def _queued(engine: sa.Engine, space_id: str, date: dt.date = dt.date(2024, 1, 15)) -> int:
    with engine.begin() as conn:
        return create_export(
            conn, space_id=space_id, request=ExportRequest(date=date), trigger="api"
        )


@pytest.fixture
def roomy(store_url: str, tmp_path: Path, keys: Keys):  # type: ignore[no-untyped-def]
    """A client whose limits no test here reaches."""
    settings = make_settings(
        store_url,
        tmp_path / "home",
        rate_limit_status_per_minute=10_000,
        rate_limit_create_per_minute=10_000,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _list(client: TestClient, key: str, **params: object):  # type: ignore[no-untyped-def]
    return client.get(EXPORTS, params=params, headers=bearer(key))


def test_pagination_walks_45_exports_newest_first(
    roomy: TestClient, keys: Keys, store_engine: sa.Engine
) -> None:
    ids = []
    for n in range(45):
        ids.append(_queued(store_engine, "acme"))
        if n % 3 == 0:
            _queued(store_engine, "other")  # interleaved: never listed for acme
    pages, after = [], None
    while True:
        response = _list(roomy, keys.acme, limit=20, **({"starting_after": after} if after else {}))
        assert response.status_code == 200
        body = response.json()
        pages.append([item["export_id"] for item in body["data"]])
        if not body["has_more"]:
            break
        after = body["data"][-1]["export_id"]
    assert [len(p) for p in pages] == [20, 20, 5]
    assert [i for p in pages for i in p] == sorted(ids, reverse=True)
    # The default limit is 20.
    assert len(_list(roomy, keys.acme).json()["data"]) == 20


def test_items_are_status_objects_without_download_url(
    roomy: TestClient,
    keys: Keys,
    store_engine: sa.Engine,
    storage: LocalExportStorage,
    tmp_path: Path,
) -> None:
    stored = completed_export(store_engine, storage, tmp_path)
    queued = _queued(store_engine, "acme")
    data = _list(roomy, keys.acme).json()["data"]
    assert [d["export_id"] for d in data] == [queued, stored.export_id]
    assert data[0] == {
        "export_id": queued,
        "status": "queued",
        "created_at": data[0]["created_at"],
        "message": "Your export is queued and will start shortly.",
    }
    assert set(data[1]) == {
        "export_id",
        "status",
        "created_at",
        "completed_at",
        "row_count",
        "file_size_bytes",
        "sha256",
    }
    assert data[1]["sha256"] == stored.sha256 and data[1]["created_at"].endswith("Z")


def test_filters_by_status_and_date(roomy: TestClient, keys: Keys, store_engine: sa.Engine) -> None:
    day, other_day = dt.date(2024, 1, 15), dt.date(2024, 1, 16)
    a = _queued(store_engine, "acme", day)
    b = _queued(store_engine, "acme", other_day)
    c = _queued(store_engine, "acme", day)
    d = _queued(store_engine, "acme", day)
    with store_engine.begin() as conn:
        mark_failed(conn, a, message="broken")
        mark_cancelled(conn, c)
        mark_processing(conn, d, run_id="r")
    cases = {
        (("status", "failed"),): [a],
        (("status", "cancelled"),): [c],
        (("status", "processing"),): [d],
        (("status", "expired"),): [],
        (("date", "2024-01-15"),): [d, c, a],
        (("date", "2024-01-16"),): [b],
        (("date", "2024-01-15"), ("status", "cancelled")): [c],
        (("date", "2024-01-15"), ("starting_after", c)): [a],
    }
    for params, expected in cases.items():
        response = _list(roomy, keys.acme, **dict(params))
        assert [i["export_id"] for i in response.json()["data"]] == expected, params


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"starting_after": "abc"}, "starting_after"),
        ({"starting_after": "0"}, "starting_after"),
        ({"starting_after": "999999"}, "starting_after"),
        ({"status": "done"}, "status"),
        ({"status": "COMPLETED"}, "status"),
        ({"date": "2024-02-30"}, "date"),
        ({"date": "2024-1-5"}, "date"),
        ({"page": "2"}, "page"),
        ({"limit": ["5", "6"]}, "limit"),
    ],
)
def test_bad_parameters_are_422_naming_them(
    roomy: TestClient, keys: Keys, params: dict, field: str
) -> None:
    response = _list(roomy, keys.acme, **params)
    assert response.status_code == 422
    assert field in response.json()["message"]
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_another_spaces_export_is_no_cursor(
    roomy: TestClient, keys: Keys, store_engine: sa.Engine
) -> None:
    theirs = _queued(store_engine, "other")
    response = _list(roomy, keys.acme, starting_after=theirs)
    assert response.status_code == 422 and "starting_after" in response.json()["message"]
    assert _list(roomy, keys.other, starting_after=theirs).json() == {"data": [], "has_more": False}


def test_list_shares_the_status_limit(client: TestClient, keys: Keys) -> None:
    first = _list(client, keys.acme)
    assert first.headers["X-RateLimit-Limit"] == "30"
    assert (
        client.get(f"{EXPORTS}/1", headers=bearer(keys.acme)).headers["X-RateLimit-Remaining"]
        == "28"
    )
    assert _list(client, keys.acme_no_export).status_code == 403
    assert _list(client, keys.acme_revoked).status_code == 401


def test_openapi_documents_the_list(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][EXPORTS]["get"]
    assert {p["name"] for p in operation["parameters"]} == {
        "limit",
        "starting_after",
        "status",
        "date",
    }
    assert (
        "cancelled"
        in next(p for p in operation["parameters"] if p["name"] == "status")["schema"]["enum"]
    )


def _cancel(client: TestClient, key: str, export_id: object):  # type: ignore[no-untyped-def]
    return client.post(f"{EXPORTS}/{export_id}/cancel", headers=bearer(key))


@pytest.mark.parametrize("state", ["queued", "processing"])
def test_a_queued_or_processing_export_is_cancelled(
    client: TestClient, keys: Keys, store_engine: sa.Engine, state: str
) -> None:
    export_id = _queued(store_engine, "acme")
    if state == "processing":
        with store_engine.begin() as conn:
            mark_processing(conn, export_id, run_id="r")
    response = _cancel(client, keys.acme, export_id)
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "export_id": export_id,
        "status": "cancelled",
        "created_at": body["created_at"],
        "message": CANCELLED_MESSAGE,
    }
    # It counts against the create limit.
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"
    status = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme)).json()
    assert status == body


@pytest.mark.parametrize("state", ["completed", "failed", "cancelled", "expired"])
def test_a_settled_export_is_409(
    client: TestClient,
    keys: Keys,
    store_engine: sa.Engine,
    stored: StoredFile,
    state: str,
) -> None:
    export_id = stored.export_id
    with store_engine.begin() as conn:
        if state == "expired":
            mark_expired(conn, export_id, storage_key=stored.key)
        elif state != "completed":
            export_id = create_export(
                conn,
                space_id="acme",
                request=ExportRequest(date=dt.date(2024, 1, 15)),
                trigger="api",
            )
            if state == "failed":
                mark_failed(conn, export_id, message="broken")
            else:
                mark_cancelled(conn, export_id)
    response = _cancel(client, keys.acme, export_id)
    assert response.status_code == 409
    assert state in response.json()["message"] and "cancel" in response.json()["message"]
    assert client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme)).json()["status"] == state


@pytest.mark.parametrize("target", ["unknown", "other space", "too large"])
def test_cancel_of_an_export_not_in_the_space_is_404(
    client: TestClient, keys: Keys, store_engine: sa.Engine, target: str
) -> None:
    theirs = _queued(store_engine, "other")
    export_id = {"unknown": 987654, "other space": theirs, "too large": 2**63}[target]
    response = _cancel(client, keys.acme, export_id)
    assert response.status_code == 404
    assert response.json() == {"message": f"Export {export_id} not found."}
    assert _cancel(client, keys.other, theirs).status_code == 200


def test_cancel_needs_the_export_permission_and_a_numeric_id(
    client: TestClient, keys: Keys
) -> None:
    assert _cancel(client, keys.acme_no_export, 1).status_code == 403
    assert _cancel(client, keys.acme_revoked, 1).status_code == 401
    assert _cancel(client, keys.acme, "abc").status_code == 422

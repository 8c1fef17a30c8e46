"""SPEC 2.2: the status object per state; a completed export gets a fresh 15-minute URL per call."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib

import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.settings import Settings
from exports_pipeline.store.exports import (
    QUEUED_MESSAGE,
    create_export,
    mark_failed,
    mark_processing,
)
from exports_pipeline_tests.support.api import EXPORTS, Keys, StoredFile, bearer

CREATED = dt.datetime(2024, 6, 15, 8, 30, 5, 123456)
NOW = dt.datetime(2024, 6, 15, 12, 0, 0, tzinfo=dt.UTC)


def _export(engine: sa.Engine, **transition: str) -> int:
    with engine.begin() as conn:
        export_id = create_export(
            conn,
            space_id="acme",
            request=ExportRequest(date=dt.date(2024, 1, 15)),
            trigger="api",
            now=CREATED,
        )
        if "processing" in transition or "failed" in transition:
            mark_processing(conn, export_id, run_id="run-1")
        if "failed" in transition:
            mark_failed(conn, export_id, message=transition["failed"])
    return export_id


def test_queued(client: TestClient, keys: Keys, store_engine: sa.Engine) -> None:
    export_id = _export(store_engine)
    response = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme))
    assert response.status_code == 200
    assert response.json() == {
        "export_id": export_id,
        "status": "queued",
        "created_at": "2024-06-15T08:30:05Z",
        "message": QUEUED_MESSAGE,
    }


def test_processing(client: TestClient, keys: Keys, store_engine: sa.Engine) -> None:
    export_id = _export(store_engine, processing="yes")
    body = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme)).json()
    assert body["status"] == "processing"
    assert set(body) == {"export_id", "status", "created_at", "message"}


def test_failed_carries_the_user_facing_reason(
    client: TestClient, keys: Keys, store_engine: sa.Engine
) -> None:
    reason = "The export could not be written; please create it again."
    export_id = _export(store_engine, failed=reason)
    body = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme)).json()
    assert body == {
        "export_id": export_id,
        "status": "failed",
        "created_at": "2024-06-15T08:30:05Z",
        "message": reason,
    }


def test_completed_has_a_fresh_url_each_call_and_the_file_facts(
    client: TestClient, keys: Keys, stored: StoredFile
) -> None:
    with time_machine.travel(NOW, tick=False):
        first = client.get(f"{EXPORTS}/{stored.export_id}", headers=bearer(keys.acme)).json()
    with time_machine.travel(NOW + dt.timedelta(seconds=42), tick=False):
        second = client.get(f"{EXPORTS}/{stored.export_id}", headers=bearer(keys.acme)).json()
    assert set(first) == {
        "export_id",
        "status",
        "created_at",
        "download_url",
        "completed_at",
        "expires_at",
        "row_count",
        "file_size_bytes",
        "sha256",
    }
    assert first["status"] == "completed"
    assert first["expires_at"] == "2024-06-15T12:15:00Z"
    assert second["expires_at"] == "2024-06-15T12:15:42Z"
    assert first["download_url"] != second["download_url"]
    assert first["completed_at"].endswith("Z") and first["created_at"].endswith("Z")
    assert first["row_count"] == 1
    assert first["file_size_bytes"] == len(stored.content)
    assert first["sha256"] == stored.sha256
    assert stored.key not in first["download_url"]

    with time_machine.travel(NOW + dt.timedelta(minutes=1), tick=False):
        download = client.get(first["download_url"])
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in download.headers
    assert download.headers["content-disposition"] == (
        f'attachment; filename="events-2024-01-15-{stored.export_id}.ndjson.gz"'
    )
    assert download.content == stored.content
    assert hashlib.sha256(download.content).hexdigest() == first["sha256"]
    assert gzip.decompress(download.content).endswith(b"\n")


def test_an_answer_carrying_a_download_url_may_not_be_cached(
    client: TestClient, keys: Keys, stored: StoredFile
) -> None:
    response = client.get(f"{EXPORTS}/{stored.export_id}", headers=bearer(keys.acme))
    assert "download_url" in response.json()
    assert response.headers["cache-control"] == "no-store"


def test_without_a_public_base_url_the_download_url_is_on_the_url_of_the_request(
    settings: Settings, keys: Keys, stored: StoredFile
) -> None:
    app = create_app(settings.model_copy(update={"public_base_url": None}))
    with TestClient(app, base_url="https://exports.example:9443") as client:
        body = client.get(f"{EXPORTS}/{stored.export_id}", headers=bearer(keys.acme)).json()
        url = body["download_url"]
        assert url.startswith(
            f"https://exports.example:9443{EXPORTS}/{stored.export_id}/download?expires="
        )
        assert client.get(url).content == stored.content

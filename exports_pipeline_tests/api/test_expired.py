"""SPEC 6.4 at the API: an expired export says so without a URL, its downloads are refused
cleanly, a download already under way finishes whole; `exports-pipeline retention run`."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient
from starlette.responses import StreamingResponse

from exports_pipeline.api.routes.downloads import download_export
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.store.exports import EXPIRED_MESSAGE, mark_expired, utcnow
from exports_pipeline.store.retention import run_retention_pass
from exports_pipeline_tests.support.api import EXPORTS, Keys, StoredFile, bearer
from exports_pipeline_tests.support.served import cli_env, run_cli

# Completed "now" by the fixture; 8 days later the default retention (168 h) is over.
LATER = dt.timedelta(days=8)


def _expire(engine: sa.Engine, storage: LocalExportStorage) -> list[int]:
    return run_retention_pass(
        engine, storage, retention=dt.timedelta(hours=168), now=utcnow() + LATER
    ).expired


def _status(client: TestClient, keys: Keys, export_id: int) -> dict:
    response = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme))
    assert response.status_code == 200
    return response.json()


def test_the_status_of_an_expired_export_says_so_without_a_url(
    client: TestClient,
    keys: Keys,
    store_engine: sa.Engine,
    storage: LocalExportStorage,
    stored: StoredFile,
) -> None:
    assert _expire(store_engine, storage) == [stored.export_id]
    body = _status(client, keys, stored.export_id)
    assert body == {
        "export_id": stored.export_id,
        "status": "expired",
        "created_at": body["created_at"],
        "message": EXPIRED_MESSAGE,
    }
    assert not storage.path_of(stored.key).exists()


def test_a_url_minted_before_the_expiry_is_refused_with_a_message(
    client: TestClient,
    keys: Keys,
    store_engine: sa.Engine,
    storage: LocalExportStorage,
    stored: StoredFile,
) -> None:
    url = _status(client, keys, stored.export_id)["download_url"]
    assert client.get(url).content == stored.content
    # Marked expired, the file not yet deleted (the pass's first step): refused already.
    with store_engine.begin() as conn:
        mark_expired(conn, stored.export_id, storage_key=stored.key)
    refused = client.get(url)
    assert (refused.status_code, refused.json()) == (404, {"message": EXPIRED_MESSAGE})
    # The file deleted and forgotten: the URL names nothing downloadable any more (403,
    # like any URL of an export without a file), never a 500 or a partial body.
    _expire(store_engine, storage)
    gone = client.get(url)
    assert gone.status_code == 403 and gone.headers["content-type"] == "application/json"


def test_a_download_under_way_when_the_file_is_deleted_finishes_whole(
    client: TestClient,
    keys: Keys,
    store_engine: sa.Engine,
    storage: LocalExportStorage,
    stored: StoredFile,
    tmp_path: Path,
) -> None:
    # A file of several chunks, so the download is really in flight after the first one.
    big = bytes(range(256)) * (5 * 4096 + 7)
    storage.path_of(stored.key).write_bytes(big)
    url = _status(client, keys, stored.export_id)["download_url"]
    query = dict(p.split("=") for p in url.split("?", 1)[1].split("&"))
    response = download_export(
        str(stored.export_id), store_engine, storage, query["expires"], query["signature"]
    )
    assert isinstance(response, StreamingResponse)
    assert response.headers["content-length"] == str(len(big))

    async def read_while_the_pass_runs() -> bytes:
        chunks = [await anext(response.body_iterator)]  # type: ignore[arg-type]
        assert _expire(store_engine, storage) == [stored.export_id]
        assert not storage.path_of(stored.key).exists()
        chunks.extend([chunk async for chunk in response.body_iterator])  # type: ignore[misc]
        return b"".join(chunks)  # type: ignore[arg-type]

    assert len(big) > 1 << 20
    assert asyncio.run(read_while_the_pass_runs()) == big


def test_the_cli_runs_one_pass_and_says_what_it_did(
    store_url: str,
    tmp_path: Path,
    keys: Keys,
    store_engine: sa.Engine,
    storage: LocalExportStorage,
    stored: StoredFile,
) -> None:
    env = cli_env(
        store_url,
        tmp_path / "home",
        EXPORTS_FILE_RETENTION_HOURS="1",
        EXPORTS_STORAGE_DIR=str(storage.root),
    )
    with store_engine.begin() as conn:
        conn.execute(
            sa.text("update exports set completed_at = :t where id = :i"),
            {
                "t": dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=2),
                "i": stored.export_id,
            },
        )
    result = run_cli(env, "retention", "run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"export {stored.export_id} expired",
        "retention (1 h): 1 exports expired, 1 files deleted, 0 idempotency keys forgotten",
    ]
    assert not storage.path_of(stored.key).exists()
    again = run_cli(env, "retention", "run")
    assert again.stdout.splitlines() == [
        "retention (1 h): 0 exports expired, 0 files deleted, 0 idempotency keys forgotten"
    ]


def test_a_pass_before_retention_changes_nothing(
    client: TestClient,
    keys: Keys,
    store_engine: sa.Engine,
    storage: LocalExportStorage,
    stored: StoredFile,
) -> None:
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(hours=167)):
        assert (
            run_retention_pass(store_engine, storage, retention=dt.timedelta(hours=168)).expired
            == []
        )
    assert _status(client, keys, stored.export_id)["status"] == "completed"

"""SPEC 6.4: a retention pass expires completed exports past retention and deletes their
files (local disk and S3 alike), once, even with two passes at once; old keys are forgotten."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.factory import build_s3_client
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.storage.s3 import S3ExportStorage
from exports_pipeline.store.exports import (
    EXPIRED_MESSAGE,
    create_export,
    get_export,
    mark_completed,
    mark_failed,
    mark_processing,
    utcnow,
)
from exports_pipeline.store.idempotency import find_key, store_key
from exports_pipeline.store.retention import run_retention_pass

RETENTION = dt.timedelta(hours=168)
BUCKET = "retention-test"


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ExportStorage:  # type: ignore[no-untyped-def]
    if request.param == "local":
        return LocalExportStorage(tmp_path / "files", public_base_url=None, signing_secret="s")
    endpoint = request.getfixturevalue("s3_endpoint")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    client = build_s3_client(region="us-east-1", endpoint_url=endpoint)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BUCKET)
    return S3ExportStorage(client, bucket=BUCKET, prefix=f"exports-{tmp_path.name}")


def _completed(
    engine: sa.Engine, storage: ExportStorage, tmp_path: Path, *, age: dt.timedelta
) -> tuple[int, str]:
    local = tmp_path / "file.ndjson.gz"
    local.write_bytes(b"\x1f\x8b fake gzip")
    date = dt.date(2024, 1, 15)
    key = storage.publish(local, space_id="acme", date=date, sha256="0" * 64)
    done = utcnow() - age
    with engine.begin() as conn:
        export_id = create_export(
            conn, space_id="acme", request=ExportRequest(date=date), trigger="api", now=done
        )
        mark_processing(conn, export_id, run_id="r", now=done)
        mark_completed(
            conn,
            export_id,
            storage_key=key,
            row_count=1,
            file_size_bytes=14,
            sha256="0" * 64,
            now=done,
        )
    return export_id, key


def _record(engine: sa.Engine, export_id: int):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return get_export(conn, export_id)


def test_a_pass_expires_old_files_and_keeps_young_ones(
    store_engine: sa.Engine, storage: ExportStorage, tmp_path: Path
) -> None:
    old, old_key = _completed(
        store_engine, storage, tmp_path, age=RETENTION + dt.timedelta(hours=1)
    )
    older, older_key = _completed(store_engine, storage, tmp_path, age=RETENTION * 3)
    young, young_key = _completed(
        store_engine, storage, tmp_path, age=RETENTION - dt.timedelta(minutes=1)
    )
    with store_engine.begin() as conn:
        failed = create_export(
            conn,
            space_id="acme",
            request=ExportRequest(date=dt.date(2024, 1, 1)),
            trigger="api",
            now=utcnow() - RETENTION * 2,
        )
        mark_failed(conn, failed, message="broken", now=utcnow() - RETENTION * 2)

    done = run_retention_pass(store_engine, storage, retention=RETENTION)

    assert sorted(done.expired) == sorted(done.files_deleted) == sorted([old, older])
    for export_id, key in ((old, old_key), (older, older_key)):
        record = _record(store_engine, export_id)
        assert (record.status, record.message, record.storage_key) == (
            "expired",
            EXPIRED_MESSAGE,
            None,
        )
        assert not storage.exists(key)
    assert _record(store_engine, young).status == "completed" and storage.exists(young_key)
    assert _record(store_engine, failed).status == "failed"
    again = run_retention_pass(store_engine, storage, retention=RETENTION)
    assert (again.expired, again.files_deleted) == ([], [])


def test_two_passes_at_once_expire_each_export_once(
    store_engine: sa.Engine, storage: ExportStorage, tmp_path: Path
) -> None:
    made = [
        _completed(store_engine, storage, tmp_path, age=RETENTION + dt.timedelta(hours=n + 1))
        for n in range(12)
    ]
    start = threading.Barrier(2)
    results, errors = [], []

    def one_pass() -> None:
        try:
            start.wait()
            results.append(run_retention_pass(store_engine, storage, retention=RETENTION))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expired = [i for r in results for i in r.expired]
    assert sorted(expired) == sorted(i for i, _ in made)  # each once, by one of the passes
    assert sorted(i for r in results for i in r.files_deleted) == sorted(i for i, _ in made)
    assert not any(storage.exists(key) for _, key in made)
    assert {_record(store_engine, i).status for i, _ in made} == {"expired"}


class _FailsOnce:
    """A storage whose first deletion fails (the store or bucket went away mid-pass)."""

    def __init__(self, storage: ExportStorage) -> None:
        self.storage, self.failed = storage, False

    def delete_keys(self, keys: Iterable[str]) -> None:
        if not self.failed:
            self.failed = True
            raise OSError("storage unavailable")
        self.storage.delete_keys(keys)


def test_an_interrupted_deletion_is_finished_by_the_next_pass(
    store_engine: sa.Engine, storage: ExportStorage, tmp_path: Path
) -> None:
    export_id, key = _completed(store_engine, storage, tmp_path, age=RETENTION * 2)
    with pytest.raises(OSError):
        run_retention_pass(store_engine, _FailsOnce(storage), retention=RETENTION)
    # Expired first: no status hands out a URL to a file about to go.
    record = _record(store_engine, export_id)
    assert (record.status, record.storage_key) == ("expired", key)
    assert storage.exists(key)
    done = run_retention_pass(store_engine, storage, retention=RETENTION)
    assert (done.expired, done.files_deleted) == ([], [export_id])
    assert not storage.exists(key) and _record(store_engine, export_id).storage_key is None


@pytest.mark.parametrize("storage", ["local"], indirect=True)
def test_a_pass_forgets_idempotency_keys_older_than_24_hours(
    store_engine: sa.Engine, storage: ExportStorage
) -> None:
    now = utcnow()
    with store_engine.begin() as conn:
        for key, age in (("old", dt.timedelta(hours=24)), ("new", dt.timedelta(hours=23))):
            store_key(conn, space_id="acme", key=key, request_hash="h", export_id=1, now=now - age)
    done = run_retention_pass(store_engine, storage, retention=RETENTION, now=now)
    assert done.keys_forgotten == 1
    with store_engine.connect() as conn:
        assert find_key(conn, space_id="acme", key="new", now=now) is not None
        assert conn.execute(sa.text("select key from idempotency_keys")).scalars().all() == ["new"]


@pytest.mark.parametrize("storage", ["s3"], indirect=True)
def test_an_s3_download_under_way_finishes_and_later_ones_are_refused(
    store_engine: sa.Engine, storage: S3ExportStorage, tmp_path: Path
) -> None:
    export_id, key = _completed(store_engine, storage, tmp_path, age=RETENTION * 2)
    content = bytes(range(256)) * 8192  # 2 MiB
    (tmp_path / "big.gz").write_bytes(content)
    storage.client.upload_file(str(tmp_path / "big.gz"), storage.bucket, key)
    url = storage.download_url(
        key, export_id=export_id, date=dt.date(2024, 1, 15), expires_in_seconds=900
    )
    with httpx.stream("GET", url) as response:
        assert response.status_code == 200
        chunks = response.iter_bytes(64 * 1024)
        first = next(chunks)
        assert run_retention_pass(store_engine, storage, retention=RETENTION).expired == [export_id]
        assert first + b"".join(chunks) == content
    # The object is gone: S3 refuses the URL (404 NoSuchKey, or 403 when the signer may not
    # list the bucket; moto answers 403), never with any of the file.
    later = httpx.get(url)
    assert later.status_code in (403, 404) and content[:4096] not in later.content

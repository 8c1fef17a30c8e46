"""API exports in every format, in one file or in parts, run through the job: the status
lists every file, each URL downloads it with its name and type, and the rows are the NDJSON
export's (SPEC 2.2, 2.3, 6.6), on local storage and on S3."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, RunConfig, mem_io_manager
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.engine.export import run_export
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import (
    ExportStorageResource,
    LocalStorageResource,
    S3StorageResource,
    StoreResource,
)
from exports_pipeline.settings import Settings
from exports_pipeline.store.exports import get_export
from exports_pipeline.store.keys import create_key
from exports_pipeline_tests.support.api import EXPORTS, SIGNING_SECRET, bearer, make_settings
from exports_pipeline_tests.support.delivery import ndjson_text_rows, text_rows
from exports_pipeline_tests.support.faults import fault_proxy
from exports_pipeline_tests.support.s3 import BUCKET
from exports_pipeline_tests.support.stores import random_store

DATE = "2024-05-01"
SPACE = "space-1"
TIMEZONE = "America/New_York"
REQUEST = {
    "sources": ["google_ads", "email", "direct"],
    "attribution_model": "linear",
    "attribution_window": 30,
    "fields": ["amount", "is_upsell", "order_name", "event_url", "ad_name", "campaign_name"],
}
EXTENSIONS = {"ndjson": ".ndjson.gz", "csv": ".csv.gz", "parquet": ".parquet"}
TYPES = {
    "ndjson": "application/gzip",
    "csv": "application/gzip",
    "parquet": "application/vnd.apache.parquet",
}
MODES = [
    pytest.param(fmt, parts, id=f"{fmt}-{'parts' if parts else 'one file'}")
    for parts in (None, 1_000)
    for fmt in ("ndjson", "csv", "parquet")
]

Download = Callable[[str], httpx.Response]


@pytest.fixture
def big_store(store_engine: sa.Engine, store_url: str) -> StoreResource:
    """A random store whose export of REQUEST has over 2,000 rows (3 parts of 1,000)."""
    random_store(
        store_engine, seed=31, events=13_000, date=parse_export_request({"date": DATE}).date
    )
    store_engine.dispose()
    return StoreResource(database_url=store_url)


@pytest.fixture
def api_key(big_store: StoreResource) -> str:
    with big_store.engine.begin() as conn:
        return create_key(conn, space_id=SPACE)


@pytest.fixture
def reference(big_store: StoreResource, tmp_path: Path) -> bytes:
    """The NDJSON export of REQUEST written by the engine alone: the rows every format has."""
    request = parse_export_request({"date": DATE, **REQUEST})
    path = tmp_path / "reference.ndjson.gz"
    run_export(big_store.engine, space_id=SPACE, timezone=TIMEZONE, request=request, path=path)
    return path.read_bytes()


def _local(files_root: Path) -> LocalStorageResource:
    return LocalStorageResource(
        storage_dir=str(files_root),
        public_base_url="http://testserver",
        signing_secret=SIGNING_SECRET,
    )


def _s3(endpoint: str, **fields: Any) -> S3StorageResource:
    return S3StorageResource(
        s3_bucket=BUCKET,
        s3_region="us-east-1",
        s3_endpoint_url=endpoint,
        **fields,
    )


def _run(
    store: StoreResource,
    storage: ExportStorageResource,
    instance: DagsterInstance,
    export_id: int,
    *,
    succeed: bool = True,
) -> None:
    result = event_export_job.execute_in_process(
        partition_key=DATE,
        run_config=RunConfig(ops={"validate_request": ExportRequestConfig(export_id=export_id)}),
        resources={"store": store, "export_storage": storage, "io_manager": mem_io_manager},
        instance=instance,
        raise_on_error=False,
    )
    assert result.success is succeed


def _export(
    settings: Settings, api_key: str, body: dict[str, Any], run: Callable[[int], None]
) -> dict[str, Any]:
    """Create the export through the API, run its job, and return its status object.

    The API is stopped while the job runs: on SQLite, one process must not keep a pooled
    connection open while the engine's ADBC reader closes the file (docs/pipeline.md)."""
    with TestClient(create_app(settings)) as client:
        created = client.post(EXPORTS, json={"date": DATE, **body}, headers=bearer(api_key))
    assert created.status_code == 202, created.text
    export_id = created.json()["export_id"]
    run(export_id)
    with TestClient(create_app(settings)) as client:
        status = client.get(f"{EXPORTS}/{export_id}", headers=bearer(api_key))
    assert status.status_code == 200, status.text
    return status.json()


def _disposition(response: httpx.Response) -> str:
    found = re.fullmatch(r'attachment; filename="([^"]+)"', response.headers["content-disposition"])
    assert found, response.headers["content-disposition"]
    return found.group(1)


def _check_delivery(
    status: dict[str, Any],
    fmt: str,
    parts: int | None,
    reference: bytes,
    download: Download,
    tmp_path: Path,
) -> None:
    """Every URL of a completed status downloads its file, named and typed for `fmt`, and the
    files hold exactly the rows of the NDJSON `reference`, in order."""
    expected = ndjson_text_rows(reference)
    assert len(expected) > 2_000
    assert status["status"] == "completed" and status["row_count"] == len(expected)
    base = f"events-{DATE}-{status['export_id']}"
    if parts is None:
        assert "files" not in status and "manifest_url" not in status
        response = download(status["download_url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == TYPES[fmt]
        assert "content-encoding" not in response.headers
        assert _disposition(response) == base + EXTENSIONS[fmt]
        assert hashlib.sha256(response.content).hexdigest() == status["sha256"]
        assert len(response.content) == status["file_size_bytes"]
        assert text_rows(fmt, response.content) == expected
        if fmt == "ndjson":
            assert response.content == reference  # SPEC 2: the same bytes as before formats
        return
    files = status["files"]
    assert [f["part"] for f in files] == list(range(1, len(files) + 1)) and len(files) >= 3
    assert [f["row_count"] for f in files[:-1]] == [parts] * (len(files) - 1)
    assert 0 < files[-1]["row_count"] <= parts
    assert sum(f["row_count"] for f in files) == status["row_count"]
    assert sum(f["file_size_bytes"] for f in files) == status["file_size_bytes"]
    rows, paths = [], []
    for entry in files:
        response = download(entry["download_url"])
        assert response.status_code == 200
        assert response.headers["content-type"] == TYPES[fmt]
        assert _disposition(response) == f"{base}-part-{entry['part']:05d}{EXTENSIONS[fmt]}"
        assert hashlib.sha256(response.content).hexdigest() == entry["sha256"]
        assert len(response.content) == entry["file_size_bytes"]
        rows.extend(text_rows(fmt, response.content))
        paths.append(tmp_path / f"part-{entry['part']}{EXTENSIONS[fmt]}")
        paths[-1].write_bytes(response.content)
    assert rows == expected
    manifest_response = download(status["manifest_url"])
    assert manifest_response.status_code == 200
    assert manifest_response.headers["content-type"].split(";")[0] == "application/json"
    assert _disposition(manifest_response) == f"{base}-manifest.json"
    assert download(status["download_url"]).content == manifest_response.content
    assert hashlib.sha256(manifest_response.content).hexdigest() == status["sha256"]
    manifest = manifest_response.json()
    assert (manifest["export_id"], manifest["format"]) == (status["export_id"], fmt)
    assert manifest["request"] == {
        "date": DATE,
        "query_mode": "profile",
        **REQUEST,
        "format": fmt,
        "max_rows_per_file": parts,
    }
    assert (manifest["row_count"], manifest["file_size_bytes"]) == (
        status["row_count"],
        status["file_size_bytes"],
    )
    # The manifest's checksums are those of the downloaded parts.
    assert [
        (p["part"], p["row_count"], p["file_size_bytes"], p["sha256"]) for p in manifest["parts"]
    ] == [
        (
            i + 1,
            len(text_rows(fmt, path.read_bytes())),
            path.stat().st_size,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for i, path in enumerate(paths)
    ]
    assert [p["file_name"] for p in manifest["parts"]] == [
        f"part-{i:05d}{EXTENSIONS[fmt]}" for i in range(1, len(paths) + 1)
    ]
    # DuckDB reads the parts together as one table of the export's rows.
    reader = {
        "ndjson": "read_ndjson",
        "csv": "read_csv",
        "parquet": "read_parquet",
    }[fmt]
    listed = ", ".join(f"'{p}'" for p in paths)
    with duckdb.connect() as conn:
        [(count, ids)] = conn.sql(f"SELECT count(*), sum(id) FROM {reader}([{listed}])").fetchall()
    assert count == len(expected)
    assert ids == sum(int(r["id"]) for r in expected)


@pytest.mark.parametrize(("fmt", "parts"), MODES)
def test_local_storage_delivers_every_file_of_the_export(
    big_store, api_key, reference, store_url, instance, tmp_path, fmt, parts
):
    files_root = tmp_path / "files"
    storage = _local(files_root)
    settings = make_settings(store_url, tmp_path / "home", storage_dir=files_root)
    body = {**REQUEST, "format": fmt} | ({"max_rows_per_file": parts} if parts else {})
    status = _export(
        settings, api_key, body, lambda export_id: _run(big_store, storage, instance, export_id)
    )
    with TestClient(create_app(settings)) as client:
        _check_delivery(status, fmt, parts, reference, client.get, tmp_path)
    with big_store.engine.connect() as conn:
        record = get_export(conn, status["export_id"])
    assert record is not None and record.format == fmt
    stored = sorted(str(p.relative_to(files_root)) for p in files_root.rglob("*") if p.is_file())
    assert stored == sorted(record.file_keys)
    if parts:
        folder = record.storage_key.rsplit("/", 1)[0]
        assert re.fullmatch(rf"{SPACE}/{DATE}/[0-9a-f-]{{36}}", folder)
        assert record.storage_key == f"{folder}/manifest.json"
        assert [f.key for f in record.files or ()] == [
            f"{folder}/part-{i:05d}{EXTENSIONS[fmt]}" for i in range(1, len(record.files or ()) + 1)
        ]
    else:
        assert re.fullmatch(
            rf"{SPACE}/{DATE}/[0-9a-f-]{{36}}{re.escape(EXTENSIONS[fmt])}", record.storage_key
        )
        assert record.files is None
    # Retention deletes every object of the export through the storage.
    storage.get_storage().delete_export_files(record)
    assert [p for p in files_root.rglob("*") if p.is_file()] == []
    assert (
        not (files_root / SPACE / DATE).exists()
        or list((files_root / SPACE / DATE).iterdir()) == []
    )


def _s3_settings(store_url: str, home: Path, endpoint: str):
    return make_settings(
        store_url,
        home,
        storage="s3",
        s3_bucket=BUCKET,
        s3_region="us-east-1",
        s3_endpoint_url=endpoint,
    )


def _bucket_keys(s3_client: Any) -> list[str]:
    listed = s3_client.list_objects_v2(Bucket=BUCKET, Prefix=f"exports/{SPACE}/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture
def empty_bucket(s3_client: Any) -> Iterator[Any]:
    for key in _bucket_keys(s3_client):
        s3_client.delete_object(Bucket=BUCKET, Key=key)
    yield s3_client


@pytest.mark.parametrize(("fmt", "parts"), MODES)
def test_s3_delivers_every_file_of_the_export(
    big_store,
    api_key,
    reference,
    store_url,
    instance,
    tmp_path,
    s3_endpoint,
    empty_bucket,
    fmt,
    parts,
):
    storage = _s3(s3_endpoint)
    body = {**REQUEST, "format": fmt} | ({"max_rows_per_file": parts} if parts else {})
    settings = _s3_settings(store_url, tmp_path / "home", s3_endpoint)
    status = _export(
        settings, api_key, body, lambda export_id: _run(big_store, storage, instance, export_id)
    )
    assert status["download_url"].startswith(f"{s3_endpoint}/{BUCKET}/exports/{SPACE}/{DATE}/")
    _check_delivery(status, fmt, parts, reference, httpx.get, tmp_path)
    with big_store.engine.connect() as conn:
        record = get_export(conn, status["export_id"])
    assert record is not None
    assert _bucket_keys(empty_bucket) == sorted(record.file_keys)
    for key in record.file_keys:
        head = empty_bucket.head_object(Bucket=BUCKET, Key=key)
        want = "application/json" if key.endswith("/manifest.json") else TYPES[fmt]
        assert head["ContentType"] == want
    storage.get_storage().delete_export_files(record)
    assert _bucket_keys(empty_bucket) == []


def test_s3_failing_on_part_2_leaves_no_part_and_no_manifest_and_the_export_failed(
    big_store, api_key, store_url, instance, tmp_path, s3_endpoint, empty_bucket
):
    body = {**REQUEST, "format": "csv", "max_rows_per_file": 1_000}
    with fault_proxy(s3_endpoint) as proxy:

        def after_part_1() -> None:
            # Every write from the second on fails: part 2 and every retry of the op.
            if proxy.forwarded_writes >= 1:
                proxy.fail_writes = -1

        proxy.on_write = after_part_1
        storage = _s3(proxy.url, s3_max_attempts=1)
        settings = _s3_settings(store_url, tmp_path / "home", s3_endpoint)
        status = _export(
            settings,
            api_key,
            body,
            lambda export_id: _run(big_store, storage, instance, export_id, succeed=False),
        )
        assert proxy.forwarded_writes == 1 and proxy.injected >= 1
    assert status["status"] == "failed" and "files" not in status
    assert "download_url" not in status and status["message"]
    assert _bucket_keys(empty_bucket) == []


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "parquet"])
def test_identical_requests_give_byte_identical_parts(
    big_store, api_key, store_url, instance, tmp_path, fmt
):
    files_root = tmp_path / "files"
    storage = _local(files_root)
    settings = make_settings(store_url, tmp_path / "home", storage_dir=files_root)
    body = {**REQUEST, "format": fmt, "max_rows_per_file": 1_000}
    first, second = (
        _export(
            settings, api_key, body, lambda export_id: _run(big_store, storage, instance, export_id)
        )
        for _ in range(2)
    )
    with TestClient(create_app(settings)) as client:
        manifests = [client.get(s["manifest_url"]).json() for s in (first, second)]
    assert first["export_id"] != second["export_id"]
    assert [f["sha256"] for f in first["files"]] == [f["sha256"] for f in second["files"]]
    # The manifests differ only in what names the export: its id and its objects' keys.
    for manifest in manifests:
        manifest.pop("export_id")
        for part in manifest["parts"]:
            part.pop("key")
    assert manifests[0] == manifests[1]
    contents = {}
    for record_id in (first["export_id"], second["export_id"]):
        with big_store.engine.connect() as conn:
            record = get_export(conn, record_id)
        assert record is not None
        contents[record_id] = [(files_root / k).read_bytes() for k in record.file_keys[:-1]]
    assert contents[first["export_id"]] == contents[second["export_id"]]

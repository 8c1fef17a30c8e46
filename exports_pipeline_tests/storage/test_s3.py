"""S3 storage against moto's real S3 server: atomic publish, metadata, presigned 15-minute GETs."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
import time_machine
from boto3.s3.transfer import TransferConfig
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.settings import Settings
from exports_pipeline.storage.factory import build_s3_client, build_storage
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.storage.s3 import MIB, S3ExportStorage
from exports_pipeline.store.exports import create_export, mark_completed, mark_processing
from exports_pipeline.store.keys import create_key
from exports_pipeline.store.schema import spaces
from exports_pipeline_tests.support.s3 import BUCKET

DATE = dt.date(2024, 1, 15)
KEY_RE = re.compile(r"^exports/acme/2024-01-15/[0-9a-f-]{36}\.ndjson\.gz$")


@pytest.fixture
def storage(s3_client) -> S3ExportStorage:  # type: ignore[no-untyped-def]
    return S3ExportStorage(s3_client, bucket=BUCKET, prefix="exports")


def _file(tmp_path: Path, size: int) -> tuple[Path, bytes, str]:
    content = os.urandom(size)
    path = tmp_path / "export.ndjson.gz"
    path.write_bytes(content)
    return path, content, hashlib.sha256(content).hexdigest()


def test_publish_then_download_through_the_presigned_url(
    storage: S3ExportStorage, tmp_path: Path
) -> None:
    path, content, digest = _file(tmp_path, 4096)
    key = storage.publish(path, space_id="acme", date=DATE, sha256=digest)
    assert KEY_RE.match(key)
    assert storage.exists(key)
    head = storage.client.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentType"] == "application/gzip"
    assert head["Metadata"] == {"sha256": digest}

    url = storage.download_url(key, export_id=42, date=DATE, expires_in_seconds=900)
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == content
    assert hashlib.sha256(response.content).hexdigest() == digest
    assert response.headers["content-disposition"] == (
        'attachment; filename="events-2024-01-15-42.ndjson.gz"'
    )
    assert "content-encoding" not in response.headers


def test_presigned_url_is_signed_for_15_minutes_from_minting(
    storage: S3ExportStorage, tmp_path: Path
) -> None:
    path, _, digest = _file(tmp_path, 10)
    key = storage.publish(path, space_id="acme", date=DATE, sha256=digest)
    minted = dt.datetime(2024, 6, 15, 12, 0, 0, tzinfo=dt.UTC)
    with time_machine.travel(minted, tick=False):
        url = storage.download_url(key, export_id=7, date=DATE, expires_in_seconds=900)
    query = parse_qs(urlsplit(url).query)
    # moto does not enforce presigned expiry; S3 refuses the URL (403) once
    # X-Amz-Date + X-Amz-Expires has passed, and both are covered by the signature.
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-Date"] == ["20240615T120000Z"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Signature"]
    assert urlsplit(url).path.endswith(key)


def test_large_files_go_up_in_parts(s3_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    storage = S3ExportStorage(
        s3_client,
        bucket=BUCKET,
        prefix="exports",
        transfer_config=TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB),
    )
    path, _, digest = _file(tmp_path, 11 * MIB)
    key = storage.publish(path, space_id="acme", date=DATE, sha256=digest)
    head = s3_client.head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"].strip('"').endswith("-3")
    assert head["Metadata"] == {"sha256": digest}
    body = s3_client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == digest


def test_failed_publish_leaves_no_object(storage: S3ExportStorage, tmp_path: Path) -> None:
    missing = tmp_path / "never-written.ndjson.gz"
    with pytest.raises(FileNotFoundError):
        storage.publish(missing, space_id="acme", date=dt.date(2024, 2, 2), sha256="0" * 64)
    listed = storage.client.list_objects_v2(Bucket=BUCKET, Prefix="exports/acme/2024-02-02/")
    assert listed.get("KeyCount", 0) == 0


def test_exists_and_delete(storage: S3ExportStorage, tmp_path: Path) -> None:
    path, _, digest = _file(tmp_path, 10)
    key = storage.publish(path, space_id="acme", date=DATE, sha256=digest)
    storage.delete(key)
    assert not storage.exists(key)
    storage.delete(key)


def test_factory_builds_the_configured_storage(s3_endpoint: str, aws_env: None) -> None:
    local = build_storage(Settings(storage="local", home=Path("/tmp/x")))
    assert isinstance(local, LocalExportStorage)
    s3 = build_storage(
        Settings(storage="s3", s3_bucket=BUCKET, s3_prefix="p", s3_endpoint_url=s3_endpoint)
    )
    assert isinstance(s3, S3ExportStorage)
    assert (s3.bucket, s3.prefix) == (BUCKET, "p")
    assert s3.client.meta.endpoint_url == s3_endpoint
    with pytest.raises(ValueError, match="EXPORTS_S3_BUCKET"):
        build_storage(Settings(storage="s3", s3_bucket=None))


def test_api_hands_out_presigned_s3_urls(
    store_engine: sa.Engine,
    store_url: str,
    s3_endpoint: str,
    aws_env: None,
    s3_client,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    settings = Settings(
        home=tmp_path,
        database_url=store_url,
        storage="s3",
        s3_bucket=BUCKET,
        s3_region="us-east-1",
        s3_endpoint_url=s3_endpoint,
    )
    path, content, digest = _file(tmp_path, 2048)
    storage = build_storage(settings)
    key = storage.publish(path, space_id="acme", date=DATE, sha256=digest)
    with store_engine.begin() as conn:
        conn.execute(
            sa.insert(spaces).values(
                id="acme", name="Acme", timezone="UTC", subscription_active=True
            )
        )
        api_key = create_key(conn, space_id="acme")
        export_id = create_export(
            conn, space_id="acme", request=ExportRequest(date=DATE), trigger="api"
        )
        mark_processing(conn, export_id, run_id="r")
        mark_completed(
            conn, export_id, storage_key=key, row_count=3, file_size_bytes=2048, sha256=digest
        )
    with TestClient(create_app(settings)) as client:
        status = client.get(
            f"/public-api/v1/events/exports/{export_id}",
            headers={"Authorization": f"Bearer {api_key}"},
        ).json()
        local_route = client.get(f"/public-api/v1/events/exports/{export_id}/download")
    assert status["download_url"].startswith(f"{s3_endpoint}/{BUCKET}/{key}?")
    download = httpx.get(status["download_url"])
    assert download.status_code == 200 and download.content == content
    assert hashlib.sha256(download.content).hexdigest() == status["sha256"]
    assert local_route.status_code == 404


def test_an_s3_client_is_built_for_exactly_the_region_and_endpoint_given(
    s3_endpoint: str, aws_env: None
) -> None:
    client = build_s3_client(region="eu-west-3", endpoint_url=s3_endpoint, max_attempts=2)
    assert client.meta.region_name == "eu-west-3"
    assert client.meta.endpoint_url == s3_endpoint
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}

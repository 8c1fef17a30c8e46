"""Resources read settings when used, never at import, and publish to local disk or S3."""

import hashlib

import boto3
from dagster import RunConfig, mem_io_manager
from dagster_aws.s3 import S3Resource

from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import (
    S3ExportStorageResource,
    SettingsExportStorageResource,
    StoreResource,
)
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.store.exports import get_export
from exports_pipeline_tests.support.small_store import ATTRIBUTED, EXPORT_DATE, SPACE

BUCKET = "pipeline-exports"


def test_the_store_url_comes_from_settings_at_use_time(monkeypatch, tmp_path):
    resource = StoreResource()
    monkeypatch.setenv("EXPORTS_HOME", str(tmp_path))
    monkeypatch.delenv("EXPORTS_DATABASE_URL", raising=False)
    assert resource.resolved_url() == f"sqlite:///{tmp_path.resolve() / 'store.db'}"
    monkeypatch.setenv("EXPORTS_DATABASE_URL", "sqlite:////elsewhere/store.db")
    assert resource.resolved_url() == "sqlite:////elsewhere/store.db"


def test_the_default_storage_is_the_one_settings_describe(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPORTS_STORAGE", "local")
    monkeypatch.setenv("EXPORTS_STORAGE_DIR", str(tmp_path / "files"))
    storage = SettingsExportStorageResource().get_storage()
    assert isinstance(storage, LocalExportStorage)
    assert storage.root == (tmp_path / "files").resolve()


def test_the_job_publishes_to_s3_through_s3resource(store, instance, s3_endpoint, tmp_path):
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **credentials)
    client.create_bucket(Bucket=BUCKET)
    storage = S3ExportStorageResource(
        s3=S3Resource(endpoint_url=s3_endpoint, region_name="us-east-1", **credentials),
        bucket=BUCKET,
        prefix="exports",
    )
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=RunConfig(
            ops={"validate_request": ExportRequestConfig(space_id=SPACE, **ATTRIBUTED)}
        ),
        resources={"store": store, "export_storage": storage, "io_manager": mem_io_manager},
        instance=instance,
    )
    assert result.success
    export_id = result.output_for_node("validate_request").export_id
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert record.status == "completed"
    assert record.storage_key.startswith(f"exports/{SPACE}/{EXPORT_DATE.isoformat()}/")
    body = client.get_object(Bucket=BUCKET, Key=record.storage_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == record.sha256
    assert len(body) == record.file_size_bytes

"""The code location's resources are configured once from the settings, and publish to
local disk or S3."""

import hashlib
from pathlib import Path

import boto3
import pytest
from dagster import EnvVar, RunConfig, mem_io_manager

from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.definitions import defs, from_environment, resources_from
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.partitions import PARTITIONS_START, export_date_partitions
from exports_pipeline.pipeline.resources import (
    ExportStorageResource,
    LocalStorageResource,
    S3StorageResource,
    StoreResource,
    WebhookSenderResource,
)
from exports_pipeline.settings import FIRST_EXPORT_DATE, Settings
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.store.exports import get_export
from exports_pipeline_tests.support.small_store import ATTRIBUTED, EXPORT_DATE, SPACE

BUCKET = "pipeline-exports"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for variable in ("EXPORTS_DATABASE_URL", "EXPORTS_STORAGE_DIR", "EXPORTS_SIGNING_SECRET"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("EXPORTS_HOME", str(tmp_path))
    monkeypatch.setenv("EXPORTS_STORAGE", "local")
    monkeypatch.setenv("EXPORTS_EARLIEST_DATE", "2024-02-29")
    monkeypatch.setenv("EXPORTS_SUBSCRIPTION_CATCH_UP_DAYS", "3")
    return tmp_path.resolve()


def test_the_real_code_location_loads_with_its_resources(environment: Path) -> None:
    loaded = defs()
    assert loaded.get_job_def("event_export_job") is not None
    resources = loaded.resources or {}
    assert set(resources) == {"store", "export_storage", "webhook_sender", "io_manager"}
    store = resources["store"]
    assert isinstance(store, StoreResource)
    assert store.database_url == f"sqlite:///{environment / 'store.db'}"
    assert store.earliest_date == "2024-02-29"
    assert store.subscription_catch_up_days == 3
    storage = resources["export_storage"]
    assert isinstance(storage, ExportStorageResource)
    assert isinstance(storage, LocalStorageResource)
    assert storage.storage_dir == str(environment / "files")
    assert storage.signing_secret is None
    assert storage.signing_secret_file == str(environment / "signing-secret")


def test_a_set_secret_reaches_the_resources_as_an_env_var(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTS_SIGNING_SECRET", "a-secret-never-shown-in-the-dagster-ui")
    storage = (defs().resources or {})["export_storage"]
    assert isinstance(storage, LocalStorageResource)
    assert storage.signing_secret == EnvVar("EXPORTS_SIGNING_SECRET")
    assert "a-secret-never-shown-in-the-dagster-ui" not in repr(storage)


def test_set_aws_credentials_reach_the_s3_storage_as_env_vars(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTS_STORAGE", "s3")
    monkeypatch.setenv("EXPORTS_S3_BUCKET", BUCKET)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "key-secret")
    storage = (defs().resources or {})["export_storage"]
    assert isinstance(storage, S3StorageResource)
    assert storage.s3_bucket == BUCKET
    assert storage.aws_access_key_id == EnvVar("AWS_ACCESS_KEY_ID")
    assert storage.aws_secret_access_key == EnvVar("AWS_SECRET_ACCESS_KEY")
    assert "key-secret" not in repr(storage)


def test_a_set_database_url_reaches_the_store_as_an_env_var(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://exports:a-password-never-shown@db.internal/exports"
    monkeypatch.setenv("EXPORTS_DATABASE_URL", url)
    store = (defs().resources or {})["store"]
    assert isinstance(store, StoreResource)
    assert store.database_url == EnvVar("EXPORTS_DATABASE_URL")
    assert "a-password-never-shown" not in repr(store)


def test_only_a_value_the_variable_holds_becomes_an_env_var(
    environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held = "from-the-environment-at-least-32-bytes"
    monkeypatch.setenv("EXPORTS_SIGNING_SECRET", held)
    assert from_environment("EXPORTS_SIGNING_SECRET", held) == EnvVar("EXPORTS_SIGNING_SECRET")
    # A value given another way is passed as it is (an EnvVar would read another one).
    assert from_environment("EXPORTS_SIGNING_SECRET", "given") == "given"
    assert from_environment("EXPORTS_SIGNING_SECRET", None) is None
    assert from_environment("EXPORTS_SIGNING_SECRET", "") is None
    given = resources_from(Settings(database_url="sqlite:///elsewhere.db"))["store"]
    assert isinstance(given, StoreResource)
    assert given.database_url == "sqlite:///elsewhere.db"


def test_the_default_storage_is_the_one_settings_describe(
    environment: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("EXPORTS_STORAGE_DIR", str(tmp_path / "elsewhere"))
    built = (defs().resources or {})["export_storage"].get_storage()
    assert isinstance(built, LocalExportStorage)
    assert built.root == (tmp_path / "elsewhere").resolve()
    assert built.signing_secret == (environment / "signing-secret").read_text().strip()


def test_the_job_publishes_to_s3(store, instance, s3_endpoint, tmp_path):
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **credentials)
    client.create_bucket(Bucket=BUCKET)
    storage = S3StorageResource(
        s3_endpoint_url=s3_endpoint,
        s3_region="us-east-1",
        s3_bucket=BUCKET,
        s3_prefix="exports",
        **credentials,
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


def test_the_resources_defaults_are_those_of_the_settings() -> None:
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    store = StoreResource(database_url="sqlite://")
    assert store.earliest_date == FIRST_EXPORT_DATE.isoformat() == PARTITIONS_START.isoformat()
    assert defaults["earliest_date"] == FIRST_EXPORT_DATE
    assert export_date_partitions.get_first_partition_key() == FIRST_EXPORT_DATE.isoformat()
    assert (store.subscription_catch_up_days, store.file_retention_hours) == (
        defaults["subscription_catch_up_days"],
        defaults["file_retention_hours"],
    )
    assert store.max_export_rows == defaults["max_export_rows"]
    assert S3StorageResource().s3_prefix == defaults["s3_prefix"] == "exports"
    sender = WebhookSenderResource()
    assert (sender.allow_private, sender.retry_hours, sender.lease_seconds) == (
        defaults["webhook_allow_private"],
        defaults["webhook_retry_hours"],
        defaults["webhook_lease_seconds"],
    )


def test_each_storage_resource_builds_its_backend_with_the_factorys_checks(
    tmp_path: Path,
) -> None:
    with pytest.raises(ValueError, match="EXPORTS_S3_BUCKET must be set"):
        S3StorageResource(s3_region="us-east-1").get_storage()
    with pytest.raises(ValueError, match="signing_secret or signing_secret_file must be set"):
        LocalStorageResource(storage_dir=str(tmp_path)).get_storage()
    built = LocalStorageResource(storage_dir=str(tmp_path), signing_secret="s").get_storage()
    assert isinstance(built, LocalExportStorage) and built.signing_secret == "s"

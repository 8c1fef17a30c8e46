"""Building the export storage: the one place a backend is made and its configuration
checked (no Dagster: the API and the CLI build theirs from the settings here, the
pipeline's storage resources from their fields)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from exports_pipeline.private_files import load_or_create_secret
from exports_pipeline.settings import Settings
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.local import LocalExportStorage


def build_s3_client(
    *,
    region: str | None,
    endpoint_url: str | None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    max_attempts: int | None = None,
) -> Any:
    """A boto3 S3 client for `region` and `endpoint_url` (None: boto3's own defaults);
    credentials given here, else from the AWS environment; `max_attempts`: botocore's
    retries (its default when None)."""
    import boto3
    from botocore.config import Config

    retries: dict[str, Any] = {"mode": "standard"}
    if max_attempts is not None:
        retries["max_attempts"] = max_attempts
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key,
        config=Config(signature_version="s3v4", retries=retries),
    )


def build_local_storage(
    root: Path,
    *,
    public_base_url: str | None,
    signing_secret: str | None,
    secret_file: Path | None,
) -> LocalExportStorage:
    """Local files signed with `signing_secret`, else with the secret kept in `secret_file`
    (generated on first use)."""
    if not signing_secret:
        if secret_file is None:
            raise ValueError("signing_secret or signing_secret_file must be set")
        signing_secret = load_or_create_secret(secret_file, what="signing secret")
    return LocalExportStorage(root, public_base_url=public_base_url, signing_secret=signing_secret)


def build_s3_storage(bucket: str | None, *, prefix: str, client: Any) -> ExportStorage:
    """Objects under `prefix` in `bucket`, through the boto3 `client` (`build_s3_client`)."""
    if not bucket:
        raise ValueError("EXPORTS_S3_BUCKET must be set when EXPORTS_STORAGE=s3")
    # boto3 is imported only where S3 is configured (it costs a run worker ~0.15 s).
    from exports_pipeline.storage.s3 import S3ExportStorage

    return S3ExportStorage(client, bucket=bucket, prefix=prefix)


def build_storage(settings: Settings) -> ExportStorage:
    """The storage `settings.storage` names: local disk (default) or S3 (credentials from
    the AWS environment)."""
    if settings.storage == "s3":
        client = build_s3_client(region=settings.s3_region, endpoint_url=settings.s3_endpoint_url)
        return build_s3_storage(settings.s3_bucket, prefix=settings.s3_prefix, client=client)
    return build_local_storage(
        settings.resolved_storage_dir,
        public_base_url=settings.public_base_url,
        signing_secret=settings.signing_secret,
        secret_file=settings.signing_secret_file,
    )

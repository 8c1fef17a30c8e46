"""Building the configured export storage from settings (no Dagster: the API uses it too)."""

from __future__ import annotations

from typing import Any

from exports_pipeline.settings import Settings
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.storage.s3 import S3ExportStorage


def build_s3_client(settings: Settings) -> Any:
    """A boto3 S3 client for the configured region and endpoint (credentials from AWS env)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        config=Config(signature_version="s3v4", retries={"mode": "standard"}),
    )


def build_storage(settings: Settings) -> ExportStorage:
    """The storage `settings.storage` names: local disk (default) or S3."""
    if settings.storage == "s3":
        if not settings.s3_bucket:
            raise ValueError("EXPORTS_S3_BUCKET must be set when EXPORTS_STORAGE=s3")
        return S3ExportStorage(
            build_s3_client(settings), bucket=settings.s3_bucket, prefix=settings.s3_prefix
        )
    return LocalExportStorage(
        settings.resolved_storage_dir,
        public_base_url=settings.public_base_url,
        signing_secret=settings.signing_secret,
    )

"""Resources of the pipeline: the events store and the export storage.

Nothing here reads the environment at import time: a field left unset falls back to
`Settings()` (the `EXPORTS_*` variables) when the resource is used, so one code location
serves whatever store and storage its process is pointed at.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext
from dagster_aws.s3 import S3Resource
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine

from exports_pipeline.settings import Settings
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.factory import build_storage
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.storage.s3 import S3ExportStorage
from exports_pipeline.store.db import make_engine


class StoreResource(ConfigurableResource):
    """The events store and the `exports` table, through one SQLAlchemy engine."""

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the store; unset: `Settings().resolved_database_url` "
        "(EXPORTS_DATABASE_URL, else the SQLite file under EXPORTS_HOME).",
    )

    _engine: Engine | None = PrivateAttr(default=None)

    def resolved_url(self) -> str:
        return self.database_url or Settings().resolved_database_url

    def _make_engine(self) -> Engine:
        # Unpooled on SQLite: the engine reads the same file through ADBC in this process.
        return make_engine(self.resolved_url(), pooled=False)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._engine = self._make_engine()

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @property
    def engine(self) -> Engine:
        """The engine; built on first use when the resource was not set up by Dagster."""
        if self._engine is None:
            self._engine = self._make_engine()
        return self._engine


class ExportStorageResource(ConfigurableResource, ABC):
    """Where finished export files go; the API mints download URLs from the same storage."""

    @abstractmethod
    def get_storage(self) -> ExportStorage:
        """The storage backend (built on demand)."""


class LocalExportStorageResource(ExportStorageResource):
    """Export files on local disk, served by the API through signed URLs."""

    root: str | None = Field(
        default=None,
        description="Folder of export files; unset: `Settings().resolved_storage_dir`.",
    )
    public_base_url: str | None = Field(
        default=None, description="Base URL of the API; unset: EXPORTS_PUBLIC_BASE_URL."
    )
    signing_secret: str | None = Field(
        default=None, description="HMAC secret of download URLs; unset: EXPORTS_SIGNING_SECRET."
    )

    def get_storage(self) -> ExportStorage:
        settings = Settings()
        return LocalExportStorage(
            Path(self.root) if self.root else settings.resolved_storage_dir,
            public_base_url=self.public_base_url or settings.public_base_url,
            signing_secret=self.signing_secret or settings.signing_secret,
        )


class S3ExportStorageResource(ExportStorageResource):
    """Export objects in an S3 bucket, downloaded through presigned URLs."""

    s3: S3Resource = Field(description="The S3 client resource (region, endpoint, credentials).")
    bucket: str = Field(description="Bucket of export objects.")
    prefix: str = Field(default="exports", description="Key prefix of export objects.")

    def get_storage(self) -> ExportStorage:
        return S3ExportStorage(self.s3.get_client(), bucket=self.bucket, prefix=self.prefix)


class SettingsExportStorageResource(ExportStorageResource):
    """The storage `Settings()` describes (EXPORTS_STORAGE=local|s3): the one the API reads.

    The default of the code location, so that the pipeline always publishes where the API
    of the same deployment serves downloads from.
    """

    def get_storage(self) -> ExportStorage:
        return build_storage(Settings())

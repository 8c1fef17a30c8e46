"""Resources of the pipeline: the events store, the export storage, the webhook sender.

Their configuration is in their fields (shown in the Dagster UI; secrets as `EnvVar`, read
when a run starts, never shown). `definitions.py` fills the fields once from the
`EXPORTS_*` settings; nothing here reads the environment itself.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine

from exports_pipeline import sealing
from exports_pipeline.settings import FIRST_EXPORT_DATE, Settings
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.factory import (
    build_local_storage,
    build_s3_client,
    build_s3_storage,
)
from exports_pipeline.store.db import make_engine
from exports_pipeline.webhooks.sender import SenderConfig


def _description(setting: str) -> str:
    """What the setting `setting` is, as `Settings` describes it, naming its variable."""
    described = (Settings.model_fields[setting].description or "").rstrip(".")
    return f"{described} (EXPORTS_{setting.upper()})."


def _setting(setting: str) -> Any:
    """A field with the default and the description of the setting `setting`: `Settings`
    is the one home of both."""
    return Field(default=Settings.model_fields[setting].default, description=_description(setting))


class StoreResource(ConfigurableResource):
    """The events store and the `exports` table, through one SQLAlchemy engine."""

    database_url: str = Field(description=_description("database_url"))
    earliest_date: str = Field(
        default=FIRST_EXPORT_DATE.isoformat(), description=_description("earliest_date")
    )
    request_wait_seconds: float = Field(
        default=0.0,
        description="How long a tick of export_request_sensor waits for a queued export "
        "when there is none (the daemon starts its ticks every 5 s).",
    )
    subscription_catch_up_days: int = _setting("subscription_catch_up_days")
    file_retention_hours: int = _setting("file_retention_hours")
    max_export_rows: int = _setting("max_export_rows")
    whole_day_events: int = Field(
        default=1_000_000,
        description="Days with more selected events than this are read in time spans.",
    )
    span_events: int = Field(
        default=250_000, description="Selected events of one time span of a big day."
    )

    secrets_key: str | None = _setting("secrets_key")
    secrets_key_file: str | None = Field(
        default=None, description="Where the generated secrets key is kept (EXPORTS_HOME)."
    )

    _engine: Engine | None = PrivateAttr(default=None)

    @property
    def earliest(self) -> dt.date:
        return dt.date.fromisoformat(self.earliest_date)

    def _make_engine(self) -> Engine:
        # Unpooled on SQLite: the engine reads the same file through ADBC in this process.
        return make_engine(self.database_url, pooled=False)

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

    @property
    def secret_box(self) -> sealing.SecretBox:
        """The box the store's secrets are sealed with (`exports_pipeline.sealing`)."""
        if not self.secrets_key and not self.secrets_key_file:
            raise ValueError("secrets_key or secrets_key_file must be set")
        return sealing.secret_box(self.secrets_key, Path(self.secrets_key_file or ""))


class ExportStorageResource(ConfigurableResource, ABC):
    """Where finished export files go; the API of the same deployment mints download URLs
    from the same storage. One implementation per backend, chosen once in `definitions.py`
    (EXPORTS_STORAGE); each builds its storage through `storage.factory`."""

    @abstractmethod
    def get_storage(self) -> ExportStorage:
        """The storage backend (built on demand)."""


class LocalStorageResource(ExportStorageResource):
    """Export files on local disk, downloaded through the API's signed URLs."""

    storage_dir: str = Field(description=_description("storage_dir"))
    public_base_url: str | None = _setting("public_base_url")
    signing_secret: str | None = _setting("signing_secret")
    signing_secret_file: str | None = Field(
        default=None, description="The generated secret of this EXPORTS_HOME."
    )

    def get_storage(self) -> ExportStorage:
        return build_local_storage(
            Path(self.storage_dir),
            public_base_url=self.public_base_url,
            signing_secret=self.signing_secret,
            secret_file=Path(self.signing_secret_file) if self.signing_secret_file else None,
        )


class S3StorageResource(ExportStorageResource):
    """Export objects in an S3 bucket (or an S3-compatible store), downloaded by presigned
    GET. Imports boto3 only when its storage is built: a run worker on local storage never
    loads it."""

    s3_bucket: str | None = _setting("s3_bucket")
    s3_prefix: str = _setting("s3_prefix")
    s3_region: str | None = _setting("s3_region")
    s3_endpoint_url: str | None = _setting("s3_endpoint_url")
    s3_max_attempts: int | None = Field(
        default=None, description="botocore's retries of an S3 call; unset: its default."
    )
    aws_access_key_id: str | None = Field(
        default=None, description="AWS access key id; unset: the AWS default credentials."
    )
    aws_secret_access_key: str | None = Field(
        default=None, description="AWS secret access key; unset: the AWS default credentials."
    )

    def get_storage(self) -> ExportStorage:
        client = build_s3_client(
            region=self.s3_region,
            endpoint_url=self.s3_endpoint_url,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            max_attempts=self.s3_max_attempts,
        )
        return build_s3_storage(self.s3_bucket, prefix=self.s3_prefix, client=client)


class WebhookSenderResource(ConfigurableResource):
    """How the webhook sender sends (SPEC 6.5): the address rule, retry window and lease."""

    allow_private: bool = _setting("webhook_allow_private")
    retry_hours: float = _setting("webhook_retry_hours")
    lease_seconds: float = _setting("webhook_lease_seconds")

    def sender_config(self) -> SenderConfig:
        return SenderConfig(
            allow_private=self.allow_private,
            retry_window=dt.timedelta(hours=self.retry_hours),
            lease=dt.timedelta(seconds=self.lease_seconds),
        )

"""Resources of the pipeline: the events store, the export storage, the webhook sender.

Their configuration is in their fields (shown in the Dagster UI; secrets as `EnvVar`, read
when a run starts, never shown). `definitions.py` fills the fields once from the
`EXPORTS_*` settings; nothing here reads the environment itself.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr
from sqlalchemy import Engine

from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.factory import build_local_storage, build_s3_client
from exports_pipeline.store.db import make_engine
from exports_pipeline.webhooks.sender import SenderConfig


class StoreResource(ConfigurableResource):
    """The events store and the `exports` table, through one SQLAlchemy engine."""

    database_url: str = Field(description="SQLAlchemy URL of the store (EXPORTS_DATABASE_URL).")
    earliest_date: str = Field(
        default="2020-01-01",
        description="Earliest date an export may ask for, YYYY-MM-DD (EXPORTS_EARLIEST_DATE).",
    )
    request_wait_seconds: float = Field(
        default=0.0,
        description="How long a tick of export_request_sensor waits for a queued export "
        "when there is none (the daemon starts its ticks every 5 s).",
    )
    subscription_catch_up_days: int = Field(
        default=7,
        description="Ended local days a subscription catches up after downtime "
        "(EXPORTS_SUBSCRIPTION_CATCH_UP_DAYS).",
    )
    file_retention_hours: int = Field(
        default=168,
        description="Hours a completed export's files are kept before they are deleted and "
        "the export expires (EXPORTS_FILE_RETENTION_HOURS).",
    )
    max_export_rows: int = Field(
        default=500_000_000,
        description="Most rows one export may have; a larger one fails before any row is "
        "made (EXPORTS_MAX_EXPORT_ROWS).",
    )
    whole_day_events: int = Field(
        default=1_000_000,
        description="Days with more selected events than this are read in time spans.",
    )
    span_events: int = Field(
        default=250_000, description="Selected events of one time span of a big day."
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


class ExportStorageResource(ConfigurableResource):
    """Where finished export files go: local disk or S3 (EXPORTS_STORAGE); the API of the
    same deployment mints download URLs from the same storage."""

    storage: str = Field(default="local", description="`local` or `s3` (EXPORTS_STORAGE).")
    storage_dir: str | None = Field(
        default=None, description="Folder of local export files (EXPORTS_STORAGE_DIR)."
    )
    public_base_url: str | None = Field(
        default=None, description="Base URL of the API for local downloads."
    )
    signing_secret: str | None = Field(
        default=None,
        description="HMAC secret of local download URLs (EXPORTS_SIGNING_SECRET); unset: "
        "the generated secret in `signing_secret_file`.",
    )
    signing_secret_file: str | None = Field(
        default=None, description="The generated secret of this EXPORTS_HOME."
    )
    s3_bucket: str | None = Field(default=None, description="Bucket of export objects.")
    s3_prefix: str = Field(default="exports", description="Key prefix of export objects.")
    s3_region: str | None = Field(default=None, description="AWS region of the bucket.")
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, moto)."
    )
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
        """The storage backend (built on demand)."""
        if self.storage == "s3":
            if not self.s3_bucket:
                raise ValueError("s3_bucket must be set when storage is s3")
            # Imported here: a run worker on local storage never loads boto3.
            from exports_pipeline.storage.s3 import S3ExportStorage

            client = build_s3_client(
                region=self.s3_region,
                endpoint_url=self.s3_endpoint_url,
                aws_access_key_id=self.aws_access_key_id,
                aws_secret_access_key=self.aws_secret_access_key,
                max_attempts=self.s3_max_attempts,
            )
            return S3ExportStorage(client, bucket=self.s3_bucket, prefix=self.s3_prefix)
        if self.storage != "local":
            raise ValueError(f"storage must be 'local' or 's3', not {self.storage!r}")
        if not self.storage_dir:
            raise ValueError("storage_dir must be set when storage is local")
        if not (self.signing_secret or self.signing_secret_file):
            raise ValueError("signing_secret or signing_secret_file must be set")
        return build_local_storage(
            Path(self.storage_dir),
            public_base_url=self.public_base_url,
            signing_secret=self.signing_secret,
            secret_file=Path(self.signing_secret_file or ""),
        )


class WebhookSenderResource(ConfigurableResource):
    """How the webhook sender sends (SPEC 6.5): the address rule, retry window and lease."""

    allow_private: bool = Field(
        default=False,
        description="Allow http and private/loopback addresses (EXPORTS_WEBHOOK_ALLOW_PRIVATE; "
        "development and tests only).",
    )
    retry_hours: float = Field(
        default=24, description="Hours a delivery is retried (EXPORTS_WEBHOOK_RETRY_HOURS)."
    )
    lease_seconds: float = Field(
        default=60,
        description="Seconds a claimed delivery waits before another pass may send it again "
        "(EXPORTS_WEBHOOK_LEASE_SECONDS).",
    )

    def sender_config(self) -> SenderConfig:
        return SenderConfig(
            allow_private=self.allow_private,
            retry_window=dt.timedelta(hours=self.retry_hours),
            lease=dt.timedelta(seconds=self.lease_seconds),
        )

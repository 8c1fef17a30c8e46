"""The one settings object of the service, read from `EXPORTS_*` environment variables.

Settings are built on demand (`Settings()`), never at import time, so tests and processes
can point the same code at different stores.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The earliest date the service will ever export (the first partition of the export job);
# `Settings.earliest_date` may only narrow it.
FIRST_EXPORT_DATE = dt.date(2020, 1, 1)

# The fewest bytes a secret given in a setting may have (a generated one has 32).
MIN_SECRET_BYTES = 32


class InvalidSettings(ValueError):
    """The settings are broken: the message names each variable and its rule, never a value."""


class Settings(BaseSettings):
    """Configuration of the store, the export storage, the API and the pipeline."""

    model_config = SettingsConfigDict(env_prefix="EXPORTS_", extra="ignore")

    home: Path = Field(
        default=Path(".exports"),
        description="Folder of the embedded default: SQLite store, export files, Dagster home.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the events store; default: SQLite file under `home`.",
    )
    storage: Literal["local", "s3"] = Field(
        default="local", description="Where export files go: local disk or S3."
    )
    storage_dir: Path | None = Field(
        default=None, description="Folder of local export files; default: `home`/files."
    )
    s3_bucket: str | None = Field(default=None, description="S3 bucket of export files.")
    s3_prefix: str = Field(default="exports", description="Key prefix of export objects.")
    s3_region: str | None = Field(default=None, description="AWS region of the bucket.")
    s3_endpoint_url: str | None = Field(
        default=None, description="Endpoint of an S3-compatible store (MinIO, moto)."
    )
    signing_secret: str | None = Field(
        default=None,
        description=(
            "HMAC secret of local-storage download URLs; unset: a random secret generated "
            "once into `home`/signing-secret (mode 0600), shared by every process of `home`."
        ),
    )
    secrets_key: str | None = Field(
        default=None,
        description=(
            "Key the store's secrets (webhook signing secrets) are encrypted with at rest; "
            "unset: a random key generated once into `home`/secrets-key (mode 0600), shared "
            "by every process of `home`."
        ),
    )
    public_base_url: str | None = Field(
        default=None,
        description=(
            "Base URL the API is reached at, for local download URLs; unset: the scheme, "
            "host and port each status request came to."
        ),
    )
    earliest_date: dt.date = Field(
        default=FIRST_EXPORT_DATE, description="Earliest date an export may ask for."
    )
    download_url_ttl_seconds: int = Field(
        default=900, ge=1, description="Lifetime of a download URL (15 minutes)."
    )
    rate_limit_create_per_minute: int = Field(default=5, ge=1, description="Creates per space/min.")
    rate_limit_status_per_minute: int = Field(
        default=30, ge=1, description="Status reads per space/min."
    )
    subscription_catch_up_days: int = Field(
        default=7,
        ge=1,
        description="How many ended local days a subscription catches up after downtime.",
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="Webhook URLs may be http:// and point at any address (development, tests).",
    )
    webhook_retry_hours: float = Field(
        default=24, gt=0, description="How long a webhook delivery is retried before given up."
    )
    webhook_lease_seconds: float = Field(
        default=60,
        gt=0,
        description="How long a claimed webhook delivery is reserved for its sender; one whose "
        "sender died is sent again after it.",
    )
    file_retention_hours: int = Field(
        default=168,
        ge=1,
        description="Hours a completed export's file is kept; then it is deleted (expired).",
    )
    max_export_rows: int = Field(
        default=500_000_000,
        ge=1,
        description="Most rows one export may have; a larger one fails before any is made.",
    )

    @field_validator("signing_secret", "secrets_key")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        # Empty is unset (a generated secret is used); bytes, not characters, are counted.
        if value and len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes long")
        return value

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'store.db'}"

    @property
    def resolved_storage_dir(self) -> Path:
        return (self.storage_dir or self.resolved_home / "files").expanduser().resolve()

    @property
    def signing_secret_file(self) -> Path:
        """Where the generated signing secret lives when `signing_secret` is unset."""
        return self.resolved_home / "signing-secret"

    @property
    def secrets_key_file(self) -> Path:
        """Where the generated secrets key lives when `secrets_key` is unset."""
        return self.resolved_home / "secrets-key"

    @property
    def dagster_home(self) -> Path:
        return self.resolved_home / "dagster"


def describe_invalid_settings(error: ValidationError) -> str:
    """One line per broken setting, naming its environment variable and the rule; the
    values themselves are left out (a setting may be a secret)."""
    lines = ["invalid configuration:"]
    for item in error.errors():
        variable = "EXPORTS_" + "_".join(str(part) for part in item["loc"]).upper()
        lines.append(f"  {variable}: {item['msg']}")
    return "\n".join(lines)


def load_settings() -> Settings:
    """`Settings()` from the environment; `InvalidSettings` telling what is broken (without
    the values, as `describe_invalid_settings`) when a setting is."""
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettings(describe_invalid_settings(exc)) from None

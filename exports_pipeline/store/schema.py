"""Tables of the events store (SPEC section 3) and of the service itself.

SQLAlchemy Core tables, portable between SQLite (embedded default) and PostgreSQL.
Timestamps are naive UTC `DateTime` columns. On SQLite they are stored as text in
SQLAlchemy's format `YYYY-MM-DD HH:MM:SS.ffffff`; anything writing SQLite directly
(the bulk loader) must use exactly that format so range filters compare correctly.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# An auto-incrementing 64-bit key; SQLite only auto-increments INTEGER PRIMARY KEY.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

spaces = Table(
    "spaces",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("subscription_active", Boolean, nullable=False),
)

companies = Table(
    "companies",
    metadata,
    Column("id", Text, primary_key=True),
    Column("space_id", Text, nullable=False),
    Column("name", Text, nullable=False),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", Text, primary_key=True),
    Column("space_id", Text, nullable=False),
    Column("company_id", Text, nullable=True),
    Index(None, "space_id", "company_id"),
)

event_configs = Table(
    "event_configs",
    metadata,
    Column("space_id", Text, nullable=False),
    Column("event_name", Text, nullable=False),
    Column("configured_name", Text, nullable=False),
    PrimaryKeyConstraint("space_id", "event_name"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("space_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("company_id", Text, nullable=True),
    Column("event_name", Text, nullable=False),
    Column("amount", Numeric(14, 2), nullable=True),
    Column("is_upsell", Boolean, nullable=False),
    Column("event_time_utc", DateTime, nullable=False),
    Column("order_id", Text, nullable=True),
    Column("order_name", Text, nullable=True),
    Column("event_url", Text, nullable=True),
    Index(None, "space_id", "event_time_utc"),
)

touchpoints = Table(
    "touchpoints",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("space_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("touch_time_utc", DateTime, nullable=False),
    Column("ad_id", Text, nullable=True),
    # Touchpoints by (space_id, profile_id, touch_time_utc), covering: journeys are read
    # from the index alone (migrations 0002, 0003).
    Index(
        "ix_touchpoints_journey",
        "space_id",
        "profile_id",
        "touch_time_utc",
        "id",
        "source",
        "ad_id",
    ),
)

ad_accounts = Table(
    "ad_accounts",
    metadata,
    Column("space_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("account_name", Text, nullable=False),
    PrimaryKeyConstraint("space_id", "account_id"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("space_id", Text, nullable=False),
    Column("campaign_id", Text, nullable=False),
    Column("account_id", Text, nullable=False),
    Column("campaign_name", Text, nullable=False),
    PrimaryKeyConstraint("space_id", "campaign_id"),
)

adsets = Table(
    "adsets",
    metadata,
    Column("space_id", Text, nullable=False),
    Column("adset_id", Text, nullable=False),
    Column("campaign_id", Text, nullable=False),
    Column("adset_name", Text, nullable=False),
    PrimaryKeyConstraint("space_id", "adset_id"),
)

ads = Table(
    "ads",
    metadata,
    Column("space_id", Text, nullable=False),
    Column("ad_id", Text, nullable=False),
    Column("adset_id", Text, nullable=False),
    Column("ad_name", Text, nullable=False),
    PrimaryKeyConstraint("space_id", "ad_id"),
)

# The tables of SPEC section 3, in an order that a loader can follow.
EVENTS_STORE_TABLES: tuple[Table, ...] = (
    spaces,
    companies,
    profiles,
    event_configs,
    events,
    touchpoints,
    ad_accounts,
    campaigns,
    adsets,
    ads,
)

exports = Table(
    "exports",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("space_id", Text, nullable=False),
    Column("date", Date, nullable=False),
    # The validated request parameters without the date (ExportRequest.to_params()).
    Column("params", JSON, nullable=False),
    # queued | processing | completed | failed | cancelled | expired
    Column("status", Text, nullable=False),
    # api | ui | backfill | schedule
    Column("trigger", Text, nullable=False),
    Column("subscription_id", BigInteger, nullable=True),
    Column("created_at", DateTime, nullable=False),
    Column("started_at", DateTime, nullable=True),
    Column("completed_at", DateTime, nullable=True),
    Column("run_id", Text, nullable=True),
    Column("storage_key", Text, nullable=True),
    Column("row_count", BigInteger, nullable=True),
    Column("file_size_bytes", BigInteger, nullable=True),
    Column("sha256", Text, nullable=True),
    # ndjson | csv | parquet, set on completion (NULL on exports completed before 0006:
    # ndjson).
    Column("format", Text, nullable=True),
    # An export in parts (max_rows_per_file): one object per part, in part order, each
    # {part, key, file_name, row_count, file_size_bytes, sha256}; `storage_key` and `sha256`
    # are then the manifest's, `row_count` and `file_size_bytes` the parts' totals.
    # NULL for an export of one file.
    Column("files", JSON, nullable=True),
    # While processing: the rows the export will have once planned, and those written so far.
    Column("row_count_expected", BigInteger, nullable=True),
    Column("rows_written", BigInteger, nullable=True),
    # User-facing sentence: progress while queued/processing, the reason when failed.
    Column("message", Text, nullable=True),
    Index(None, "status", "id"),
    Index(None, "space_id", "id"),
    # A standing subscription gets at most one export per local day.
    UniqueConstraint("subscription_id", "date"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("space_id", Text, nullable=False),
    # sha256 hex of the key; the plain key is shown once and never stored.
    Column("key_hash", Text, nullable=False, unique=True),
    # First characters of the key, to tell keys apart in listings.
    Column("key_prefix", Text, nullable=False),
    Column("can_export", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime, nullable=True),
)

export_subscriptions = Table(
    "export_subscriptions",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("space_id", Text, nullable=False),
    Column("params", JSON, nullable=False),
    # First local day the subscription exports; catch-up never goes before it.
    Column("start_date", Date, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("active", Boolean, nullable=False),
)

rate_limit_counters = Table(
    "rate_limit_counters",
    metadata,
    Column("space_id", Text, nullable=False),
    # create | status
    Column("bucket", Text, nullable=False),
    # Minutes since the Unix epoch of the fixed window.
    Column("window_start", BigInteger, nullable=False),
    Column("count", Integer, nullable=False),
    PrimaryKeyConstraint("space_id", "bucket", "window_start"),
)


class _Redacted(str):
    """A str that prints as `'***'`: what SQL logging shows of a bound secret."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


class SecretText(TypeDecorator[str]):
    """TEXT holding a secret: its bound values are logged as `'***'` (SQL logging at INFO
    shows parameters); the value stored and read back is unchanged."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: object) -> str | None:
        return None if value is None else _Redacted(value)


# Webhooks (SPEC 6.5): endpoints of a space, the outbox of deliveries written with each
# status change, and every attempt to send one (migration 0004).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("space_id", Text, nullable=False),
    Column("url", Text, nullable=False),
    # The event types it receives, e.g. ["export.completed", "export.failed"].
    Column("events", JSON, nullable=False),
    # `whsec_<base64>` sealed (`exports_pipeline.sealing`, migration 0008): the sender opens
    # it to sign. Never logged or listed.
    Column("secret", SecretText, nullable=False),
    Column("created_at", DateTime, nullable=False),
    # Deleted endpoints are kept (their deliveries' history names them) but get nothing.
    Column("deleted_at", DateTime, nullable=True),
    # Per-endpoint backoff: failed attempts in a row, and no attempt before `backoff_until`.
    Column("consecutive_failures", Integer, nullable=False),
    Column("backoff_until", DateTime, nullable=True),
    Index(None, "space_id"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("endpoint_id", BigInteger, nullable=False),
    Column("export_id", BigInteger, nullable=False),
    # export.completed | export.failed | export.cancelled | export.expired
    Column("event_type", Text, nullable=False),
    # The `webhook-id` header (`msg_<hex>`): the same on every attempt.
    Column("message_id", Text, nullable=False, unique=True),
    # The body exactly as sent, built when the status changed.
    Column("payload", Text, nullable=False),
    # pending | delivered | failed (given up)
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    # When a sender may next try it; a claimed delivery has it moved forward (a lease).
    Column("next_attempt_at", DateTime, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("delivered_at", DateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Index(None, "status", "next_attempt_at"),
    Index(None, "export_id"),
    Index(None, "endpoint_id"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("delivery_id", BigInteger, nullable=False),
    Column("attempted_at", DateTime, nullable=False),
    # The receiver's HTTP status, or the error (timeout, refused address, ...); both null
    # while the attempt is in flight (or when its sender died before it ended).
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=True),
    Index(None, "delivery_id"),
)

# SPEC 6.1: a create's Idempotency-Key, written in the transaction that creates the export;
# the unique (space_id, key) makes concurrent creates with one key make exactly one export.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("space_id", Text, nullable=False),
    Column("key", Text, nullable=False),
    # sha256 hex of the canonical JSON of the validated request (date included).
    Column("request_hash", Text, nullable=False),
    Column("export_id", BigInteger, nullable=False),
    Column("created_at", DateTime, nullable=False),
    PrimaryKeyConstraint("space_id", "key"),
    Index(None, "created_at"),
)

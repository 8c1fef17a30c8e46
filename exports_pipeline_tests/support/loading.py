"""Helpers of the loader tests: a small valid data set, file writers, store snapshots."""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa

from exports_pipeline.store.schema import EVENTS_STORE_TABLES

Rows = list[dict[str, Any]]

# One row or two per table, with values a hand can check: offsets, `Z`, a comma and a
# quote in a name, an empty optional, a negative amount, a composite key.
VALID: dict[str, Rows] = {
    "spaces": [
        {"id": "s1", "name": "Space one", "timezone": "Europe/Berlin", "subscription_active": True},
        {"id": "s2", "name": 'Space "two", Inc', "timezone": "Asia/Kolkata",
         "subscription_active": False},
    ],
    "companies": [{"id": "c1", "space_id": "s1", "name": "Acme"}],
    "profiles": [
        {"id": "p1", "space_id": "s1", "company_id": "c1"},
        {"id": "p2", "space_id": "s1", "company_id": None},
    ],
    "event_configs": [
        {"space_id": "s1", "event_name": "custom_event_1", "configured_name": "Demo booked"}
    ],
    "events": [
        {"id": 1, "space_id": "s1", "profile_id": "p1", "company_id": "c1",
         "event_name": "purchase", "amount": "12.50", "is_upsell": False,
         "event_time_utc": "2026-03-29T00:30:00Z", "order_id": "o1", "order_name": "#1",
         "event_url": "https://shop.example.com/a?b=c,d"},
        {"id": 2, "space_id": "s1", "profile_id": "p2", "company_id": None,
         "event_name": "sign_up", "amount": None, "is_upsell": False,
         "event_time_utc": "2026-03-29T04:30:00.25+02:00", "order_id": None,
         "order_name": None, "event_url": None},
        {"id": 3, "space_id": "s1", "profile_id": "p1", "company_id": "c1",
         "event_name": "purchase", "amount": "-3.1", "is_upsell": True,
         "event_time_utc": "2026-03-29 01:00:00.123456", "order_id": "o2",
         "order_name": None, "event_url": None},
    ],
    "touchpoints": [
        {"id": 10, "space_id": "s1", "profile_id": "p1", "source": "facebook_ads",
         "touch_time_utc": "2026-03-28T23:00:00Z", "ad_id": "ad1"},
        {"id": 11, "space_id": "s1", "profile_id": "p1", "source": "direct",
         "touch_time_utc": "2026-03-29T05:29:59+05:30", "ad_id": None},
    ],
    "ad_accounts": [
        {"space_id": "s1", "account_id": "acc1", "source": "facebook_ads",
         "account_name": "Main"}
    ],
    "campaigns": [
        {"space_id": "s1", "campaign_id": "cmp1", "account_id": "acc1",
         "campaign_name": "Prospecting"}
    ],
    "adsets": [
        {"space_id": "s1", "adset_id": "set1", "campaign_id": "cmp1", "adset_name": "All"}
    ],
    "ads": [{"space_id": "s1", "ad_id": "ad1", "adset_id": "set1", "ad_name": "Video"}],
}  # fmt: skip

# What the store holds after loading VALID (naive UTC, Decimal amounts).
EXPECTED_EVENT_TIMES = [
    dt.datetime(2026, 3, 29, 0, 30),
    dt.datetime(2026, 3, 29, 2, 30, 0, 250_000),
    dt.datetime(2026, 3, 29, 1, 0, 0, 123_456),
]
EXPECTED_AMOUNTS = [Decimal("12.50"), None, Decimal("-3.10")]
EXPECTED_TOUCH_TIMES = [dt.datetime(2026, 3, 28, 23, 0), dt.datetime(2026, 3, 28, 23, 59, 59)]


def write_csv(path: Path, rows: Rows, columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else _text(row.get(c)) for c in columns])
    return path


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def write_ndjson(path: Path, rows: Rows) -> Path:
    with path.open("w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
    return path


def write_parquet(path: Path, rows: Rows) -> Path:
    """Typed columns, as a warehouse export would have them: timestamps, decimals."""
    frame = pl.DataFrame(rows, infer_schema_length=None)
    typed = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if name.endswith("_utc"):
            # Timezone-aware timestamps: the loader converts them to naive UTC.
            column = pl.Series([_aware(value) for value in frame[name]]).dt.cast_time_unit("us")
        elif name == "amount":
            column = column.cast(pl.Decimal(14, 2))
        elif dtype == pl.Null:
            column = column.cast(pl.String)
        typed.append(column.alias(name))
    frame.select(typed).write_parquet(path)
    return path


def _aware(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


WRITERS = {"csv": write_csv, "ndjson": write_ndjson, "parquet": write_parquet}


def write_tables(directory: Path, tables: Mapping[str, Rows], file_format: str = "csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        WRITERS[file_format](directory / f"{name}.{file_format}", rows)
    return directory


def snapshot(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every SPEC table, ordered by primary key."""
    result = {}
    with engine.connect() as conn:
        for table in EVENTS_STORE_TABLES:
            order = list(table.primary_key.columns)
            result[table.name] = [tuple(r) for r in conn.execute(sa.select(table).order_by(*order))]
    return result


def counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in EVENTS_STORE_TABLES
        }

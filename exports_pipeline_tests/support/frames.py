"""Building engine input frames in memory, in the shapes `extract_events` produces."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl

from exports_pipeline.engine.extract import EVENT_SCHEMA, TOUCHPOINT_SCHEMA, with_schema

EVENT_TIME = dt.datetime(2024, 5, 1, 12, 0, 0)


def cents(amount: str | None) -> int | None:
    return None if amount is None else int(Decimal(amount) * 100)


def events_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Events from dicts with `id`, `event_time_utc`, `profile_id`, `amount` (text) …"""
    if not rows:
        return pl.DataFrame(schema=EVENT_SCHEMA)
    shaped = [
        {**{k: v for k, v in r.items() if k != "amount"}, "amount_cents": cents(r.get("amount"))}
        for r in rows
    ]
    keys = {k for r in shaped for k in r}
    frame = pl.DataFrame(
        [{k: r.get(k) for k in keys} for r in shaped],
        schema_overrides={k: v for k, v in EVENT_SCHEMA.items() if k in keys},
    )
    return with_schema(frame, EVENT_SCHEMA)


def touchpoints_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema=TOUCHPOINT_SCHEMA)
    keys = {k for r in rows for k in r}
    frame = pl.DataFrame(
        [{k: r.get(k) for k in keys} for r in rows],
        schema_overrides={k: v for k, v in TOUCHPOINT_SCHEMA.items() if k in keys},
    )
    return with_schema(frame, TOUCHPOINT_SCHEMA)


def touches(*specs: tuple[int, dt.timedelta, str], profile_id: str = "p1") -> list[dict]:
    """Touchpoints `(id, how long before EVENT_TIME, source)` of one profile."""
    return [
        {"id": i, "profile_id": profile_id, "source": s, "touch_time_utc": EVENT_TIME - before}
        for i, before, s in specs
    ]

"""Synthetic but realistic demo data for the events store (`exports-pipeline seed-demo`).

The same seed and end date always give the same rows (on a store holding no earlier
events or touchpoints: new ids continue after the largest ones already stored). The data
is shaped to exercise what exports must get right:
- spaces in DST-observing and odd-offset timezones (New York, Kolkata +05:30, Adelaide
  +09:30/+10:30, Berlin, Kiritimati +14, St. John's -03:30, Kathmandu +05:45, …);
- per profile a journey of 0-15 touchpoints up to 180 days before its last conversion,
  a few touchpoints at exactly an event's time and a few equal touch times (ties);
- paid (`*_ads`), organic, AI, email/SMS, referral, direct and other sources; each paid
  platform of a space has a full ad hierarchy (accounts → campaigns → ad sets → ads), with
  broken chains: an ad set whose campaign is missing, an ad whose ad set is missing,
  paid touchpoints with an unknown ad id or none;
- about half the profiles belong to a company (an event's `company_id` is its profile's);
- configured names for some custom events (and one for a standard event, which exports
  must ignore), null amounts for non-monetary events and a few negative refunds;
- event times spread uniformly over the `days` UTC days ending with `end_date`
  (default: yesterday, UTC), with millisecond precision.
Rows are written through the store's bulk insert, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import sqlalchemy as sa

from exports_pipeline.demo.catalog import DemoSpace, make_spaces
from exports_pipeline.demo.space_rows import space_tables
from exports_pipeline.store import schema
from exports_pipeline.store.bulk_insert import LoadProgress, insert_tables
from exports_pipeline.store.table_files import LoadError, validate_frame


@dataclass
class DemoSummary:
    """What `seed_demo` wrote: its spaces, rows per table, the event window, the time taken."""

    spaces: list[DemoSpace]
    rows: dict[str, int] = field(default_factory=dict)
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    seconds: float = 0.0


def seed_demo(
    engine: sa.Engine,
    *,
    events: int = 20_000,
    days: int = 7,
    spaces: int = 3,
    seed: int = 0,
    progress: LoadProgress | None = None,
    end_date: dt.date | None = None,
) -> DemoSummary:
    """Write `events` demo events of `spaces` spaces over the `days` UTC days ending
    `end_date` (default yesterday, UTC), with their profiles, companies, touchpoints,
    ad hierarchies and event configs, in one transaction. Deterministic by `seed`.

    Space ids are `demo-1` … `demo-K`; seeding a store that already holds them raises
    `LoadError` and writes nothing.
    """
    started = time.perf_counter()
    last_day = end_date or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    demo_spaces = make_spaces(spaces)
    with engine.begin() as conn:
        taken = conn.execute(
            sa.select(schema.spaces.c.id).where(schema.spaces.c.id.in_([s.id for s in demo_spaces]))
        ).scalars()
        if clash := sorted(taken):
            raise LoadError(
                "demo spaces",
                f"the store already holds {', '.join(clash)}; seed demo data into a store "
                "without them",
            )
        tables = demo_tables(
            events=events,
            days=days,
            spaces=spaces,
            seed=seed,
            end_date=last_day,
            first_event_id=_next_id(conn, schema.events),
            first_touchpoint_id=_next_id(conn, schema.touchpoints),
            progress=progress,
        )
        frames = [(schema.metadata.tables[name], frame, name) for name, frame in tables.items()]
        rows = insert_tables(conn, frames, progress=progress)
    return DemoSummary(
        spaces=demo_spaces,
        rows=rows,
        first_day=last_day - dt.timedelta(days=days - 1),
        last_day=last_day,
        seconds=time.perf_counter() - started,
    )


def _next_id(conn: sa.Connection, table: sa.Table) -> int:
    return (conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1


def demo_tables(
    *,
    events: int,
    days: int,
    spaces: int,
    seed: int,
    end_date: dt.date,
    first_event_id: int = 1,
    first_touchpoint_id: int = 1,
    progress: LoadProgress | None = None,
) -> dict[str, pl.DataFrame]:
    """The demo rows of every SPEC section 3 table, validated and in the loader's types.

    A pure function of its arguments: the same arguments give the same frames.
    """
    if events < 0 or days < 1 or spaces < 1:
        raise ValueError("events must be >= 0, days >= 1 and spaces >= 1")
    first_day = end_date - dt.timedelta(days=days - 1)
    rng = np.random.default_rng(seed)
    demo_spaces = make_spaces(spaces)
    weights = np.array([1 / (k + 1) for k in range(spaces)])
    per_space = rng.multinomial(events, weights / weights.sum())
    task = progress.add_task("generating", total=spaces) if progress is not None else None
    parts: dict[str, list[pl.DataFrame]] = {table.name: [] for table in schema.EVENTS_STORE_TABLES}
    for number, (space, count) in enumerate(zip(demo_spaces, per_space, strict=True)):
        generated = space_tables(rng, number, space, int(count), first_day, days)
        for name, frame in generated.items():
            parts[name].append(frame)
        if progress is not None and task is not None:
            progress.advance(task)
    tables = {}
    for table in schema.EVENTS_STORE_TABLES:
        frame = pl.concat(parts[table.name], how="vertical")
        if table is schema.events:
            frame = _with_ids(frame, "event_time_utc", first_event_id)
        elif table is schema.touchpoints:
            frame = _with_ids(frame, "touch_time_utc", first_touchpoint_id)
        tables[table.name] = validate_frame(table, frame, f"demo {table.name}")
    return tables


def _with_ids(frame: pl.DataFrame, time_column: str, first_id: int) -> pl.DataFrame:
    """Ids that grow with time, as a tracker would hand them out."""
    return (
        frame.sort(time_column, "space_id", "profile_id", "_seq")
        .with_columns((pl.int_range(0, pl.len(), dtype=pl.Int64) + first_id).alias("id"))
        .drop("_seq")
    )

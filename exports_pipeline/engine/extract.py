"""Stage 1: the events of one local day and the touchpoints that can matter to them.

Every filter is pushed into SQL (SQLAlchemy Core, portable between SQLite and PostgreSQL);
the rows travel as Arrow into Polars frames with fixed schemas. On SQLite each query is
split into parts (the day into consecutive spans, the day's profiles or companies into
groups) that run at once on connections of their own.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import sqlalchemy as sa

from exports_pipeline.engine.frames import StoreReader, parallel_reads, store_reader
from exports_pipeline.engine.models import MODELS
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.engine.window import day_window_utc
from exports_pipeline.store.columns import TIMESTAMP
from exports_pipeline.store.schema import event_configs, events, profiles, touchpoints
from exports_pipeline.vocabulary import CUSTOM_EVENT_NAMES

# Event columns and their types; `amount_cents` is the amount in exact integer cents.
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "event_time_utc": TIMESTAMP,
    "profile_id": pl.String(),
    "company_id": pl.String(),
    "space_id": pl.String(),
    "event_name": pl.String(),
    "configured_name": pl.String(),
    "amount_cents": pl.Int64(),
    "is_upsell": pl.Boolean(),
    "order_id": pl.String(),
    "order_name": pl.String(),
    "event_url": pl.String(),
}
# Touchpoint columns; `company_id` is the company of the touchpoint's profile.
TOUCHPOINT_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "profile_id": pl.String(),
    "company_id": pl.String(),
    "source": pl.String(),
    "touch_time_utc": TIMESTAMP,
    "ad_id": pl.String(),
}


@dataclass(frozen=True)
class Extracted:
    """The selected events of the day and the touchpoints their journeys can draw from.

    `events` has the columns of `EVENT_SCHEMA` (with `configured_name` resolved);
    `touchpoints` those of `TOUCHPOINT_SCHEMA`, and no rows when the request has no sources.
    Columns the request does not need are left unread: they hold nulls. `spans`, when set,
    says the day is too big to be read at once: both frames are then empty, and the
    day is read span by span as its rows are made (`engine.export.plan_spans`).
    """

    events: pl.DataFrame
    touchpoints: pl.DataFrame
    spans: list[tuple[dt.datetime, dt.datetime]] | None = None


def journey_key(request: ExportRequest) -> str:
    """The column that ties an event to its journey: its profile, or its company."""
    return "company_id" if request.query_mode == "company" else "profile_id"


def journey_sources(request: ExportRequest) -> tuple[str, ...] | None:
    """The only touchpoint sources the request's model can look at (None: all of them), so
    that the other touchpoints can be left in the store (`AttributionModel.journey_sources`).
    """
    if request.attribution_model is None:
        return None
    return MODELS[request.attribution_model].journey_sources(request)


def empty_frame(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


def with_schema(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """`frame` with exactly the columns of `schema`, in order; missing ones are null."""
    return frame.select(
        pl.col(name) if name in frame.columns else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in schema.items()
    )


def split_window(
    start: dt.datetime, end: dt.datetime, parts: int
) -> list[tuple[dt.datetime, dt.datetime]]:
    """`[start, end)` as `parts` consecutive half-open spans that cover it exactly."""
    span = end - start
    bounds = [start + span * i // parts for i in range(parts)] + [end]
    return list(itertools.pairwise(bounds))


def split_keys(keys: pl.Series, parts: int) -> list[pl.Series]:
    """The distinct non-null `keys` dealt into at most `parts` groups (at least one), the
    same groups for the same keys, so that the same request reads its rows in the same order."""
    distinct = keys.drop_nulls().unique(maintain_order=True)
    count = max(1, min(parts, distinct.len()))
    return [distinct.gather_every(count, offset) for offset in range(count)]


def _events_filter(
    space_id: str, span: tuple[dt.datetime, dt.datetime], request: ExportRequest
) -> list[sa.ColumnElement[bool]]:
    start, end = span
    conditions = [
        events.c.space_id == space_id,
        events.c.event_time_utc >= start,
        events.c.event_time_utc < end,
    ]
    if request.event_names:
        conditions.append(events.c.event_name.in_(sorted(request.event_names)))
    if request.query_mode == "company":
        conditions.append(events.c.company_id.is_not(None))
    return conditions


def needed_event_columns(request: ExportRequest) -> list[str]:
    """The columns of `EVENT_SCHEMA` the request needs, in schema order."""
    needed = {"id", "event_time_utc"}
    if request.attributed:
        needed.add(journey_key(request))
    fields: Sequence[str] = request.fields or ()
    for field in fields:
        if field == "amount":
            needed.add("amount_cents")
        elif field == "configured_name":
            needed.update(("event_name", "configured_name"))
        elif field in EVENT_SCHEMA:
            needed.add(field)
    return [name for name in EVENT_SCHEMA if name in needed]


def _event_column(name: str) -> sa.ColumnElement:
    if name == "amount_cents":
        # NUMERIC(14,2) in cents: exact on PostgreSQL; on SQLite the stored double of a
        # two-decimal value is within far less than half a cent of it, so rounding is exact.
        return sa.cast(sa.func.round(events.c.amount * 100), sa.BigInteger).label(name)
    return events.c[name]


def _read_configured_names(reader: StoreReader, space_id: str) -> pl.DataFrame:
    statement = sa.select(event_configs.c.event_name, event_configs.c.configured_name).where(
        event_configs.c.space_id == space_id,
        event_configs.c.event_name.in_(CUSTOM_EVENT_NAMES),
    )
    return reader.read(statement, {"event_name": pl.String(), "configured_name": pl.String()})


Span = tuple[dt.datetime, dt.datetime]


def day_spans(
    engine: sa.Engine,
    *,
    space_id: str,
    timezone: str,
    request: ExportRequest,
    max_events: int,
    whole_up_to: int | None = None,
) -> list[Span]:
    """The request's day window as consecutive half-open spans (naive UTC) that cover it,
    each holding at most `max_events` of the selected events, or all the events of one
    timestamp when more share it. One span when the day has at most `whole_up_to`
    (default `max_events`) selected events.

    Rows of consecutive spans, each in SPEC order, are the day's rows in SPEC order: the
    order starts with the event time, and a span boundary is an event time.
    """
    window = day_window_utc(request.date, timezone)
    with store_reader(engine) as reader:
        statement = sa.select(sa.func.count()).where(*_events_filter(space_id, window, request))
        count = reader.read(statement, {"count": pl.Int64()}).item()
        if count <= max(max_events, whole_up_to or 0):
            return [window]
        statement = sa.select(events.c.event_time_utc).where(
            *_events_filter(space_id, window, request)
        )
        times = reader.read(statement, {"event_time_utc": TIMESTAMP}).get_column("event_time_utc")
    ordered = times.sort()
    values = ordered.to_physical().to_numpy()
    # Greedy: a span starts at an event time and holds the next `max_events` events, less
    # those that share the time of the first event after them (they start the next span).
    bounds, first = [], 0
    while first + max_events < len(values):
        after = values[first + max_events]
        nxt = int(np.searchsorted(values, after, side="left"))
        if nxt == first:  # one timestamp holds them all: the span takes the whole tie
            nxt = int(np.searchsorted(values, after, side="right"))
            if nxt == len(values):
                break
        bounds.append(ordered[nxt])
        first = nxt
    starts = [window[0], *(t for t in bounds if t > window[0])]
    return list(itertools.pairwise([*starts, window[1]]))


def _read_events(
    reader: StoreReader,
    space_id: str,
    timezone: str,
    request: ExportRequest,
    parts: int,
    span: Span | None = None,
) -> pl.DataFrame:
    needed = needed_event_columns(request)
    read = [name for name in needed if name != "configured_name"]
    columns = [_event_column(name) for name in read]
    schema = {name: EVENT_SCHEMA[name] for name in read}

    def read_span(part_reader: StoreReader, span: tuple[dt.datetime, dt.datetime]) -> pl.DataFrame:
        statement = sa.select(*columns).where(*_events_filter(space_id, span, request))
        return part_reader.read(statement, schema)

    start, end = span or day_window_utc(request.date, timezone)
    frame = pl.concat(reader.map_parts(read_span, split_window(start, end, parts)))
    if "configured_name" in needed:
        configured = _read_configured_names(reader, space_id)
        # Only custom events have a configured name; a standard event is called by its own.
        frame = frame.join(configured, on="event_name", how="left").with_columns(
            configured_name=pl.coalesce("configured_name", "event_name")
        )
    return with_schema(frame, EVENT_SCHEMA)


def _time_bounds(times: pl.Series) -> tuple[dt.datetime, dt.datetime]:
    """The earliest and the latest of `times`, a timestamp column with a value."""
    earliest, latest = times.min(), times.max()
    if not isinstance(earliest, dt.datetime) or not isinstance(latest, dt.datetime):
        raise TypeError(f"no bounds of {times.name}: {earliest!r} to {latest!r}")
    return earliest, latest


def _read_touchpoints(
    reader: StoreReader,
    space_id: str,
    request: ExportRequest,
    event_rows: pl.DataFrame,
    parts: int,
) -> pl.DataFrame:
    """The touchpoints of the journeys of `event_rows`.

    The day's profiles (company mode: the profiles of the day's companies) are handed to
    the database as temporary tables, so it seeks the touchpoint index once per profile
    instead of re-reading the day's events; the index covers every column read here.
    """
    earliest, latest = _time_bounds(event_rows["event_time_utc"])
    names = ["id", "profile_id", "source", "touch_time_utc"]
    if request.wants_ad_hierarchy:
        names.append("ad_id")
    conditions = [touchpoints.c.space_id == space_id, touchpoints.c.touch_time_utc <= latest]
    if request.lookback is not None:
        conditions.append(touchpoints.c.touch_time_utc >= earliest - request.lookback)
    sources = journey_sources(request)
    if sources is not None:
        conditions.append(touchpoints.c.source.in_(sorted(sources)))
    schema = {name: TOUCHPOINT_SCHEMA[name] for name in names}

    def read_profiles(part_reader: StoreReader, profile_ids: pl.Series) -> pl.DataFrame:
        day_profiles = part_reader.keys_table(profile_ids)
        statement = sa.select(*(touchpoints.c[name] for name in names)).where(
            touchpoints.c.profile_id.in_(sa.select(day_profiles.c.key)), *conditions
        )
        return part_reader.read(statement, schema)

    def read_companies(part_reader: StoreReader, company_ids: pl.Series) -> pl.DataFrame:
        day_companies = part_reader.keys_table(company_ids)
        statement = sa.select(profiles.c.id, profiles.c.company_id).where(
            profiles.c.space_id == space_id,
            profiles.c.company_id.in_(sa.select(day_companies.c.key)),
        )
        return part_reader.read(statement, {"profile_id": pl.String(), "company_id": pl.String()})

    if request.query_mode == "company":
        company_of = pl.concat(
            reader.map_parts(read_companies, split_keys(event_rows["company_id"], parts))
        )
        day_profiles = company_of["profile_id"]
    else:
        company_of = None
        day_profiles = event_rows["profile_id"]
    frame = pl.concat(reader.map_parts(read_profiles, split_keys(day_profiles, parts)))
    if company_of is not None:
        # Every profile read has a company: the company of each touchpoint's profile.
        frame = frame.join(company_of, on="profile_id", how="inner")
    return with_schema(frame, TOUCHPOINT_SCHEMA)


def extract_events(
    engine: sa.Engine,
    *,
    space_id: str,
    timezone: str,
    request: ExportRequest,
    parts: int | None = None,
    span: Span | None = None,
) -> Extracted:
    """The events of `request.date` in the space's `timezone`, and their touchpoints.

    Events: those of the space in the local day, filtered by `event_names` and, in company
    mode, to events with a company. Touchpoints (only with `sources`): those of the profiles
    with events that day (company mode: of every profile of those companies), no later than
    the latest event and no older than the earliest event minus the window (all history for
    window 0), restricted to the sources the model can look at.

    Each query runs in `parts` parts at once (default: `parallel_reads(engine)`): the same
    rows whatever the number, and for one number in the same order every time. With
    `span` (a part of the day's window, see `day_spans`), only the events of that span and
    their touchpoints.
    """
    parts = parts or parallel_reads(engine)
    with store_reader(engine) as reader:
        event_rows = _read_events(reader, space_id, timezone, request, parts, span)
        if not request.attributed or event_rows.is_empty():
            return Extracted(events=event_rows, touchpoints=empty_frame(TOUCHPOINT_SCHEMA))
        touchpoint_rows = _read_touchpoints(reader, space_id, request, event_rows, parts)
    return Extracted(events=event_rows, touchpoints=touchpoint_rows)

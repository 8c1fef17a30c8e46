"""Journeys: for each event, the run of touchpoints its journey J is made of.

Touchpoints are sorted by (journey key, `touch_time_utc`, `id`), so the journey J of an
event is a contiguous run `[lo, hi]` of that order; binary searches find both ends, with no
joins and no grouping.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from exports_pipeline.engine.extract import journey_key, journey_sources
from exports_pipeline.engine.request import ExportRequest


def journey_ends(
    events: pl.DataFrame,
    touchpoints: pl.DataFrame,
    request: ExportRequest,
    since: dt.timedelta | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The touchpoints journeys can draw from, in journey order (row `i` is position `i`),
    and per event with a non-empty journey, in SPEC order: `row` (its row in `events`),
    `rank` (its place in SPEC order), `amount_cents`, and `lo`/`hi`, the positions of J[0]
    and J[-1]. With `since`, also `lo_since`: the position of the first touch of J no older
    than `since` before the event (above `hi` when there is none)."""
    ordered, journeys = _in_journey_order(events, touchpoints, request)
    # Each (code, time) as one sortable integer, code * span + dense rank of the time among
    # every time compared here; the ordered touchpoints' keys are then ascending, and
    # binary searches find both ends of every journey (no joins, no grouping).
    lookback = request.lookback
    times = [ordered.get_column("touch_time_utc"), journeys.get_column("event_time_utc")]
    if lookback is not None:
        times.append(journeys.get_column("event_time_utc") - lookback)
    if since is not None:
        times.append(journeys.get_column("event_time_utc") - since)
    ranks = pl.concat(times).rank("dense").cast(pl.Int64)  # from 1
    top = ranks.max()
    span = (top if isinstance(top, int) else 0) + 1
    touches, count = ordered.height, journeys.height
    touch_keys = ordered.get_column("code").cast(pl.Int64) * span + ranks.head(touches)
    event_base = journeys.get_column("code").cast(pl.Int64) * span

    def first_at_or_after(start: pl.Series | int) -> pl.Series:
        return touch_keys.search_sorted(event_base + start, side="left").cast(pl.Int64)

    # J[-1]: the last touch of the code at or before the event; J[0]: the first touch of
    # the code at or after the window's start (rank 0: before any time, i.e. lifetime).
    after = touch_keys.search_sorted(event_base + ranks.slice(touches, count), side="right")
    extra: dict[str, pl.Series] = {}
    if since is not None:
        since_start = ranks.slice(touches + count * (2 if lookback is not None else 1), count)
        extra["lo_since"] = first_at_or_after(since_start)
    # No touch of the code in the window: `hi` falls before the code's block or `lo` after
    # the event's last touch, so lo > hi.
    journeys = journeys.select(
        pl.col("row").cast(pl.Int64),
        pl.col("rank").cast(pl.Int64),
        "amount_cents",
        lo=first_at_or_after(ranks.slice(touches + count, count) if lookback is not None else 0),
        hi=after.cast(pl.Int64) - 1,
        **extra,
    ).filter(pl.col("lo") <= pl.col("hi"))
    return ordered.drop("code"), journeys


def _in_journey_order(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The touchpoints journeys can draw from by (journey key `code`, `touch_time_utc`,
    `id`), and the events with a journey key in SPEC order (`row`: their row in `events`,
    `rank`: their place in that order) with their key's `code`."""
    key = journey_key(request)
    usable = touchpoints.filter(pl.col(key).is_not_null())
    sources = journey_sources(request)
    if sources is not None:
        usable = usable.filter(pl.col("source").is_in(sources))
    # Journey keys as integer codes shared by both frames: sorting and joining on them is
    # much cheaper than on the text ids. Fresh categories, so no global string pool grows.
    codes = (
        pl.concat([events.get_column(key), usable.get_column(key)])
        .cast(pl.Categorical(pl.Categories.random()))
        .to_physical()
    )
    event_codes, touch_codes = codes.head(events.height), codes.tail(usable.height)
    ordered = usable.with_columns(code=touch_codes).sort("code", "touch_time_utc", "id")
    journeys = (
        events.select("event_time_utc", "id", "amount_cents", code=event_codes)
        .with_row_index("row")
        .filter(pl.col("code").is_not_null())
        .sort("event_time_utc", "id")
        .with_row_index("rank")
    )
    return ordered, journeys

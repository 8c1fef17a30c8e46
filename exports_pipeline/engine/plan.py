"""The plan of an export's rows: their exact count and columns before any is made, and
the rows made from it in SPEC order, a bounded slice at a time (SPEC 4; issue 14).
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from exports_pipeline.engine.credit import (
    SINGLE_TOUCH_END,
    expansion_bounds,
    last_non_direct,
    last_weighted_delta,
    single_touch,
    split_cents,
    time_decay,
)
from exports_pipeline.engine.journeys import journey_ends
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.store.columns import AMOUNT
from exports_pipeline.vocabulary import AD_HIERARCHY_FIELDS, DEFAULT_HALF_LIFE_DAYS

# The decimal type of `amount` in export rows: exact money with two decimals.
# Wide enough for the cents of any amount before they are divided back into AMOUNT.
_CENTS = pl.Decimal(38, 2)

# Output columns that do not come from the event's own columns.
_NOT_FROM_EVENT = frozenset(
    ("id", "event_time_utc", "amount", "touchpoint_id", "source", *AD_HIERARCHY_FIELDS)
)


def output_columns(request: ExportRequest) -> list[str]:
    """The keys of every export row, in SPEC order, each once."""
    columns = ["id", "event_time_utc"]
    if request.attributed:
        columns.append("touchpoint_id")
    if request.wants_ad_hierarchy:
        columns.append("source")
    for field in request.fields or ():
        if field not in columns:
            columns.append(field)
    return columns


def assemble_rows(
    events: pl.DataFrame,
    ordered: pl.DataFrame,
    credited: pl.DataFrame,
    *,
    event_columns: list[str] | None,
) -> pl.DataFrame:
    # Rows of both inputs are fetched by position: cheaper than joins on ids.
    touch_columns = ordered.drop("profile_id", "company_id", strict=False).rename(
        {"id": "touchpoint_id"}
    )
    chosen = events if event_columns is None else events.select(event_columns)
    return pl.concat(
        [
            chosen[credited.get_column("row")],
            credited.select("jpos", "credit_cents"),
            touch_columns[credited.get_column("pos")],
        ],
        how="horizontal",
    )


def _project(rows: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    expressions = []
    for name in columns:
        if name == "amount":
            amount = (pl.col("amount_cents").cast(_CENTS) / 100).cast(AMOUNT)
            expressions.append(amount.alias("amount"))
        else:
            expressions.append(pl.col(name))
    return rows.select(expressions)


# Credited rows expanded at once, at most (one event's time-decay journey may exceed it).
SLICE_ROWS = 250_000


def _cut(sizes: np.ndarray, limit: int) -> Iterator[tuple[int, int, int, int]]:
    """Consecutive runs of at most `limit` of the `sum(sizes)` items of consecutive groups
    (group `g` has `sizes[g]` > 0 items): per run `(g0, g1, skip, stop)`, the groups
    `[g0, g1)` it touches, how many items of group g0 lie before it and the run's end as an
    item offset."""
    ends = np.cumsum(sizes)
    total = int(ends[-1]) if len(ends) else 0
    for begin in range(0, total, limit):
        stop = min(begin + limit, total)
        g0 = int(np.searchsorted(ends, begin, side="right"))
        g1 = int(np.searchsorted(ends - sizes, stop, side="left"))
        yield g0, g1, begin, stop


def _whole_groups(sizes: np.ndarray, limit: int) -> Iterator[tuple[int, int]]:
    """Consecutive runs `[g0, g1)` of whole groups of at most `limit` items, or one group."""
    ends = np.cumsum(sizes)
    g0 = 0
    while g0 < len(sizes):
        before = int(ends[g0] - sizes[g0])
        g1 = max(g0 + 1, int(np.searchsorted(ends, before + limit, side="right")))
        yield g0, g1
        g0 = g1


class ExportTooLarge(ValueError):
    """An export with more rows than allowed; the message says how to narrow it."""


def check_row_limit(row_count: int, limit: int, request: ExportRequest) -> None:
    """Raise `ExportTooLarge` when `row_count` rows are over `limit`, saying what would
    make the export smaller for this request."""
    if row_count <= limit:
        return
    ways = []
    if request.sources:
        ways.append("fewer `sources`")
        if request.attribution_window == 0:
            ways.append("an `attribution_window` instead of lifetime (0)")
        else:
            ways.append("a shorter `attribution_window`")
    ways.append("`event_names` to export only some events")
    if request.query_mode == "company" and request.sources:
        ways.append('`query_mode` "profile" (company journeys hold every colleague\'s touches)')
    if request.sources and request.attribution_model not in SINGLE_TOUCH_END:
        ways.append("a single-touch model such as `last_touch` (at most one row per event)")
    listed = ways[0] if len(ways) == 1 else f"{', '.join(ways[:-1])} or {ways[-1]}"
    raise ExportTooLarge(
        f"The export would have {row_count:,} rows, more than the {limit:,} an export may "
        f"have. Narrow it with {listed}."
    )


class ExportRows(ABC):
    """The rows of one export, made on demand: their exact count and columns are known
    before any row is made; `blocks` makes them in SPEC order, a slice at a time."""

    row_count: int

    @property
    @abstractmethod
    def schema(self) -> pl.Schema:
        """The columns and types of every row."""

    @abstractmethod
    def blocks(self, slice_rows: int = SLICE_ROWS) -> Iterator[pl.DataFrame]:
        """The rows in SPEC order, each frame made from at most about `slice_rows`
        credited rows; the same rows for every `slice_rows`."""

    def collect(self) -> pl.DataFrame:
        """All the rows in one frame."""
        blocks = list(self.blocks())
        return pl.concat(blocks) if blocks else self.schema.to_frame()


@dataclass(frozen=True)
class ExportPlan(ExportRows):
    """One export's rows before they are made: the events, the touchpoints in journey
    order and per event its journey's ends, so that the rows can be produced slice by slice.

    `row_count` is exact, known before any row is made; `blocks(slice_rows)` yields the
    rows in SPEC order, each frame built from at most `slice_rows` credited rows (a slice
    may end inside one event's rows; time decay keeps an event's journey whole), with the
    columns of `schema`. The rows, concatenated, are the same for every `slice_rows`.
    """

    request: ExportRequest
    columns: list[str]
    events: pl.DataFrame
    touchpoints: pl.DataFrame
    units: pl.DataFrame
    kind: str
    row_count: int
    where: pl.Series | None = None

    @classmethod
    def of_rows(cls, rows: pl.DataFrame, request: ExportRequest) -> ExportPlan:
        """The plan of rows already made (`blocks` slices them)."""
        return cls(request, rows.columns, rows.head(0), rows.head(0), rows, "rows", rows.height)

    @property
    def schema(self) -> pl.Schema:
        """The columns and types of every row."""
        return self._rows(self.units.head(0)).schema

    def blocks(self, slice_rows: int = SLICE_ROWS) -> Iterator[pl.DataFrame]:
        """The export's rows in SPEC order, a slice at a time (no frame without rows)."""
        if slice_rows < 1:
            raise ValueError(f"slice_rows must be at least 1, not {slice_rows}")
        if self.kind in ("events", "single", "rows"):
            for offset in range(0, self.units.height, slice_rows):
                yield self._rows(self.units.slice(offset, slice_rows))
            return
        sizes = self.units.get_column("size").to_numpy()
        if self.kind == "time_decay":
            for g0, g1 in _whole_groups(sizes, slice_rows):
                rows = self._rows(self.units.slice(g0, g1 - g0))
                if rows.height:
                    yield rows
            return
        for g0, g1, begin, stop in _cut(sizes, slice_rows):
            part = self.units.slice(g0, g1 - g0)
            # Trim the first and the last journey to the run's items.
            part = part.with_columns(
                first=pl.col("first") + (begin - pl.col("offset")).clip(lower_bound=0),
                end=pl.col("end") - (pl.col("offset") + pl.col("size") - stop).clip(lower_bound=0),
            )
            rows = self._rows(part)
            if rows.height:
                yield rows

    def _rows(self, units: pl.DataFrame) -> pl.DataFrame:
        if self.kind == "rows":
            return units
        if self.kind == "events":
            return _project(units, self.columns)
        request = self.request
        if self.kind == "single":
            credited = units
        elif self.kind == "time_decay":
            half_life = request.attribution_half_life_days or DEFAULT_HALF_LIFE_DAYS
            exported = self.touchpoints.get_column("source").is_in(request.sources or ())
            credited = time_decay(
                self.events, self.touchpoints, units, half_life, exported, start="weighted_lo"
            )
        else:
            assert self.where is not None, "equal-share plans list the exportable positions"
            credited = split_cents(units, self.where, request)
        rows = assemble_rows(self.events, self.touchpoints, credited, event_columns=None)
        return _project(rows.rename({"credit_cents": "amount_cents"}), self.columns)


def plan_export(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest
) -> ExportPlan:
    """The plan of the export rows of `events` credited over `touchpoints` (see
    `split_attribution` for what the rows are), with their exact count, before any is made.

    Only the columns the rows need are kept of either frame.
    """
    columns = output_columns(request)
    from_event = [c for c in columns if c not in _NOT_FROM_EVENT]
    event_columns = ["id", "event_time_utc", *from_event]
    if not request.attributed:
        ordered_events = events.sort("event_time_utc", "id")
        return ExportPlan(
            request,
            columns,
            ordered_events.head(0),
            touchpoints.head(0),
            ordered_events,
            "events",
            ordered_events.height,
        )
    missing = [f for f in AD_HIERARCHY_FIELDS if f in columns and f not in touchpoints.columns]
    if missing:
        raise ValueError(f"touchpoints lack ad hierarchy columns {missing}: resolve them first")
    model = request.attribution_model
    assert model is not None, "an attributed request has a model"
    half_life = request.attribution_half_life_days or DEFAULT_HALF_LIFE_DAYS
    since = None
    if model == "time_decay":
        # Touches older than this have weight 0: J is expanded from the first younger one.
        since = dt.timedelta(seconds=last_weighted_delta(half_life) + 1, microseconds=-1)
    ordered, journeys = journey_ends(events, touchpoints, request, since)
    exported = ordered.get_column("source").is_in(request.sources or ())
    # cumulative[i]: exportable positions before position i.
    cumulative = pl.Series(np.concatenate([[0], np.cumsum(exported.to_numpy(), dtype=np.int64)]))
    touch_keep = [c for c in ordered.columns if c not in ("profile_id", "company_id")]
    kept_events = events.select(event_columns)
    if model in SINGLE_TOUCH_END or model == "last_non_direct_touch":
        if model == "last_non_direct_touch":
            credited = last_non_direct(ordered, journeys)
        else:
            credited = single_touch(journeys, SINGLE_TOUCH_END[model])
        credited = credited.filter(exported.gather(credited.get_column("pos")))
        return ExportPlan(
            request,
            columns,
            kept_events,
            ordered.select(touch_keep),
            credited,
            "single",
            credited.height,
        )
    if model == "time_decay":
        units = journeys.with_columns(
            weighted_lo=pl.when(pl.col("lo_since") <= pl.col("hi"))
            .then(pl.max_horizontal("lo", "lo_since"))
            .otherwise(pl.col("hi"))
        )
        units = units.with_columns(size=pl.col("hi") - pl.col("weighted_lo") + 1)
        counts = _count_between(cumulative, units, "weighted_lo", "hi")
        return ExportPlan(
            request,
            columns,
            kept_events,
            ordered.select(touch_keep),
            units,
            "time_decay",
            int(counts.sum()),
        )
    where = exported.arg_true().cast(pl.Int64)
    units = expansion_bounds(journeys, where).filter(pl.col("first") < pl.col("end"))
    units = units.with_columns(size=pl.col("end") - pl.col("first"))
    units = units.with_columns(offset=pl.col("size").cum_sum() - pl.col("size"))
    if model == "position_based":
        assert request.position_weights is not None, "position_based has its weights"
        row_count = _position_based_count(cumulative, units, *request.position_weights)
    else:
        row_count = int(units.get_column("size").sum())
    return ExportPlan(
        request,
        columns,
        kept_events,
        ordered.select(touch_keep),
        units,
        "split",
        row_count,
        where,
    )


def _count_between(cumulative: pl.Series, units: pl.DataFrame, first: str, last: str) -> pl.Series:
    """Per unit, the exportable positions in `[first, last]` (0 when first > last)."""
    lower = units.get_column(first)
    top = (units.get_column(last) + 1).clip(lower_bound=lower)
    return cumulative.gather(top) - cumulative.gather(lower)


def _position_based_count(cumulative: pl.Series, units: pl.DataFrame, first: int, last: int) -> int:
    """The rows of position-based journeys: their exportable touches whose share is above 0."""
    lo, hi = units.get_column("lo"), units.get_column("hi")
    n = hi - lo + 1
    at_lo = cumulative.gather(lo + 1) - cumulative.gather(lo)
    at_hi = cumulative.gather(hi + 1) - cumulative.gather(hi)
    middles = cumulative.gather(hi) - cumulative.gather((lo + 1).clip(upper_bound=hi))
    two_first, two_last = (first, last) if first + last else (1, 1)
    mid = 100 - first - last
    counts = pl.select(
        pl.when(n == 1)
        .then(at_lo)
        .when(n == 2)
        .then(at_lo * int(two_first > 0) + at_hi * int(two_last > 0))
        .otherwise(at_lo * int(first > 0) + at_hi * int(last > 0) + middles * int(mid > 0))
    ).to_series()
    return int(counts.sum())

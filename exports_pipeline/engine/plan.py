"""The plan of an export's rows: their exact count and columns before any is made, and
the rows made from it in SPEC order, a bounded slice at a time (SPEC 4; issue 14).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from exports_pipeline.engine.journeys import journey_ends
from exports_pipeline.engine.models import AttributionModel, Touches, model_of, row_slices
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.store.columns import AMOUNT
from exports_pipeline.vocabulary import AD_HIERARCHY_FIELDS

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
    fields: list[str] = request.fields or []
    for field in fields:
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
    if request.sources:
        ways.extend(model_of(request).narrower())
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


def _checked(slice_rows: int) -> int:
    if slice_rows < 1:
        raise ValueError(f"slice_rows must be at least 1, not {slice_rows}")
    return slice_rows


@dataclass(frozen=True)
class MadeRows(ExportRows):
    """Rows already made, sliced as they are."""

    rows: pl.DataFrame
    request: ExportRequest
    row_count: int

    @property
    def schema(self) -> pl.Schema:
        return self.rows.schema

    def blocks(self, slice_rows: int = SLICE_ROWS) -> Iterator[pl.DataFrame]:
        return row_slices(self.rows, _checked(slice_rows))


@dataclass(frozen=True)
class ExportPlan(ExportRows):
    """One export's rows before they are made: the units its model (`engine.models`) plans
    them in, so that the rows can be produced slice by slice.

    `row_count` is exact, known before any row is made; `blocks(slice_rows)` yields the
    rows in SPEC order, each frame built from at most `slice_rows` credited rows (a slice
    may end inside one event's rows; time decay keeps an event's journey whole), with the
    columns of `schema`. The rows, concatenated, are the same for every `slice_rows`.
    Without `model` (a request without `sources`) the units are the events, one row each.
    """

    request: ExportRequest
    columns: list[str]
    units: pl.DataFrame
    row_count: int
    model: AttributionModel | None = None
    touches: Touches | None = None

    @classmethod
    def of_rows(cls, rows: pl.DataFrame, request: ExportRequest) -> ExportRows:
        """The plan of rows already made (`blocks` slices them)."""
        return MadeRows(rows, request, rows.height)

    @property
    def schema(self) -> pl.Schema:
        """The columns and types of every row."""
        return self._rows(self.units.head(0)).schema

    def blocks(self, slice_rows: int = SLICE_ROWS) -> Iterator[pl.DataFrame]:
        """The export's rows in SPEC order, a slice at a time (no frame without rows)."""
        _checked(slice_rows)
        if self.model is None:
            slices = row_slices(self.units, slice_rows)
        else:
            slices = self.model.slices(self.units, slice_rows)
        for units in slices:
            rows = self._rows(units)
            if rows.height:
                yield rows

    def _rows(self, units: pl.DataFrame) -> pl.DataFrame:
        if self.model is None or self.touches is None:
            return _project(units, self.columns)
        touches = self.touches
        credited = self.model.credit(touches, units)
        rows = assemble_rows(touches.events, touches.ordered, credited, event_columns=None)
        return _project(rows.rename({"credit_cents": "amount_cents"}), self.columns)


def plan_export(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest
) -> ExportPlan:
    """The plan of the export rows of `events` credited over `touchpoints` (see
    `split_attribution` for what the rows are), with their exact count, before any is made.

    Only the columns the rows need are kept of either frame.
    """
    columns = output_columns(request)
    if not request.attributed:
        ordered_events = events.sort("event_time_utc", "id")
        return ExportPlan(request, columns, ordered_events, ordered_events.height)
    missing = [f for f in AD_HIERARCHY_FIELDS if f in columns and f not in touchpoints.columns]
    if missing:
        raise ValueError(f"touchpoints lack ad hierarchy columns {missing}: resolve them first")
    from_event = [c for c in columns if c not in _NOT_FROM_EVENT]
    model = model_of(request)
    event_columns = ["id", "event_time_utc", *from_event]
    touches, journeys = journey_touches(model, events, touchpoints, request, event_columns)
    units, row_count = model.plan(touches, journeys)
    return ExportPlan(request, columns, units, row_count, model, touches)


def journey_touches(
    model: AttributionModel,
    events: pl.DataFrame,
    touchpoints: pl.DataFrame,
    request: ExportRequest,
    event_columns: list[str],
    *,
    exported_only: bool = True,
) -> tuple[Touches, pl.DataFrame]:
    """The touches `model` credits for `request` (of `events`, only `event_columns` are
    kept), and the journeys of `events` (`engine.journeys`). Without `exported_only`, every
    touch counts as exported."""
    ordered, journeys = journey_ends(events, touchpoints, request, model.recent(request))
    if exported_only:
        exported = ordered.get_column("source").is_in(request.sources or [])
    else:
        exported = pl.Series(np.ones(ordered.height, dtype=bool))
    touches = Touches(
        request,
        events.select(event_columns),
        ordered.drop("profile_id", "company_id", strict=False),
        exported,
    )
    return touches, journeys

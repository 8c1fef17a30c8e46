"""The attribution models (SPEC 6.7), one object each, in `MODELS` by the vocabulary's name.

A model holds what the rest of the service asks of it: the request parameters it accepts
(`engine.request` validates with them), the touchpoints its journeys can draw from
(`engine.extract`), the units its rows are planned in and their exact row count, how those
units are sliced, and the credit of a slice in exact cents (`engine.credit`), which
`engine.plan` makes into rows. Adding a model: docs/adding-a-model.md.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Protocol

import numpy as np
import polars as pl

from exports_pipeline.engine import credit
from exports_pipeline.vocabulary import DEFAULT_HALF_LIFE_DAYS, PAID_SOURCES, is_paid


class Attributed(Protocol):
    """What a model reads of an attributed request (`engine.request.ExportRequest` is one;
    the request asks `MODELS` for its rules, so the models do not import it)."""

    @property
    def attribution_model(self) -> str | None: ...

    @property
    def sources(self) -> Sequence[str] | None: ...

    @property
    def attribution_half_life_days(self) -> int | None: ...

    @property
    def position_weights(self) -> Sequence[int] | None: ...

SINGLE_TOUCH_ADVICE = "a single-touch model such as `last_touch` (at most one row per event)"


@dataclass(frozen=True)
class Touches:
    """What a model credits: the events (`row` of a unit is a row of `events`), the
    touchpoints their journeys draw from in journey order (row `i` is position `i`), and
    per position whether its source is exported."""

    request: Attributed
    events: pl.DataFrame
    ordered: pl.DataFrame
    exported: pl.Series

    @cached_property
    def where(self) -> pl.Series:
        """The exported positions, ascending."""
        return self.exported.arg_true().cast(pl.Int64)

    @cached_property
    def cumulative(self) -> pl.Series:
        """`cumulative[i]`: exported positions before position `i`."""
        counts = np.cumsum(self.exported.to_numpy(), dtype=np.int64)
        return pl.Series(np.concatenate([[0], counts]))

    def count_between(self, units: pl.DataFrame, first: str, last: str) -> pl.Series:
        """Per unit, the exported positions in `[first, last]` (0 when first > last)."""
        lower = units.get_column(first)
        top = (units.get_column(last) + 1).clip(lower_bound=lower)
        return self.cumulative.gather(top) - self.cumulative.gather(lower)


def row_slices(units: pl.DataFrame, slice_rows: int) -> Iterator[pl.DataFrame]:
    """Consecutive slices of at most `slice_rows` units (each unit one row)."""
    for offset in range(0, units.height, slice_rows):
        yield units.slice(offset, slice_rows)


class AttributionModel(ABC):
    """One attribution model: its name, its parameters, its journeys, its rows and its
    credit. Units are rows of a frame with each event's `row`, `rank`, `amount_cents` and
    its journey's ends `lo`/`hi` (`engine.journeys`), plus what the model adds to them."""

    name: ClassVar[str]
    # The request fields only this model accepts, and those of them it requires.
    parameters: ClassVar[tuple[str, ...]] = ()
    required: ClassVar[tuple[str, ...]] = ()
    # True when the model credits paid (`*_ads`) touches only, so a request needs one.
    paid_only: ClassVar[bool] = False

    def journey_sources(self, request: Attributed) -> tuple[str, ...] | None:
        """The only touchpoint sources journeys can hold (None: all of them)."""
        return None

    def recent(self, request: Attributed) -> dt.timedelta | None:
        """How far before its event a touch can still earn credit (None: any touch of J);
        journeys then also know where that part of J begins (`lo_since`)."""
        return None

    def narrower(self) -> tuple[str, ...]:
        """What would narrow an export of this model that is over the row limit."""
        return (SINGLE_TOUCH_ADVICE,)

    @abstractmethod
    def plan(self, touches: Touches, journeys: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        """The units of the export's rows and how many rows they make, exactly."""

    @abstractmethod
    def slices(self, units: pl.DataFrame, slice_rows: int) -> Iterator[pl.DataFrame]:
        """The units in consecutive slices that each make about `slice_rows` credited rows
        at most; the same rows for every `slice_rows`."""

    @abstractmethod
    def credit(self, touches: Touches, units: pl.DataFrame) -> pl.DataFrame:
        """Per credited exported touch of `units`, in SPEC order: `row`, `rank`, `pos`,
        `jpos` and `credit_cents`."""


class SingleTouch(AttributionModel):
    """One touch of each journey takes the whole amount: a unit is that touch's row."""

    @abstractmethod
    def credited(self, ordered: pl.DataFrame, journeys: pl.DataFrame) -> pl.DataFrame:
        """Per journey, its credited touch (see `credit`)."""

    def plan(self, touches: Touches, journeys: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        credited = self.credited(touches.ordered, journeys)
        credited = credited.filter(touches.exported.gather(credited.get_column("pos")))
        return credited, credited.height

    def slices(self, units: pl.DataFrame, slice_rows: int) -> Iterator[pl.DataFrame]:
        return row_slices(units, slice_rows)

    def credit(self, touches: Touches, units: pl.DataFrame) -> pl.DataFrame:
        return units


class EndTouch(SingleTouch):
    """One end of J takes the whole amount (`lo`: J[0], `hi`: J[-1])."""

    end: ClassVar[str]

    def narrower(self) -> tuple[str, ...]:
        return ()

    def credited(self, ordered: pl.DataFrame, journeys: pl.DataFrame) -> pl.DataFrame:
        return credit.single_touch(journeys, self.end)


class FirstTouch(EndTouch):
    name = "first_touch"
    end = "lo"


class LastTouch(EndTouch):
    name = "last_touch"
    end = "hi"


class PlatformTouch(EndTouch):
    """An end of the journey of paid requested touches."""

    paid_only = True

    def journey_sources(self, request: Attributed) -> tuple[str, ...] | None:
        sources: Sequence[str] = request.sources or ()
        return tuple(s for s in sources if is_paid(s))


class FirstPlatformTouch(PlatformTouch):
    name = "first_platform_touch"
    end = "lo"


class LastPlatformTouch(PlatformTouch):
    name = "last_platform_touch"
    end = "hi"


class LastNonDirectTouch(SingleTouch):
    name = "last_non_direct_touch"

    def credited(self, ordered: pl.DataFrame, journeys: pl.DataFrame) -> pl.DataFrame:
        return credit.last_non_direct(ordered, journeys)


class Split(AttributionModel):
    """The amount is split over J by position: only exported touches are expanded. A unit
    is a run `where[first:end]` of a journey's exported touches (`offset`: the rows before
    it), cut anywhere: a touch's cents depend on its position and |J| only."""

    @abstractmethod
    def shares(self, request: Attributed) -> credit.Shares:
        """The cents of each position of a journey (see `credit.split_cents`)."""

    def plan(self, touches: Touches, journeys: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        units = credit.expansion_bounds(journeys, touches.where)
        units = units.filter(pl.col("first") < pl.col("end"))
        units = units.with_columns(size=pl.col("end") - pl.col("first"))
        units = units.with_columns(offset=pl.col("size").cum_sum() - pl.col("size"))
        return units, self.row_count(touches, units)

    def row_count(self, touches: Touches, units: pl.DataFrame) -> int:
        """The rows of `units`: every exported touch has a share above 0."""
        return int(units.get_column("size").sum())

    def slices(self, units: pl.DataFrame, slice_rows: int) -> Iterator[pl.DataFrame]:
        sizes = units.get_column("size").to_numpy()
        for g0, g1, begin, stop in _cut(sizes, slice_rows):
            part = units.slice(g0, g1 - g0)
            # Trim the first and the last journey to the run's items.
            yield part.with_columns(
                first=pl.col("first") + (begin - pl.col("offset")).clip(lower_bound=0),
                end=pl.col("end") - (pl.col("offset") + pl.col("size") - stop).clip(lower_bound=0),
            )

    def credit(self, touches: Touches, units: pl.DataFrame) -> pl.DataFrame:
        return credit.split_cents(units, touches.where, self.shares(touches.request))


class Linear(Split):
    name = "linear"

    def shares(self, request: Attributed) -> credit.Shares:
        return credit.equal_cents


class LinearPaid(Linear):
    """Equal shares over the journey of paid touches."""

    name = "linear_paid"
    paid_only = True

    def journey_sources(self, request: Attributed) -> tuple[str, ...] | None:
        return PAID_SOURCES


class UShaped(Split):
    name = "u_shaped"

    def shares(self, request: Attributed) -> credit.Shares:
        return credit.u_shaped_cents


class PositionBased(Split):
    """The ends get the request's `position_weights` percentages, the middles the rest."""

    name = "position_based"
    parameters = ("position_weights",)
    required = ("position_weights",)

    def shares(self, request: Attributed) -> credit.Shares:
        first, last = _weights(request)

        def shares(a: pl.Expr, n: pl.Expr, jpos: pl.Expr) -> tuple[pl.Expr, pl.Expr | None]:
            return credit.position_based_cents(a, n, jpos, first, last)

        return shares

    def row_count(self, touches: Touches, units: pl.DataFrame) -> int:
        """The exported touches whose share is above 0."""
        first, last = _weights(touches.request)
        cumulative = touches.cumulative
        lo, hi = units.get_column("lo"), units.get_column("hi")
        n = hi - lo + 1
        at_lo = cumulative.gather(lo + 1) - cumulative.gather(lo)
        at_hi = cumulative.gather(hi + 1) - cumulative.gather(hi)
        middles = cumulative.gather(hi) - cumulative.gather((lo + 1).clip(upper_bound=hi))
        two_first, two_last = credit.two_touch_weights(first, last)
        mid = 100 - first - last
        counts = pl.select(
            pl.when(n == 1)
            .then(at_lo)
            .when(n == 2)
            .then(at_lo * int(two_first > 0) + at_hi * int(two_last > 0))
            .otherwise(at_lo * int(first > 0) + at_hi * int(last > 0) + middles * int(mid > 0))
        ).to_series()
        return int(counts.sum())


def _weights(request: Attributed) -> tuple[int, int]:
    assert request.position_weights is not None, "position_based has its weights"
    first, last = request.position_weights
    return first, last


class TimeDecay(AttributionModel):
    """Shares by weights halving every `attribution_half_life_days` (default 7). A unit is
    a journey from its first touch of weight above 0, kept whole: a touch's cents depend on
    every weight of J."""

    name = "time_decay"
    parameters = ("attribution_half_life_days",)

    @staticmethod
    def half_life(request: Attributed) -> int:
        """The request's half-life in days."""
        return request.attribution_half_life_days or DEFAULT_HALF_LIFE_DAYS

    def recent(self, request: Attributed) -> dt.timedelta | None:
        # Touches older than this have weight 0: J is expanded from the first younger one.
        delta = credit.last_weighted_delta(self.half_life(request))
        return dt.timedelta(seconds=delta + 1, microseconds=-1)

    def plan(self, touches: Touches, journeys: pl.DataFrame) -> tuple[pl.DataFrame, int]:
        units = journeys.with_columns(
            weighted_lo=pl.when(pl.col("lo_since") <= pl.col("hi"))
            .then(pl.max_horizontal("lo", "lo_since"))
            .otherwise(pl.col("hi"))
        )
        units = units.with_columns(size=pl.col("hi") - pl.col("weighted_lo") + 1)
        return units, int(touches.count_between(units, "weighted_lo", "hi").sum())

    def slices(self, units: pl.DataFrame, slice_rows: int) -> Iterator[pl.DataFrame]:
        sizes = units.get_column("size").to_numpy()
        for g0, g1 in _whole_groups(sizes, slice_rows):
            yield units.slice(g0, g1 - g0)

    def credit(self, touches: Touches, units: pl.DataFrame) -> pl.DataFrame:
        return credit.time_decay(
            touches.events,
            touches.ordered,
            units,
            self.half_life(touches.request),
            touches.exported,
            start="weighted_lo",
        )


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


def registry(*models: AttributionModel) -> dict[str, AttributionModel]:
    """The models by name; `ValueError` when two share a name."""
    by_name: dict[str, AttributionModel] = {}
    for model in models:
        if model.name in by_name:
            raise ValueError(f"two attribution models are named {model.name!r}")
        by_name[model.name] = model
    return by_name


# In the vocabulary's order (`vocabulary.ATTRIBUTION_MODELS`).
MODELS: dict[str, AttributionModel] = registry(
    FirstTouch(),
    LastTouch(),
    Linear(),
    FirstPlatformTouch(),
    LastPlatformTouch(),
    LinearPaid(),
    UShaped(),
    LastNonDirectTouch(),
    TimeDecay(),
    PositionBased(),
)


def model_of(request: Attributed) -> AttributionModel:
    """The model of an attributed request."""
    assert request.attribution_model is not None, "an attributed request has a model"
    return MODELS[request.attribution_model]

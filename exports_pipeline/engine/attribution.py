"""Stage 3: journeys, credit by attribution model in exact cents, and the export rows.

Everything is vectorised over Polars frames. Touchpoints are sorted by (journey key,
`touch_time_utc`, `id`), so the journey J of an event is a contiguous run `[lo, hi]` of that
order; binary searches find both ends, and models that credit several touchpoints expand the run.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from exports_pipeline.engine.extract import journey_key, journey_sources
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

_SINGLE_TOUCH_END = {
    "first_touch": "lo",
    "last_touch": "hi",
    "first_platform_touch": "lo",
    "last_platform_touch": "hi",
}


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


def _journey_ends(
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
    span = int(ranks.max() or 0) + 1
    touches, count = ordered.height, journeys.height
    touch_keys = ordered.get_column("code").cast(pl.Int64) * span + ranks.head(touches)
    event_base = journeys.get_column("code").cast(pl.Int64) * span
    # J[-1]: the last touch of the code at or before the event; J[0]: the first touch of
    # the code at or after the window's start (rank 0: before any time, i.e. lifetime).
    after = touch_keys.search_sorted(event_base + ranks.slice(touches, count), side="right")
    hi = after.cast(pl.Int64) - 1
    start = ranks.slice(touches + count, count) if lookback is not None else 0
    lo = touch_keys.search_sorted(event_base + start, side="left")
    extra = {}
    if since is not None:
        since_start = ranks.slice(touches + count * (2 if lookback is not None else 1), count)
        extra["lo_since"] = touch_keys.search_sorted(event_base + since_start, side="left").cast(
            pl.Int64
        )
    # No touch of the code in the window: `hi` falls before the code's block or `lo` after
    # the event's last touch, so lo > hi.
    journeys = journeys.select(
        pl.col("row").cast(pl.Int64),
        pl.col("rank").cast(pl.Int64),
        "amount_cents",
        lo=lo.cast(pl.Int64),
        hi=hi,
        **extra,
    ).filter(pl.col("lo") <= pl.col("hi"))
    return ordered.drop("code"), journeys


def _single_touch(journeys: pl.DataFrame, end: str) -> pl.DataFrame:
    return journeys.select(
        "row",
        "rank",
        pl.col(end).alias("pos"),
        (pl.col(end) - pl.col("lo")).alias("jpos"),
        pl.col("amount_cents").alias("credit_cents"),
    )


def _last_non_direct(ordered: pl.DataFrame, journeys: pl.DataFrame) -> pl.DataFrame:
    # The latest non-direct position at or before each position; it belongs to the same
    # journey only when it is not before the journey's first touch.
    last_non_direct = (
        ordered.select(
            pl.when(pl.col("source") != "direct")
            .then(pl.int_range(pl.len(), dtype=pl.Int64))
            .forward_fill()
        )
        .to_series()
        .gather(journeys.get_column("hi"))
    )
    credited = journeys.with_columns(last_non_direct=last_non_direct).with_columns(
        pos=pl.when(pl.col("last_non_direct") >= pl.col("lo"))
        .then(pl.col("last_non_direct"))
        .otherwise(pl.col("hi"))
    )
    return credited.select(
        "row",
        "rank",
        "pos",
        (pl.col("pos") - pl.col("lo")).alias("jpos"),
        pl.col("amount_cents").alias("credit_cents"),
    )


def _expansion_bounds(journeys: pl.DataFrame, where: pl.Series) -> pl.DataFrame:
    """`journeys` plus `first`/`end`: the run `where[first:end]` of `where` (positions that
    may be exported, ascending) that lies in each journey's `[lo, hi]`."""
    return journeys.with_columns(
        first=where.search_sorted(journeys.get_column("lo"), side="left").cast(pl.Int64),
        end=where.search_sorted(journeys.get_column("hi"), side="right").cast(pl.Int64),
    )


def _split_cents(journeys: pl.DataFrame, where: pl.Series, request: ExportRequest) -> pl.DataFrame:
    """Every touchpoint `where[first:end]` of each journey with a share above 0 and its
    credited cents: the floor of its exact share plus one of the leftover cents when it is
    among the largest remainders (ties: earlier first).

    A touchpoint's cents depend only on the amount, |J| = hi - lo + 1 and its position, so
    `[first, end)` may be any part of a journey's exported touches (`_expansion_bounds` gives
    all of them): the rest of J is never expanded.
    """
    model = request.attribution_model
    rows = (
        journeys.filter(pl.col("first") < pl.col("end"))
        .with_columns(k=pl.int_ranges("first", "end"))
        .explode("k")
    )
    rows = rows.with_columns(pos=where.gather(rows.get_column("k")))
    rows = rows.select(
        "row",
        "rank",
        "amount_cents",
        "pos",
        jpos=pl.col("pos") - pl.col("lo"),
        n=pl.col("hi") - pl.col("lo") + 1,
    )
    a = pl.col("amount_cents").abs().fill_null(0)
    n = pl.col("n")
    jpos = pl.col("jpos")
    if model == "u_shaped":
        # n >= 3: ends get 2/5 each, each of the m = n-2 middles 1/(5m). Remainders are
        # compared over the common denominator 5m: an end's is (2a mod 5)·m, a middle's
        # a mod 5m. Ranking by (remainder desc, position) then has three shapes.
        m = n - 2
        is_end = (jpos == 0) | (jpos == n - 1)
        end_floor = (2 * a) // 5
        end_rem = ((2 * a) % 5) * m
        mid_floor = a // (5 * m)
        mid_rem = a % (5 * m)
        leftover = a - 2 * end_floor - m * mid_floor
        end_rank = pl.when(jpos == 0).then(0).otherwise(1)
        rank = (
            pl.when(end_rem > mid_rem)
            .then(pl.when(is_end).then(end_rank).otherwise(jpos + 1))
            .when(end_rem == mid_rem)
            .then(jpos)
            .otherwise(pl.when(is_end).then(m + end_rank).otherwise(jpos - 1))
        )
        cents = (
            pl.when(n == 1)
            .then(a)
            .when(n == 2)
            .then(a // 2 + (jpos < a % 2).cast(pl.Int64))
            .otherwise(
                pl.when(is_end).then(end_floor).otherwise(mid_floor)
                + (rank < leftover).cast(pl.Int64)
            )
        )
    elif model == "position_based":
        assert request.position_weights is not None, "position_based has its weights"
        first, last = request.position_weights
        cents, has_share = _position_based_cents(a, n, jpos, first, last)
        rows = rows.filter(has_share)
    else:
        # Equal shares: every remainder is a mod n, so the first a mod n touches get a cent.
        cents = a // n + (jpos < a % n).cast(pl.Int64)
    return rows.select("row", "rank", "pos", "jpos", credit_cents=_signed(cents))


def _signed(cents: pl.Expr) -> pl.Expr:
    """Cents of the absolute amount back with the amount's sign; null amounts stay null."""
    amount = pl.col("amount_cents")
    return pl.when(amount.is_null()).then(None).when(amount < 0).then(-cents).otherwise(cents)


def _position_based_cents(
    a: pl.Expr, n: pl.Expr, jpos: pl.Expr, first: int, last: int
) -> tuple[pl.Expr, pl.Expr]:
    """Cents of position `jpos` of an n-touch journey splitting `a` cents with the ends'
    percentages `first` and `last`, and whether that position's share is above 0.

    n >= 3: over the common denominator 100·m (m = n-2 middles) the weights are first·m,
    last·m and 100-first-last per middle, so the floors are (a·first) // 100, (a·last) // 100
    and (a·mid) // 100m, the remainders ((a·first) mod 100)·m, ((a·last) mod 100)·m and
    (a·mid) mod 100m: every product stays below 2^63 for any NUMERIC(14,2) amount. The
    remainders take three values, so a position's place in (remainder desc, position) is a
    closed form; zero shares have remainder 0 and rank after every cent.
    """
    m = n - 2
    mid = 100 - first - last
    first_floor = (a * first) // 100
    last_floor = (a * last) // 100
    mid_floor = (a * mid) // (100 * m)
    first_rem = ((a * first) % 100) * m
    last_rem = ((a * last) % 100) * m
    mid_rem = (a * mid) % (100 * m)
    leftover = a - first_floor - last_floor - m * mid_floor

    def above(x: pl.Expr, y: pl.Expr) -> pl.Expr:
        return (x > y).cast(pl.Int64)

    is_first, is_last = jpos == 0, jpos == n - 1
    place = (
        pl.when(is_first)
        .then(m * above(mid_rem, first_rem) + above(last_rem, first_rem))
        .when(is_last)
        .then(1 - above(last_rem, first_rem) + m * (1 - above(last_rem, mid_rem)))
        .otherwise(1 - above(mid_rem, first_rem) + (jpos - 1) + above(last_rem, mid_rem))
    )
    many = pl.when(is_first).then(first_floor).when(is_last).then(last_floor).otherwise(
        mid_floor
    ) + (place < leftover).cast(pl.Int64)
    # Two touches: first:last in proportion, equal when both are 0.
    two_first, two_last = (first, last) if first + last else (1, 1)
    two_weight = pl.when(jpos == 0).then(two_first).otherwise(two_last)
    other_weight = pl.when(jpos == 0).then(two_last).otherwise(two_first)
    own, other = a * two_weight, a * other_weight
    total = two_first + two_last
    two_leftover = a - own // total - other // total
    # The leftover cent (at most one) goes to the larger remainder, the first on a tie.
    two_place = (
        pl.when(jpos == 0)
        .then(above(other % total, own % total))
        .otherwise(1 - above(own % total, other % total))
    )
    two = own // total + (two_place < two_leftover).cast(pl.Int64)
    cents = pl.when(n == 1).then(a).when(n == 2).then(two).otherwise(many)
    has_share = (
        pl.when(n == 1)
        .then(True)
        .when(n == 2)
        .then(two_weight > 0)
        .otherwise(
            pl.when(is_first).then(first > 0).when(is_last).then(last > 0).otherwise(mid > 0)
        )
    )
    return cents, has_share


def _decay_weights(delta_seconds: np.ndarray, half_life_days: int) -> np.ndarray:
    """w = floor(2^32 · 2^(-Δ/h)) for whole seconds Δ >= 0, as Int64 (SPEC 6.7)."""
    # NumPy divides exactly (IEEE); Polars would multiply by the reciprocal of a scalar.
    exponent = pl.Series(-(delta_seconds.astype(np.float64) / float(half_life_days * 86_400)))
    weights = (pl.select(pl.lit(2.0).pow(exponent)).to_series() * 2.0**32).floor()
    return weights.cast(pl.Int64).to_numpy()


def _last_weighted_delta(half_life_days: int) -> int:
    """The largest Δ (whole seconds) whose time-decay weight is above 0.

    Weights fall with Δ, so a binary search finds it; the weights around it are checked, so
    a touch has weight 0 exactly when its Δ is above the value returned.
    """
    low, high = 0, 40 * half_life_days * 86_400  # w(0) = 2^32; w(40h) = floor(2^-8) = 0
    while high - low > 1:
        middle = (low + high) // 2
        if _decay_weights(np.array([middle]), half_life_days)[0] > 0:
            low = middle
        else:
            high = middle
    around = np.arange(max(0, low - 100_000), low + 100_000, dtype=np.int64)
    positive = _decay_weights(around, half_life_days) > 0
    if not np.array_equal(positive, around <= low):
        raise ArithmeticError(f"time-decay weights of half-life {half_life_days} d not monotone")
    return low


def _time_decay(
    events: pl.DataFrame,
    ordered: pl.DataFrame,
    journeys: pl.DataFrame,
    half_life_days: int,
    exported: pl.Series | None = None,
    start: str = "lo",
) -> pl.DataFrame:
    """Every touchpoint of J with a weight above 0 and its credited cents (SPEC 6.7).

    J is expanded from position `start` (a column: `lo`, or from where weights are above 0,
    see `_last_weighted_delta`) to `hi`; touches of weight 0 take no part in the shares.

    w = floor(2^32 · 2^(-Δ/h)) in float64 (Δ whole seconds from the touch to the event, h
    the half-life in seconds); a touch's share is w / Σw over J, or J[-1] takes all when
    every weight is 0. Cents are exact: a·w needs up to 79 bits (a < 2^47, w <= 2^32), so
    it is an Int128; its quotient by Σw is at most a and its remainder below Σw, which fit
    in 64 bits again (Σw <= |J|·2^32). A touch's cents depend on all of J, so J is expanded
    whole and `exported` (when given) filters only the result.
    """
    sizes = (journeys.get_column("hi") - journeys.get_column(start) + 1).to_numpy()
    # Each journey is a run of consecutive rows once expanded: `starts` are their first rows.
    starts = np.cumsum(sizes) - sizes
    rows = journeys.with_columns(
        pos=pl.int_ranges(start, pl.col("hi") + 1), start=pl.Series(starts, dtype=pl.Int64)
    ).explode("pos")
    pos = rows.get_column("pos")
    # J holds only touches at or before the event, so Δ >= 0 and its floor is a truncation.
    delta = (
        events.get_column("event_time_utc").gather(rows.get_column("row"))
        - ordered.get_column("touch_time_utc").gather(pos)
    ).dt.total_microseconds() // 1_000_000
    weight = _decay_weights(delta.to_numpy(), half_life_days).copy()
    # Sums per journey: each segment summed on its own, so nothing accumulates past Σw.
    total = np.add.reduceat(weight, starts) if len(starts) else np.zeros(0, np.int64)
    no_weight = total == 0
    weight[(starts + sizes - 1)[no_weight]] = 1  # J[-1] gets 1
    total[no_weight] = 1
    journey = np.repeat(np.arange(len(sizes)), sizes)
    rows = rows.select(
        "row",
        "rank",
        "amount_cents",
        "pos",
        "start",
        jpos=pl.col("pos") - pl.col("lo"),
        w=pl.Series(weight),
        total=pl.Series(total[journey]),
    )
    product = pl.col("amount_cents").abs().fill_null(0).cast(pl.Int128) * pl.col("w")
    rows = rows.with_columns(
        floor=(product // pl.col("total")).cast(pl.Int64),
        rem=(product % pl.col("total")).cast(pl.Int64),
    )
    floors = rows.get_column("floor").to_numpy()
    amounts = rows.get_column("amount_cents").abs().fill_null(0).to_numpy()
    leftover = amounts[starts] - (np.add.reduceat(floors, starts) if len(starts) else 0)
    # The place of each touch in (remainder desc, position asc) within its journey: journeys
    # come in ascending `rank`, so a stable sort on (rank, remainder desc) keeps each journey
    # on its own rows, in J order among equal remainders.
    order = rows.select(
        pl.arg_sort_by(["rank", "rem"], descending=[False, True], maintain_order=True)
    ).to_series()
    place = pl.Series(np.empty(rows.height, np.int64)).scatter(
        order, np.arange(rows.height) - rows.get_column("start").to_numpy()
    )
    rows = rows.with_columns(
        credit_cents=_signed(
            pl.col("floor") + (place < pl.Series(leftover[journey])).cast(pl.Int64)
        )
    ).filter(pl.col("w") > 0)
    if exported is not None:
        # Unexported touches took their share of the weights; only their rows go.
        rows = rows.filter(exported.gather(rows.get_column("pos")))
    return rows.select("row", "rank", "pos", "jpos", "credit_cents")


def _credited(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest, *, exported_only: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Touchpoints in journey order, and per credited touchpoint (only those of requested
    sources when `exported_only`): `row` (of the event in `events`), `rank` (of the event
    in SPEC order), `pos` (of the touchpoint in the ordered touchpoints), `jpos` and
    `credit_cents`, in SPEC order, all at once (the export itself goes by `plan_export`)."""
    model = request.attribution_model
    assert model is not None, "an attributed request has a model"
    ordered, journeys = _journey_ends(events, touchpoints, request)
    exported = ordered.get_column("source").is_in(request.sources or ())
    if not exported_only:
        exported = pl.Series(np.ones(ordered.height, dtype=bool))
    if model in _SINGLE_TOUCH_END:
        credited = _single_touch(journeys, _SINGLE_TOUCH_END[model])
    elif model == "last_non_direct_touch":
        credited = _last_non_direct(ordered, journeys)
    elif model == "time_decay":
        half_life = request.attribution_half_life_days or DEFAULT_HALF_LIFE_DAYS
        credited = _time_decay(events, ordered, journeys, half_life, exported)
    else:
        where = exported.arg_true().cast(pl.Int64)
        credited = _split_cents(_expansion_bounds(journeys, where), where, request)
    if model in (*_SINGLE_TOUCH_END, "last_non_direct_touch"):
        credited = credited.filter(exported.gather(credited.get_column("pos")))
    return ordered, credited.sort("rank", "jpos")


def _assemble(
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
    if request.sources and request.attribution_model not in _SINGLE_TOUCH_END:
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
            credited = _time_decay(
                self.events, self.touchpoints, units, half_life, exported, start="weighted_lo"
            )
        else:
            assert self.where is not None, "equal-share plans list the exportable positions"
            credited = _split_cents(units, self.where, request)
        rows = _assemble(self.events, self.touchpoints, credited, event_columns=None)
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
        since = dt.timedelta(seconds=_last_weighted_delta(half_life) + 1, microseconds=-1)
    ordered, journeys = _journey_ends(events, touchpoints, request, since)
    exported = ordered.get_column("source").is_in(request.sources or ())
    # cumulative[i]: exportable positions before position i.
    cumulative = pl.Series(np.concatenate([[0], np.cumsum(exported.to_numpy(), dtype=np.int64)]))
    touch_keep = [c for c in ordered.columns if c not in ("profile_id", "company_id")]
    kept_events = events.select(event_columns)
    if model in _SINGLE_TOUCH_END or model == "last_non_direct_touch":
        if model == "last_non_direct_touch":
            credited = _last_non_direct(ordered, journeys)
        else:
            credited = _single_touch(journeys, _SINGLE_TOUCH_END[model])
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
    units = _expansion_bounds(journeys, where).filter(pl.col("first") < pl.col("end"))
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


def split_attribution(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest
) -> pl.DataFrame:
    """The export rows in SPEC order with exactly the output columns in SPEC key order.

    Without `sources`: one row per event, amount unchanged. With `sources`: one row per
    credited touchpoint whose source is among `sources`, carrying its credited amount;
    events without such a row are left out. `amount` is `Decimal(14, 2)` (the store's
    NUMERIC(14,2)), `event_time_utc` a naive UTC `Datetime`.
    """
    return plan_export(events, touchpoints, request).collect()

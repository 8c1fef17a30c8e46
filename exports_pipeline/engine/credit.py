"""Credit in exact cents for the touchpoints of each journey J (`engine.journeys`), the
arithmetic the attribution models (`engine.models`) are made of: single-touch models pick
one end or the last non-direct touch; the equal, U-shaped and position-based splits expand
only the touches that may be exported; time decay expands J from its first touch of weight
above 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

# The cents of each position of a journey, from the absolute amount `a`, |J| `n` and the
# position `jpos`, and whether the position's share is above 0 (None: every one is).
Shares = Callable[[pl.Expr, pl.Expr, pl.Expr], tuple[pl.Expr, pl.Expr | None]]


def single_touch(journeys: pl.DataFrame, end: str) -> pl.DataFrame:
    """Per journey, its touch at `end` (`lo`: J[0], `hi`: J[-1]) credited the whole amount."""
    return journeys.select(
        "row",
        "rank",
        pl.col(end).alias("pos"),
        (pl.col(end) - pl.col("lo")).alias("jpos"),
        pl.col("amount_cents").alias("credit_cents"),
    )


def last_non_direct(ordered: pl.DataFrame, journeys: pl.DataFrame) -> pl.DataFrame:
    """Per journey, its last touch whose source is not `direct` (J[-1] when all are)
    credited the whole amount."""
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


def expansion_bounds(journeys: pl.DataFrame, where: pl.Series) -> pl.DataFrame:
    """`journeys` plus `first`/`end`: the run `where[first:end]` of `where` (positions that
    may be exported, ascending) that lies in each journey's `[lo, hi]`."""
    return journeys.with_columns(
        first=where.search_sorted(journeys.get_column("lo"), side="left").cast(pl.Int64),
        end=where.search_sorted(journeys.get_column("hi"), side="right").cast(pl.Int64),
    )


def split_cents(journeys: pl.DataFrame, where: pl.Series, shares: Shares) -> pl.DataFrame:
    """Every touchpoint `where[first:end]` of each journey with a share above 0 and its
    credited cents by `shares`: the floor of its exact share plus one of the leftover cents
    when it is among the largest remainders (ties: earlier first).

    A touchpoint's cents depend only on the amount, |J| = hi - lo + 1 and its position, so
    `[first, end)` may be any part of a journey's exported touches (`expansion_bounds` gives
    all of them): the rest of J is never expanded.
    """
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
    cents, has_share = shares(a, pl.col("n"), pl.col("jpos"))
    if has_share is not None:
        rows = rows.filter(has_share)
    return rows.select("row", "rank", "pos", "jpos", credit_cents=_signed(cents))


def equal_cents(a: pl.Expr, n: pl.Expr, jpos: pl.Expr) -> tuple[pl.Expr, pl.Expr | None]:
    """Equal shares: every remainder is a mod n, so the first a mod n touches get a cent."""
    return a // n + (jpos < a % n).cast(pl.Int64), None


def u_shaped_cents(a: pl.Expr, n: pl.Expr, jpos: pl.Expr) -> tuple[pl.Expr, pl.Expr | None]:
    """U-shaped shares: one touch takes all, two halve, and from three on the ends get 2/5
    each and each of the m = n-2 middles 1/(5m).

    Remainders are compared over the common denominator 5m: an end's is (2a mod 5)·m, a
    middle's a mod 5m. Ranking by (remainder desc, position) then has three shapes.
    """
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
            pl.when(is_end).then(end_floor).otherwise(mid_floor) + (rank < leftover).cast(pl.Int64)
        )
    )
    return cents, None


def _signed(cents: pl.Expr) -> pl.Expr:
    """Cents of the absolute amount back with the amount's sign; null amounts stay null."""
    amount = pl.col("amount_cents")
    return pl.when(amount.is_null()).then(None).when(amount < 0).then(-cents).otherwise(cents)


def _above(x: pl.Expr, y: pl.Expr) -> pl.Expr:
    return (x > y).cast(pl.Int64)


def position_based_cents(
    a: pl.Expr, n: pl.Expr, jpos: pl.Expr, first: int, last: int
) -> tuple[pl.Expr, pl.Expr]:
    """Cents of position `jpos` of an n-touch journey splitting `a` cents with the ends'
    percentages `first` and `last`, and whether that position's share is above 0: one touch
    takes all, two split first:last, more as `_many_touch_cents`."""
    two_first, two_last = two_touch_weights(first, last)
    two_weight = pl.when(jpos == 0).then(two_first).otherwise(two_last)
    cents = (
        pl.when(n == 1)
        .then(a)
        .when(n == 2)
        .then(_two_touch_cents(a, jpos, first, last))
        .otherwise(_many_touch_cents(a, n, jpos, first, last))
    )
    is_first, is_last, mid = jpos == 0, jpos == n - 1, 100 - first - last
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


def _many_touch_cents(a: pl.Expr, n: pl.Expr, jpos: pl.Expr, first: int, last: int) -> pl.Expr:
    """Position-based cents of a journey of n >= 3 touches.

    Over the common denominator 100·m (m = n-2 middles) the weights are first·m, last·m and
    100-first-last per middle, so the floors are (a·first) // 100, (a·last) // 100 and
    (a·mid) // 100m, the remainders ((a·first) mod 100)·m, ((a·last) mod 100)·m and
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
    is_first, is_last = jpos == 0, jpos == n - 1
    place = (
        pl.when(is_first)
        .then(m * _above(mid_rem, first_rem) + _above(last_rem, first_rem))
        .when(is_last)
        .then(1 - _above(last_rem, first_rem) + m * (1 - _above(last_rem, mid_rem)))
        .otherwise(1 - _above(mid_rem, first_rem) + (jpos - 1) + _above(last_rem, mid_rem))
    )
    return pl.when(is_first).then(first_floor).when(is_last).then(last_floor).otherwise(
        mid_floor
    ) + (place < leftover).cast(pl.Int64)


def two_touch_weights(first: int, last: int) -> tuple[int, int]:
    """Two touches: first:last in proportion, equal when both are 0."""
    return (first, last) if first + last else (1, 1)


def _two_touch_cents(a: pl.Expr, jpos: pl.Expr, first: int, last: int) -> pl.Expr:
    """Position-based cents of a journey of two touches."""
    two_first, two_last = two_touch_weights(first, last)
    two_weight = pl.when(jpos == 0).then(two_first).otherwise(two_last)
    other_weight = pl.when(jpos == 0).then(two_last).otherwise(two_first)
    own, other = a * two_weight, a * other_weight
    total = two_first + two_last
    two_leftover = a - own // total - other // total
    # The leftover cent (at most one) goes to the larger remainder, the first on a tie.
    two_place = (
        pl.when(jpos == 0)
        .then(_above(other % total, own % total))
        .otherwise(1 - _above(own % total, other % total))
    )
    return own // total + (two_place < two_leftover).cast(pl.Int64)


def _decay_weights(delta_seconds: np.ndarray, half_life_days: int) -> np.ndarray:
    """w = floor(2^32 · 2^(-Δ/h)) for whole seconds Δ >= 0, as Int64 (SPEC 6.7)."""
    # NumPy divides exactly (IEEE); Polars would multiply by the reciprocal of a scalar.
    exponent = pl.Series(-(delta_seconds.astype(np.float64) / float(half_life_days * 86_400)))
    weights = (pl.select(pl.lit(2.0).pow(exponent)).to_series() * 2.0**32).floor()
    return weights.cast(pl.Int64).to_numpy()


def last_weighted_delta(half_life_days: int) -> int:
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


def time_decay(
    events: pl.DataFrame,
    ordered: pl.DataFrame,
    journeys: pl.DataFrame,
    half_life_days: int,
    exported: pl.Series | None = None,
    start: str = "lo",
) -> pl.DataFrame:
    """Every touchpoint of J with a weight above 0 and its credited cents (SPEC 6.7).

    J is expanded from position `start` (a column: `lo`, or from where weights are above 0,
    see `last_weighted_delta`) to `hi`; touches of weight 0 take no part in the shares.

    w = floor(2^32 · 2^(-Δ/h)) in float64 (Δ whole seconds from the touch to the event, h
    the half-life in seconds); a touch's share is w / Σw over J, or J[-1] takes all when
    every weight is 0. Cents are exact: a·w needs up to 79 bits (a < 2^47, w <= 2^32), so
    it is an Int128; its quotient by Σw is at most a and its remainder below Σw, which fit
    in 64 bits again (Σw <= |J|·2^32). A touch's cents depend on all of J, so J is expanded
    whole and `exported` (when given) filters only the result.
    """
    rows, starts, sizes = _expanded(journeys, start)
    journey = np.repeat(np.arange(len(sizes)), sizes)
    weight, total = _decay_shares(events, ordered, rows, starts, sizes, half_life_days)
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
    rows = _decay_cents(rows, starts, journey).filter(pl.col("w") > 0)
    if exported is not None:
        # Unexported touches took their share of the weights; only their rows go.
        rows = rows.filter(exported.gather(rows.get_column("pos")))
    return rows.select("row", "rank", "pos", "jpos", "credit_cents")


def _expanded(journeys: pl.DataFrame, start: str) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """One row per position `pos` from `start` to `hi` of each journey, with `start` its
    journey's first row; and per journey that first row and its size."""
    sizes = (journeys.get_column("hi") - journeys.get_column(start) + 1).to_numpy()
    # Each journey is a run of consecutive rows once expanded: `starts` are their first rows.
    starts = np.cumsum(sizes) - sizes
    rows = journeys.with_columns(
        pos=pl.int_ranges(start, pl.col("hi") + 1), start=pl.Series(starts, dtype=pl.Int64)
    ).explode("pos")
    return rows, starts, sizes


def _decay_shares(
    events: pl.DataFrame,
    ordered: pl.DataFrame,
    rows: pl.DataFrame,
    starts: np.ndarray,
    sizes: np.ndarray,
    half_life_days: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per expanded row its weight w, and per journey Σw; a journey whose every weight is 0
    has weight 1 at J[-1]."""
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
    return weight, total


def _decay_cents(rows: pl.DataFrame, starts: np.ndarray, journey: np.ndarray) -> pl.DataFrame:
    """`rows` (weight `w` and its journey's `total` each) with `credit_cents`: the floor of
    amount·w/total plus one leftover cent for the largest remainders (ties: earlier)."""
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
    return rows.with_columns(
        credit_cents=_signed(
            pl.col("floor") + (place < pl.Series(leftover[journey])).cast(pl.Int64)
        )
    )

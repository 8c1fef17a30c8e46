"""Stage 3: journeys, credit by attribution model in exact cents, and the export rows.

Everything is vectorised over Polars frames. Touchpoints are sorted by (journey key,
`touch_time_utc`, `id`), so the journey J of an event is a contiguous run `[lo, hi]` of that
order; binary searches find both ends, and models that credit several touchpoints expand the run.
"""

from __future__ import annotations

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
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The touchpoints journeys can draw from, in journey order (row `i` is position `i`),
    and per event with a non-empty journey: `row` (its row in `events`), `rank` (its place
    in SPEC order), `amount_cents`, and `lo`/`hi`, the positions of J[0] and J[-1]."""
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
    # No touch of the code in the window: `hi` falls before the code's block or `lo` after
    # the event's last touch, so lo > hi.
    journeys = journeys.select(
        pl.col("row").cast(pl.Int64),
        pl.col("rank").cast(pl.Int64),
        "amount_cents",
        lo=lo.cast(pl.Int64),
        hi=hi,
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


def _split_cents(
    journeys: pl.DataFrame, request: ExportRequest, exported: pl.Series | None = None
) -> pl.DataFrame:
    """Every touchpoint of J with a share above 0 and its credited cents: the floor of its
    exact share plus one of the leftover cents when it is among the largest remainders
    (ties: earlier first).

    A touchpoint's cents depend only on the amount, |J| and its position, so when
    `exported` (per ordered touchpoint: may it be exported?) is given, the others are
    dropped before any arithmetic.
    """
    model = request.attribution_model
    if exported is None:
        rows = journeys.with_columns(pos=pl.int_ranges("lo", pl.col("hi") + 1)).explode("pos")
    else:
        # Expand only the exported positions of each journey: `where` lists them in order,
        # and binary searches give each journey's slice of it.
        where = exported.arg_true().cast(pl.Int64)
        rows = (
            journeys.with_columns(
                first=where.search_sorted(journeys.get_column("lo"), side="left").cast(pl.Int64),
                end=where.search_sorted(journeys.get_column("hi"), side="right").cast(pl.Int64),
            )
            .filter(pl.col("first") < pl.col("end"))
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


def _time_decay(
    events: pl.DataFrame,
    ordered: pl.DataFrame,
    journeys: pl.DataFrame,
    half_life_days: int,
    exported: pl.Series | None = None,
) -> pl.DataFrame:
    """Every touchpoint of J with a weight above 0 and its credited cents (SPEC 6.7).

    w = floor(2^32 · 2^(-Δ/h)) in float64 (Δ whole seconds from the touch to the event, h
    the half-life in seconds); a touch's share is w / Σw over J, or J[-1] takes all when
    every weight is 0. Cents are exact: a·w needs up to 79 bits (a < 2^47, w <= 2^32), so
    it is an Int128; its quotient by Σw is at most a and its remainder below Σw, which fit
    in 64 bits again (Σw <= |J|·2^32). A touch's cents depend on all of J, so J is expanded
    whole and `exported` (when given) filters only the result.
    """
    sizes = (journeys.get_column("hi") - journeys.get_column("lo") + 1).to_numpy()
    # Each journey is a run of consecutive rows once expanded: `starts` are their first rows.
    starts = np.cumsum(sizes) - sizes
    rows = journeys.with_columns(
        pos=pl.int_ranges("lo", pl.col("hi") + 1), start=pl.Series(starts)
    ).explode("pos")
    pos = rows.get_column("pos")
    # J holds only touches at or before the event, so Δ >= 0 and its floor is a truncation.
    delta = (
        events.get_column("event_time_utc").gather(rows.get_column("row"))
        - ordered.get_column("touch_time_utc").gather(pos)
    ).dt.total_microseconds() // 1_000_000
    # NumPy divides exactly (IEEE); Polars would multiply by the reciprocal of a scalar.
    exponent = pl.Series(-(delta.cast(pl.Float64).to_numpy() / float(half_life_days * 86_400)))
    weights = (pl.select(pl.lit(2.0).pow(exponent)).to_series() * 2.0**32).floor()
    weight = weights.cast(pl.Int64).to_numpy().copy()
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
    `credit_cents`, sorted in SPEC order."""
    model = request.attribution_model
    assert model is not None, "an attributed request has a model"
    ordered, journeys = _journey_ends(events, touchpoints, request)
    exported = ordered.get_column("source").is_in(request.sources or ())
    if model in _SINGLE_TOUCH_END:
        credited = _single_touch(journeys, _SINGLE_TOUCH_END[model])
    elif model == "last_non_direct_touch":
        credited = _last_non_direct(ordered, journeys)
    elif model == "time_decay":
        half_life = request.attribution_half_life_days or DEFAULT_HALF_LIFE_DAYS
        credited = _time_decay(
            events, ordered, journeys, half_life, exported if exported_only else None
        )
    else:
        credited = _split_cents(journeys, request, exported if exported_only else None)
    if exported_only and model in (*_SINGLE_TOUCH_END, "last_non_direct_touch"):
        credited = credited.filter(exported.gather(credited.get_column("pos")))
    return ordered, credited.sort("rank", "jpos")


def _assemble(
    events: pl.DataFrame,
    ordered: pl.DataFrame,
    credited: pl.DataFrame,
    *,
    event_columns: list[str],
) -> pl.DataFrame:
    # Rows of both inputs are fetched by position: cheaper than joins on ids.
    touch_columns = ordered.drop("profile_id", "company_id").rename({"id": "touchpoint_id"})
    return pl.concat(
        [
            events.select(event_columns)[credited.get_column("row")],
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


def split_attribution(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest
) -> pl.DataFrame:
    """The export rows in SPEC order with exactly the output columns in SPEC key order.

    Without `sources`: one row per event, amount unchanged. With `sources`: one row per
    credited touchpoint whose source is among `sources`, carrying its credited amount;
    events without such a row are left out. `amount` is `Decimal(14, 2)` (the store's
    NUMERIC(14,2)), `event_time_utc` a naive UTC `Datetime`.
    """
    columns = output_columns(request)
    if not request.attributed:
        return _project(events.sort("event_time_utc", "id"), columns)
    missing = [f for f in AD_HIERARCHY_FIELDS if f in columns and f not in touchpoints.columns]
    if missing:
        raise ValueError(f"touchpoints lack ad hierarchy columns {missing}: resolve them first")
    ordered, credited = _credited(events, touchpoints, request, exported_only=True)
    from_event = [c for c in columns if c not in _NOT_FROM_EVENT]
    rows = _assemble(events, ordered, credited, event_columns=["id", "event_time_utc", *from_event])
    return _project(rows.rename({"credit_cents": "amount_cents"}), columns)

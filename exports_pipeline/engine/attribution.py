"""Stage 3: journeys, credit by attribution model in exact cents, and the export rows.

Everything is vectorised over Polars frames. Touchpoints are sorted by (journey key,
`touch_time_utc`, `id`), so the journey J of an event is a contiguous run `[lo, hi]` of that
order; binary searches find both ends, and models that credit several touchpoints expand the run.
"""

from __future__ import annotations

import polars as pl

from exports_pipeline.engine.extract import journey_key, journey_sources
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
    journeys: pl.DataFrame, model: str, exported: pl.Series | None = None
) -> pl.DataFrame:
    """Every touchpoint of J with its credited cents: the floor of its exact share plus one
    of the leftover cents when it is among the largest remainders (ties: earlier first).

    A touchpoint's cents depend only on the amount, |J| and its position, so when
    `exported` (per ordered touchpoint: may it be exported?) is given, the others are
    dropped before any arithmetic.
    """
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
    else:
        # Equal shares: every remainder is a mod n, so the first a mod n touches get a cent.
        cents = a // n + (jpos < a % n).cast(pl.Int64)
    signed = pl.when(pl.col("amount_cents") < 0).then(-cents).otherwise(cents)
    return rows.select(
        "row",
        "rank",
        "pos",
        "jpos",
        credit_cents=pl.when(pl.col("amount_cents").is_null()).then(None).otherwise(signed),
    )


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
    else:
        credited = _split_cents(journeys, model, exported if exported_only else None)
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

"""Stage 3: journeys, credit by attribution model in exact cents, and the export rows.

Everything is vectorised over Polars frames. Touchpoints are sorted by (journey key,
`touch_time_utc`, `id`), so the journey J of an event is a contiguous run `[lo, hi]` of that
order; asof joins find both ends, and models that credit several touchpoints expand the run.
"""

from __future__ import annotations

import polars as pl

from exports_pipeline.engine.extract import journey_key, journey_sources
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.engine.vocabulary import AD_HIERARCHY_FIELDS

# The decimal type of `amount` in export rows: exact money with two decimals.
AMOUNT = pl.Decimal(38, 2)

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
    """Touchpoints in journey order with their position `pos`, and per event with a
    non-empty journey: `event_id`, `amount_cents`, and `lo`/`hi`, the positions of J[0]
    and J[-1]."""
    key = journey_key(request)
    ordered = touchpoints.filter(pl.col(key).is_not_null())
    sources = journey_sources(request)
    if sources is not None:
        ordered = ordered.filter(pl.col("source").is_in(sources))
    ordered = (
        ordered.sort(key, "touch_time_utc", "id")
        .with_row_index("pos")
        .with_columns(pl.col("pos").cast(pl.Int64))
    )
    # One row per distinct (key, time): asof joins then never have to break ties.
    stamps = (
        ordered.group_by(key, "touch_time_utc")
        .agg(first=pl.col("pos").min(), last=pl.col("pos").max())
        .rename({"touch_time_utc": "stamp"})
        .sort("stamp")
    )
    journeys = (
        events.select(pl.col("id").alias("event_id"), "event_time_utc", key, "amount_cents")
        .filter(pl.col(key).is_not_null())
        .sort("event_time_utc")
        .join_asof(
            stamps.select(key, "stamp", hi="last"),
            left_on="event_time_utc",
            right_on="stamp",
            by=key,
            strategy="backward",
            check_sortedness=False,
        )
        .drop("stamp")
    )
    window = request.attribution_window or 0
    if window == 0:
        starts = ordered.group_by(key).agg(lo=pl.col("pos").min())
        journeys = journeys.join(starts, on=key, how="left")
    else:
        journeys = (
            journeys.with_columns(oldest=pl.col("event_time_utc") - pl.duration(days=window))
            .sort("oldest")
            .join_asof(
                stamps.select(key, "stamp", lo="first"),
                left_on="oldest",
                right_on="stamp",
                by=key,
                strategy="forward",
                check_sortedness=False,
            )
            .drop("oldest", "stamp")
        )
    journeys = journeys.filter(
        pl.col("lo").is_not_null() & pl.col("hi").is_not_null() & (pl.col("lo") <= pl.col("hi"))
    ).select("event_id", "amount_cents", "lo", "hi")
    return ordered, journeys


def _single_touch(journeys: pl.DataFrame, end: str) -> pl.DataFrame:
    return journeys.select(
        "event_id",
        pl.col(end).alias("pos"),
        (pl.col(end) - pl.col("lo")).alias("jpos"),
        pl.col("amount_cents").alias("credit_cents"),
    )


def _last_non_direct(ordered: pl.DataFrame, journeys: pl.DataFrame) -> pl.DataFrame:
    # The latest non-direct position at or before each position; it belongs to the same
    # journey only when it is not before the journey's first touch.
    non_direct = ordered.select(
        "pos",
        last_non_direct=pl.when(pl.col("source") != "direct").then(pl.col("pos")).forward_fill(),
    )
    credited = journeys.join(non_direct, left_on="hi", right_on="pos", how="left").select(
        "event_id",
        "lo",
        "amount_cents",
        pos=pl.when(pl.col("last_non_direct") >= pl.col("lo"))
        .then(pl.col("last_non_direct"))
        .otherwise(pl.col("hi")),
    )
    return credited.select(
        "event_id",
        "pos",
        (pl.col("pos") - pl.col("lo")).alias("jpos"),
        pl.col("amount_cents").alias("credit_cents"),
    )


def _split_cents(journeys: pl.DataFrame, model: str) -> pl.DataFrame:
    """Every touchpoint of J with its credited cents: the floor of its exact share plus one
    of the leftover cents when it is among the largest remainders (ties: earlier first)."""
    rows = (
        journeys.with_columns(pos=pl.int_ranges("lo", pl.col("hi") + 1))
        .explode("pos")
        .with_columns(jpos=pl.col("pos") - pl.col("lo"), n=pl.col("hi") - pl.col("lo") + 1)
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
        "event_id",
        "pos",
        "jpos",
        credit_cents=pl.when(pl.col("amount_cents").is_null()).then(None).otherwise(signed),
    )


def journey_credits(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest
) -> pl.DataFrame:
    """Per credited touchpoint of every event: `event_id`, `jpos` (position in J), the
    touchpoint's columns (its `id` as `touchpoint_id`) and `credit_cents`, before the
    filter on `sources`."""
    model = request.attribution_model
    assert model is not None, "an attributed request has a model"
    ordered, journeys = _journey_ends(events, touchpoints, request)
    if model in _SINGLE_TOUCH_END:
        credited = _single_touch(journeys, _SINGLE_TOUCH_END[model])
    elif model == "last_non_direct_touch":
        credited = _last_non_direct(ordered, journeys)
    else:
        credited = _split_cents(journeys, model)
    touch_columns = ordered.drop("profile_id", "company_id").rename({"id": "touchpoint_id"})
    return credited.join(touch_columns, on="pos", how="left").drop("pos")


def _project(rows: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    expressions = []
    for name in columns:
        if name == "amount":
            expressions.append((pl.col("amount_cents").cast(AMOUNT) / 100).alias("amount"))
        else:
            expressions.append(pl.col(name))
    return rows.select(expressions)


def split_attribution(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest
) -> pl.DataFrame:
    """The export rows in SPEC order with exactly the output columns in SPEC key order.

    Without `sources`: one row per event, amount unchanged. With `sources`: one row per
    credited touchpoint whose source is among `sources`, carrying its credited amount;
    events without such a row are left out. `amount` is `Decimal(38, 2)`, `event_time_utc`
    a naive UTC `Datetime`.
    """
    columns = output_columns(request)
    if not request.attributed:
        return _project(events.sort("event_time_utc", "id"), columns)
    credits = journey_credits(events, touchpoints, request).filter(
        pl.col("source").is_in(request.sources or ())
    )
    rows = (
        credits.join(
            events.drop("amount_cents").rename({"id": "event_id"}), on="event_id", how="left"
        )
        .rename({"event_id": "id", "credit_cents": "amount_cents"})
        .sort("event_time_utc", "id", "jpos")
    )
    missing = [f for f in AD_HIERARCHY_FIELDS if f in columns and f not in rows.columns]
    if missing:
        raise ValueError(f"touchpoints lack ad hierarchy columns {missing}: resolve them first")
    return _project(rows, columns)

"""Stage 3: the export rows of a day's events credited over their journeys' touchpoints.

Everything is vectorised over Polars frames: journeys (`engine.journeys`), credit by model
in exact cents (`engine.credit`), and the rows planned and made slice by slice
(`engine.plan`); `split_attribution` makes them all at once.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from exports_pipeline.engine.credit import (
    SINGLE_TOUCH_END,
    expansion_bounds,
    last_non_direct,
    single_touch,
    split_cents,
    time_decay,
)
from exports_pipeline.engine.journeys import journey_ends
from exports_pipeline.engine.plan import plan_export
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.vocabulary import DEFAULT_HALF_LIFE_DAYS


def credited_touchpoints(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest, *, exported_only: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Touchpoints in journey order, and per credited touchpoint (only those of requested
    sources when `exported_only`): `row` (of the event in `events`), `rank` (of the event
    in SPEC order), `pos` (of the touchpoint in the ordered touchpoints), `jpos` and
    `credit_cents`, in SPEC order, all at once (the export itself goes by `plan_export`)."""
    model = request.attribution_model
    assert model is not None, "an attributed request has a model"
    ordered, journeys = journey_ends(events, touchpoints, request)
    exported = ordered.get_column("source").is_in(request.sources or ())
    if not exported_only:
        exported = pl.Series(np.ones(ordered.height, dtype=bool))
    if model in SINGLE_TOUCH_END:
        credited = single_touch(journeys, SINGLE_TOUCH_END[model])
    elif model == "last_non_direct_touch":
        credited = last_non_direct(ordered, journeys)
    elif model == "time_decay":
        half_life = request.attribution_half_life_days or DEFAULT_HALF_LIFE_DAYS
        credited = time_decay(events, ordered, journeys, half_life, exported)
    else:
        where = exported.arg_true().cast(pl.Int64)
        credited = split_cents(expansion_bounds(journeys, where), where, request)
    if model in (*SINGLE_TOUCH_END, "last_non_direct_touch"):
        credited = credited.filter(exported.gather(credited.get_column("pos")))
    return ordered, credited.sort("rank", "jpos")


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

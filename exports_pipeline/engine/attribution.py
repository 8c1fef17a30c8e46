"""Stage 3: the export rows of a day's events credited over their journeys' touchpoints.

Everything is vectorised over Polars frames: journeys (`engine.journeys`), credit by model
in exact cents (`engine.models`, `engine.credit`), and the rows planned and made slice by
slice (`engine.plan`); `split_attribution` makes them all at once.
"""

from __future__ import annotations

import polars as pl

from exports_pipeline.engine.models import model_of
from exports_pipeline.engine.plan import journey_touches, plan_export
from exports_pipeline.engine.request import ExportRequest


def credited_touchpoints(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest, *, exported_only: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Touchpoints in journey order, and per credited touchpoint (only those of requested
    sources when `exported_only`): `row` (of the event in `events`), `rank` (of the event
    in SPEC order), `pos` (of the touchpoint in the ordered touchpoints), `jpos` and
    `credit_cents`, in SPEC order, all at once: the credit the export's plan makes slice by
    slice (`plan_export`)."""
    model = model_of(request)
    touches, journeys = journey_touches(
        model, events, touchpoints, request, events.columns, exported_only=exported_only
    )
    units, _ = model.plan(touches, journeys)
    return touches.ordered, model.credit(touches, units).sort("rank", "jpos")


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

"""The subscription schedule: one export per subscription per ended local day.

Every 15 minutes (so within the hour after a day ends even in :30 and :45 offset
timezones) the schedule computes the (subscription, day) pairs that are due, including
days missed while the daemon was down (bounded by `StoreResource.subscription_catch_up_days`),
and queues one export for each. The unique (subscription_id, date) constraint makes that
exactly once; the exports are launched by `export_request_sensor` like API requests, so
there is one path from a queued export to a run.
"""

import datetime as dt

from dagster import DefaultScheduleStatus, ScheduleEvaluationContext, SkipReason, schedule

from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import StoreResource
from exports_pipeline.store.subscriptions import create_subscription_export, due_subscription_days

SUBSCRIPTION_CRON = "*/15 * * * *"


def queue_due_subscription_exports(
    store: StoreResource, *, now: dt.datetime, catch_up_days: int
) -> list[int]:
    """Queue the export of every due (subscription, day); the new export ids."""
    with store.engine.connect() as conn:
        due = due_subscription_days(conn, now=now, catch_up_days=catch_up_days)
    created = []
    for subscription, day in due:
        export_id = create_subscription_export(store.engine, subscription, day)
        if export_id is not None:
            created.append(export_id)
    return created


@schedule(
    name="subscription_export_schedule",
    # Dagster wants a target; the runs themselves come from export_request_sensor.
    job=event_export_job,
    cron_schedule=SUBSCRIPTION_CRON,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Queues one export per standing subscription for each ended local day.",
)
def subscription_export_schedule(
    context: ScheduleEvaluationContext, store: StoreResource
) -> SkipReason:
    now = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    created = queue_due_subscription_exports(
        store, now=now, catch_up_days=store.subscription_catch_up_days
    )
    if created:
        context.log.info(f"queued subscription exports {created}")
        return SkipReason(
            f"queued {len(created)} subscription exports ({', '.join(map(str, created))}); "
            "export_request_sensor launches them"
        )
    return SkipReason("no subscription day is due")

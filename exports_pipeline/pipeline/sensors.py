"""Sensors: queued exports become runs; unsettled exports are reconciled with their runs."""

import datetime as dt

from dagster import (
    DefaultSensorStatus,
    RunConfig,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from exports_pipeline.clock import utcnow
from exports_pipeline.engine.request import InvalidExportRequest, request_from
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.failures import invalid_request_message
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.partitions import PARTITIONS_START, is_export_date_partition
from exports_pipeline.pipeline.reconcile import (
    fail_runs_with_dead_workers,
    settle_exports,
    terminate_cancelled_runs,
)
from exports_pipeline.pipeline.resources import StoreResource
from exports_pipeline.store.exports import (
    QUEUED,
    ExportRecord,
    exports_with_status,
    mark_failed,
)

BATCH = 100
# A queued export at or below the cursor without any run after this long is requested
# again (the daemon may have stopped between advancing the cursor and creating the run);
# the run key keeps it to one run.
RESWEEP_AFTER = dt.timedelta(seconds=60)


def _run_request(record: ExportRecord) -> RunRequest:
    """The run of a queued export: its config is the export id (the run reads the rest)."""
    return RunRequest(
        run_key=str(record.id),
        partition_key=record.date.isoformat(),
        tags={"export_id": str(record.id), "space_id": record.space_id, "trigger": record.trigger},
        run_config=RunConfig(ops={"validate_request": ExportRequestConfig(export_id=record.id)}),
    )


def _unlaunchable_reason(record: ExportRecord) -> str | None:
    if not is_export_date_partition(record.date):
        return invalid_request_message(
            f"date {record.date.isoformat()} cannot be exported (it must not be before "
            f"{PARTITIONS_START.isoformat()} nor in the future)"
        )
    try:
        request_from(record.stored_request)
    except InvalidExportRequest as exc:
        return invalid_request_message(f"stored parameters do not parse ({len(exc.errors)})")
    return None


@sensor(
    name="export_request_sensor",
    job=event_export_job,
    minimum_interval_seconds=5,
    default_status=DefaultSensorStatus.RUNNING,
    description="Turns queued exports (API, schedule) into runs: run key = export id.",
)
def export_request_sensor(context: SensorEvaluationContext, store: StoreResource) -> SensorResult:
    last_id = int(context.cursor or 0)
    now = utcnow()
    with store.engine.connect() as conn:
        new = exports_with_status(conn, QUEUED, after_id=last_id, limit=BATCH)
        old = [
            r
            for r in exports_with_status(conn, QUEUED, limit=BATCH)
            if r.id <= last_id and r.created_at <= now - RESWEEP_AFTER
        ]
    orphans = [
        r
        for r in old
        if not context.instance.get_runs(filters=RunsFilter(tags={"export_id": str(r.id)}), limit=1)
    ]
    run_requests = []
    for record in [*orphans, *new]:
        reason = _unlaunchable_reason(record)
        if reason is not None:
            with store.engine.begin() as conn:
                mark_failed(conn, record.id, message=reason)
            context.log.warning(f"export {record.id} cannot run: {reason}")
            continue
        run_requests.append(_run_request(record))
    cursor = str(max([last_id, *(r.id for r in new)]))
    if not run_requests:
        return SensorResult(skip_reason=SkipReason("no queued exports"), cursor=cursor)
    context.log.info(
        f"requesting runs for exports {', '.join(rr.run_key or '' for rr in run_requests)}"
    )
    return SensorResult(run_requests=run_requests, cursor=cursor)


@sensor(
    name="export_status_sensor",
    minimum_interval_seconds=10,
    default_status=DefaultSensorStatus.RUNNING,
    description="Terminates runs of cancelled exports, fails runs whose worker died and "
    "settles exports of ended runs (failed, or cancelled when terminated).",
)
def export_status_sensor(context: SensorEvaluationContext, store: StoreResource) -> SkipReason:
    terminated = terminate_cancelled_runs(store.engine, context.instance)
    for run_id in terminated:
        context.log.info(f"run {run_id}: its export was cancelled; terminated the run")
    dead = fail_runs_with_dead_workers(context.instance)
    for run_id in dead:
        context.log.warning(f"run {run_id}: worker process is gone; reported the run failed")
    settled = settle_exports(store.engine, context.instance)
    for item in settled:
        context.log.info(f"export {item.export_id} marked {item.status}: {item.message}")
    return SkipReason(
        f"{len(terminated)} runs of cancelled exports terminated, {len(dead)} dead run "
        f"workers, {len(settled)} exports settled"
        if terminated or dead or settled
        else "all exports agree with their runs"
    )

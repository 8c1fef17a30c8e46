"""Sensors: queued exports become runs; unsettled exports are reconciled with their runs."""

import datetime as dt
import time

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
from sqlalchemy import Connection

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
# Dagster's sensor daemon starts a sensor's tick at most every 5 s whatever its interval
# (MIN_INTERVAL_LOOP_TIME of dagster._daemon.sensor): while nothing is queued, a tick looks
# again every POLL_SECONDS for up to StoreResource.request_wait_seconds, so that a new
# export becomes a run within a poll, not within 5 s (docs/pipeline.md).
POLL_SECONDS = 0.2


def _queued(
    conn: Connection, last_id: int, now: dt.datetime
) -> tuple[list[ExportRecord], list[ExportRecord]]:
    """(new, old): queued exports after the cursor, and those at or below it queued for
    RESWEEP_AFTER. With nothing queued this is one query on the (status, id) index."""
    queued = exports_with_status(conn, QUEUED, limit=BATCH)
    new = [r for r in queued if r.id > last_id]
    if len(queued) == BATCH:
        # More queued than one page (runs waiting in Dagster's queue): read past the cursor.
        new = exports_with_status(conn, QUEUED, after_id=last_id, limit=BATCH)
    old = [r for r in queued if r.id <= last_id and r.created_at <= now - RESWEEP_AFTER]
    return new, old


def _without_runs(
    context: SensorEvaluationContext, records: list[ExportRecord]
) -> list[ExportRecord]:
    """The records no run serves (one run-storage query for all of them)."""
    if not records:
        return []
    runs = context.instance.get_runs(
        filters=RunsFilter(tags={"export_id": [str(r.id) for r in records]})
    )
    served = {run.tags.get("export_id") for run in runs}
    return [r for r in records if str(r.id) not in served]


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
    minimum_interval_seconds=1,
    default_status=DefaultSensorStatus.RUNNING,
    description="Turns queued exports (API, schedule) into runs: run key = export id.",
)
def export_request_sensor(context: SensorEvaluationContext, store: StoreResource) -> SensorResult:
    last_id = int(context.cursor or 0)
    deadline = time.monotonic() + store.request_wait_seconds
    with store.engine.connect() as conn:
        new, old = _queued(conn, last_id, utcnow())
        orphans = _without_runs(context, old)
        while not new and not orphans and time.monotonic() + POLL_SECONDS < deadline:
            conn.rollback()  # each poll reads the latest commits
            time.sleep(POLL_SECONDS)
            new = exports_with_status(conn, QUEUED, after_id=last_id, limit=BATCH)
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

"""Make the `exports` table agree with Dagster, from state rather than events.

Run events can be missed (a sensor tick errors, the daemon is down, a worker dies without
reporting anything), so each pass looks at the exports that are not settled yet and at
the runs serving them, and settles what is decided. Running a pass twice changes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from sqlalchemy import Engine

from exports_pipeline.clock import utcnow
from exports_pipeline.pipeline.failures import INTERNAL_ERROR, RUN_LOST, WORKER_DIED
from exports_pipeline.pipeline.job import EXPORT_JOB_NAME
from exports_pipeline.pipeline.workers import worker_is_dead
from exports_pipeline.store.exports import (
    CANCELLED,
    CANCELLED_MESSAGE,
    FAILED,
    PROCESSING,
    QUEUED,
    ExportRecord,
    exports_with_status,
    mark_cancelled,
    mark_failed,
    statuses_of,
)

FAILURE_REASON_TAG = "exports/failure_reason"
WORKER_DIED_REASON = "worker_died"
# A queued export gets this long to have its run created before we look for it.
QUEUED_GRACE = dt.timedelta(seconds=30)
BATCH = 500


@dataclass(frozen=True)
class Settled:
    export_id: int
    message: str
    status: str = FAILED


def fail_runs_with_dead_workers(instance: DagsterInstance) -> list[str]:
    """Report started export runs whose worker process is gone as failed; their run ids.

    Only for launchers that cannot check worker health themselves (the default one).
    """
    if instance.run_launcher.supports_check_run_worker_health:
        return []
    failed = []
    # STARTING too: a worker killed before the run's first event leaves it STARTING, and
    # run monitoring's start timeout is minutes.
    runs = instance.get_runs(
        filters=RunsFilter(
            job_name=EXPORT_JOB_NAME,
            statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED],
        )
    )
    for run in runs:
        if not worker_is_dead(instance, run):
            continue
        instance.add_run_tags(run.run_id, {FAILURE_REASON_TAG: WORKER_DIED_REASON})
        instance.report_run_failed(
            run,
            message=f"The run worker process is gone (killed or crashed) while the run was "
            f"{run.status.value}; marked failed by export_status_sensor.",
        )
        failed.append(run.run_id)
    return failed


def _run_of(instance: DagsterInstance, record: ExportRecord) -> DagsterRun | None:
    if record.run_id:
        run = instance.get_run_by_id(record.run_id)
        if run is not None:
            return run
    runs = instance.get_runs(filters=RunsFilter(tags={"export_id": str(record.id)}), limit=1)
    return runs[0] if runs else None


def _failure_message(instance: DagsterInstance, run: DagsterRun) -> str | None:
    """What to tell the customer about an export whose run ended this way; None: not ended."""
    if run.status == DagsterRunStatus.FAILURE:
        if run.tags.get(FAILURE_REASON_TAG) == WORKER_DIED_REASON:
            return WORKER_DIED
        # An op that fails settles its export itself; a failed run without a failed step
        # is a run whose process went away (killed, OOM) or never came up.
        step_failed = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)
        return INTERNAL_ERROR if step_failed else WORKER_DIED
    if run.status == DagsterRunStatus.SUCCESS:
        # The last op marks the export completed before the run succeeds; a success that
        # left the export unsettled means the file was never recorded.
        return INTERNAL_ERROR
    return None


def settle_exports(
    engine: Engine, instance: DagsterInstance, *, now: dt.datetime | None = None
) -> list[Settled]:
    """Mark failed every unsettled export whose run has ended without completing it
    (cancelled when the run was terminated)."""
    now = now or utcnow()
    with engine.connect() as conn:
        candidates = [
            *exports_with_status(conn, PROCESSING, limit=BATCH),
            *(
                r
                for r in exports_with_status(conn, QUEUED, limit=BATCH)
                if r.created_at <= now - QUEUED_GRACE
            ),
        ]
    settled = []
    for record in candidates:
        run = _run_of(instance, record)
        if run is not None and run.status == DagsterRunStatus.CANCELED:
            # Terminated (the Dagster UI, a cancel): the export is cancelled, not failed.
            with engine.begin() as conn:
                if mark_cancelled(conn, record.id):
                    settled.append(Settled(record.id, CANCELLED_MESSAGE, CANCELLED))
            continue
        if run is None:
            # A processing export always has a run; if Dagster lost it, nothing will ever
            # finish the export. A queued one without a run is the request sensor's to launch.
            lost = record.status == PROCESSING and (record.started_at or now) <= now - QUEUED_GRACE
            message = RUN_LOST if lost else None
        else:
            message = _failure_message(instance, run)
        if message is None:
            continue
        with engine.begin() as conn:
            if mark_failed(conn, record.id, message=message):
                settled.append(Settled(record.id, message))
    return settled


# The run statuses the Dagster UI's Terminate acts on (queued in the coordinator, started).
TERMINABLE = (DagsterRunStatus.QUEUED, DagsterRunStatus.STARTED)


def terminate_cancelled_runs(engine: Engine, instance: DagsterInstance) -> list[str]:
    """Terminate, as the Dagster UI's Terminate does, every export run still going whose
    export was cancelled (SPEC 6.3: the API only sets the status); their run ids.

    A run still STARTING is left for the next pass (Dagster cannot terminate it yet, and
    its `validate_request` refuses a cancelled export anyway).
    """
    runs = instance.get_runs(
        filters=RunsFilter(job_name=EXPORT_JOB_NAME, statuses=list(TERMINABLE))
    )
    by_export = {int(r.tags["export_id"]): r for r in runs if r.tags.get("export_id", "").isdigit()}
    with engine.connect() as conn:
        statuses = statuses_of(conn, list(by_export))
    terminated = []
    for export_id, run in by_export.items():
        if statuses.get(export_id) != CANCELLED:
            continue
        if instance.run_coordinator.cancel_run(run.run_id):
            terminated.append(run.run_id)
    return terminated

"""File retention in Dagster (SPEC 6.4): `file_retention_job` (one op) and its hourly schedule.

The pass itself is `store.retention.run_retention_pass`, a plain function the CLI
(`exports-pipeline retention run`) calls too; the op only wires the store, the storage and
`EXPORTS_FILE_RETENTION_HOURS` to it.
"""

import datetime as dt

from dagster import (
    DefaultScheduleStatus,
    OpExecutionContext,
    Output,
    RunRequest,
    ScheduleEvaluationContext,
    in_process_executor,
    job,
    op,
    schedule,
)

from exports_pipeline.pipeline.resources import ExportStorageResource, StoreResource
from exports_pipeline.store.retention import run_retention_pass

FILE_RETENTION_CRON = "0 * * * *"


@op(description="Expire completed exports past retention: delete their files, mark them expired.")
def delete_expired_files(
    context: OpExecutionContext, store: StoreResource, export_storage: ExportStorageResource
) -> Output[dict[str, int]]:
    hours = store.file_retention_hours
    done = run_retention_pass(
        store.engine, export_storage.get_storage(), retention=dt.timedelta(hours=hours)
    )
    context.log.info(f"retention ({hours} h): {done.summary()}")
    summary = {
        "expired": len(done.expired),
        "files_deleted": len(done.files_deleted),
        "keys_forgotten": done.keys_forgotten,
    }
    return Output(summary, metadata={**summary, "retention_hours": hours})


@job(
    name="file_retention_job",
    executor_def=in_process_executor,
    description="Delete the files of completed exports past EXPORTS_FILE_RETENTION_HOURS "
    "(the exports become expired) and forget idempotency keys older than 24 hours.",
)
def file_retention_job() -> None:
    delete_expired_files()


@schedule(
    name="file_retention_schedule",
    job=file_retention_job,
    cron_schedule=FILE_RETENTION_CRON,
    execution_timezone="UTC",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Hourly file retention pass (idempotent).",
)
def file_retention_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    return RunRequest(run_key=f"file-retention-{tick.isoformat()}")

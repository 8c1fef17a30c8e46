"""file_retention_schedule requests file_retention_job hourly; the job runs one retention pass."""

import datetime as dt

from dagster import DefaultScheduleStatus, build_schedule_context

from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.pipeline.definitions import defs
from exports_pipeline.pipeline.resources import StoreResource
from exports_pipeline.pipeline.retention import file_retention_job, file_retention_schedule
from exports_pipeline.store.exports import (
    create_export,
    get_export,
    mark_completed,
    mark_processing,
    utcnow,
)
from exports_pipeline_tests.support.small_store import SPACE


def test_the_schedule_runs_the_job_every_hour_and_is_on_by_default():
    assert file_retention_schedule.cron_schedule == "0 * * * *"
    assert file_retention_schedule.default_status == DefaultScheduleStatus.RUNNING
    assert defs().get_schedule_def("file_retention_schedule").job_name == "file_retention_job"
    ticks = []
    for hour in (10, 11):
        when = dt.datetime(2026, 3, 10, hour, tzinfo=dt.UTC)
        with build_schedule_context(scheduled_execution_time=when) as context:
            (request,) = file_retention_schedule.evaluate_tick(context).run_requests
        ticks.append(request.run_key)
    assert len(set(ticks)) == 2  # one run per hour, never twice for one tick


def test_the_job_expires_old_files(store, resources, instance, files_root, tmp_path):
    short = StoreResource(database_url=store.database_url, file_retention_hours=2)
    resources = {**resources, "store": short}
    storage = resources["export_storage"].get_storage()
    local = tmp_path / "f.gz"
    local.write_bytes(b"gz")
    ids = {}
    for name, age in (("old", dt.timedelta(hours=3)), ("young", dt.timedelta(hours=1))):
        key = storage.publish(local, space_id=SPACE, date=dt.date(2026, 3, 10), sha256="0" * 64)
        with resources["store"].engine.begin() as conn:
            export_id = create_export(
                conn,
                space_id=SPACE,
                request=ExportRequest(date=dt.date(2026, 3, 10)),
                trigger="api",
            )
            mark_processing(conn, export_id, run_id="r")
            mark_completed(
                conn,
                export_id,
                storage_key=key,
                row_count=0,
                file_size_bytes=2,
                sha256="0" * 64,
                now=utcnow() - age,
            )
        ids[name] = (export_id, key)
    result = file_retention_job.execute_in_process(resources=resources, instance=instance)
    assert result.success
    assert result.output_for_node("delete_expired_files") == {
        "expired": 1,
        "files_deleted": 1,
        "keys_forgotten": 0,
    }
    with store.engine.connect() as conn:
        statuses = {n: get_export(conn, i).status for n, (i, _) in ids.items()}
    assert statuses == {"old": "expired", "young": "completed"}
    assert [storage.exists(k) for _, k in ids.values()] == [False, True]

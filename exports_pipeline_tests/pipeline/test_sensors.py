"""export_request_sensor: one validated run request per queued export; bad rows never fail ticks."""

import datetime as dt

import pytest
import sqlalchemy as sa
from dagster import DagsterRunStatus

from exports_pipeline.clock import utcnow
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.sensors import export_request_sensor
from exports_pipeline.store.exports import get_export
from exports_pipeline.store.schema import exports
from exports_pipeline_tests.support.runs import evaluate_tick, queue_export
from exports_pipeline_tests.support.small_store import ATTRIBUTED, EXPORT_DATE, SPACE


def test_queued_exports_become_run_requests_keyed_by_export_id(store, test_defs, instance):
    first = queue_export(store, date=EXPORT_DATE, params=ATTRIBUTED)
    second = queue_export(store, date=EXPORT_DATE - dt.timedelta(days=1), trigger="schedule")
    tick = evaluate_tick(export_request_sensor, test_defs, instance)
    assert [r.run_key for r in tick.run_requests] == [str(first), str(second)]
    assert [r.partition_key for r in tick.run_requests] == ["2026-03-10", "2026-03-09"]
    request = tick.run_requests[0]
    assert {k: request.tags[k] for k in ("export_id", "space_id", "trigger")} == {
        "export_id": str(first),
        "space_id": SPACE,
        "trigger": "api",
    }
    assert request.tags["dagster/partition"] == "2026-03-10"
    assert tick.run_requests[1].tags["trigger"] == "schedule"
    assert tick.cursor == str(second)


def test_the_cursor_hands_each_export_out_once(store, test_defs, instance):
    queue_export(store, date=EXPORT_DATE)
    tick = evaluate_tick(export_request_sensor, test_defs, instance)
    again = evaluate_tick(export_request_sensor, test_defs, instance, cursor=tick.cursor)
    assert again.run_requests == []
    assert again.cursor == tick.cursor
    newer = queue_export(store, date=EXPORT_DATE)
    third = evaluate_tick(export_request_sensor, test_defs, instance, cursor=tick.cursor)
    assert [r.run_key for r in third.run_requests] == [str(newer)]


@pytest.mark.parametrize(
    "bad_date", [dt.date(2019, 12, 31), dt.date(2099, 1, 1)], ids=["too-early", "future"]
)
def test_an_export_that_cannot_be_a_run_is_failed_and_the_tick_goes_on(
    store, test_defs, instance, bad_date
):
    good_before = queue_export(store, date=EXPORT_DATE)
    bad = queue_export(store, date=bad_date)
    good_after = queue_export(store, date=EXPORT_DATE)
    tick = evaluate_tick(export_request_sensor, test_defs, instance)
    assert [r.run_key for r in tick.run_requests] == [str(good_before), str(good_after)]
    assert tick.cursor == str(good_after)
    with store.engine.connect() as conn:
        record = get_export(conn, bad)
    assert record.status == "failed"
    assert f"date {bad_date.isoformat()} cannot be exported" in record.message


def test_a_run_request_runs_the_job_to_completion(store, test_defs, instance):
    export_id = queue_export(store, date=EXPORT_DATE, params=ATTRIBUTED)
    (request,) = evaluate_tick(export_request_sensor, test_defs, instance).run_requests
    result = test_defs.get_job_def(event_export_job.name).execute_in_process(
        partition_key=request.partition_key,
        run_config=request.run_config,
        tags=request.tags,
        instance=instance,
    )
    assert result.success
    with store.engine.connect() as conn:
        assert get_export(conn, export_id).status == "completed"


def test_a_stale_queued_export_without_a_run_is_requested_again(store, test_defs, instance):
    long_ago = utcnow() - dt.timedelta(minutes=5)
    orphan = queue_export(store, date=EXPORT_DATE, created=long_ago)
    launched = queue_export(store, date=EXPORT_DATE, created=long_ago)
    instance.create_run_for_job(
        job_def=event_export_job,
        status=DagsterRunStatus.NOT_STARTED,
        tags={"export_id": str(launched)},
    )
    # The cursor is past both (a previous tick handed them out), yet only the orphan
    # has no run: the daemon stopped before creating it.
    tick = evaluate_tick(export_request_sensor, test_defs, instance, cursor=str(launched))
    assert [r.run_key for r in tick.run_requests] == [str(orphan)]


def test_stored_params_that_no_longer_parse_fail_the_export_not_the_tick(
    store, test_defs, instance
):
    with store.engine.begin() as conn:
        broken = conn.execute(
            sa.insert(exports)
            .values(
                space_id=SPACE,
                date=EXPORT_DATE,
                params={"sources": ["not_a_source"]},
                status="queued",
                trigger="api",
                created_at=utcnow(),
            )
            .returning(exports.c.id)
        ).scalar_one()
    good = queue_export(store, date=EXPORT_DATE)
    tick = evaluate_tick(export_request_sensor, test_defs, instance)
    assert [r.run_key for r in tick.run_requests] == [str(good)]
    with store.engine.connect() as conn:
        record = get_export(conn, broken)
    assert record.status == "failed"
    assert record.message.startswith("The export request is invalid")


def test_a_run_request_carries_the_export_id_only(store, test_defs, instance):
    export_id = queue_export(store, date=EXPORT_DATE, params=ATTRIBUTED)
    (request,) = evaluate_tick(export_request_sensor, test_defs, instance).run_requests
    assert request.run_config["ops"] == {"validate_request": {"config": {"export_id": export_id}}}

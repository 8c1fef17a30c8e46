"""export_request_sensor's fast path: a tick with nothing queued waits for the first queued
export (returning it at once), and a backlog never hides new exports or costs a run query each."""

import datetime as dt
import threading

import pytest
from dagster import DagsterRunStatus

from exports_pipeline.clock import utcnow
from exports_pipeline.pipeline import sensors
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import StoreResource
from exports_pipeline.pipeline.sensors import export_request_sensor
from exports_pipeline_tests.support.runs import evaluate_tick, queue_export


def _waiting(store: StoreResource, seconds: float) -> StoreResource:
    return StoreResource(database_url=store.database_url, request_wait_seconds=seconds)


@pytest.mark.parametrize(
    ("wait", "queue_after", "expect_run"),
    [
        # Nothing queued: the tick looks until its wait is over, then skips.
        (1.0, None, False),
        # Queued 0.4 s into a 3 s wait: the tick was still looking and returns its run.
        (3.0, 0.4, True),
        # No wait (tests, or turned off): one look at once, so an export queued 0.4 s
        # later is left for the next tick.
        (0.0, 0.4, False),
    ],
)
def test_a_tick_waits_for_the_first_queued_export(
    store, test_defs, instance, wait, queue_after, expect_run
):
    waiting = _waiting(store, wait)
    queued: list[int] = []
    if queue_after is not None:
        timer = threading.Timer(queue_after, lambda: queued.append(queue_export(store)))
        timer.start()
    tick = evaluate_tick(export_request_sensor, test_defs, instance, store=waiting)
    if queue_after is not None:
        timer.join()
    assert [r.run_key for r in tick.run_requests] == ([str(queued[0])] if expect_run else [])
    if expect_run:
        assert tick.cursor == str(queued[0])


@pytest.mark.parametrize(("old_with_runs", "old_without_runs"), [(3, 0), (3, 2), (0, 4)])
def test_stale_exports_are_checked_in_one_run_query(
    store, test_defs, instance, monkeypatch, old_with_runs, old_without_runs
):
    long_ago = utcnow() - dt.timedelta(minutes=5)
    launched = [queue_export(store, created=long_ago) for _ in range(old_with_runs)]
    orphans = [queue_export(store, created=long_ago) for _ in range(old_without_runs)]
    for export_id in launched:
        instance.create_run_for_job(
            job_def=event_export_job,
            status=DagsterRunStatus.NOT_STARTED,
            tags={"export_id": str(export_id)},
        )
    calls = []
    real_get_runs = type(instance).get_runs

    def counting_get_runs(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs.get("filters"))
        return real_get_runs(self, *args, **kwargs)

    monkeypatch.setattr(type(instance), "get_runs", counting_get_runs)
    cursor = str(max(launched + orphans))
    tick = evaluate_tick(export_request_sensor, test_defs, instance, cursor, store=store)
    assert sorted(r.run_key for r in tick.run_requests) == sorted(str(i) for i in orphans)
    assert len(calls) == 1


def test_new_exports_behind_a_full_page_of_queued_ones_are_requested(
    store, test_defs, instance, monkeypatch
):
    monkeypatch.setattr(sensors, "BATCH", 3)
    backlog = [queue_export(store) for _ in range(3)]  # runs created, waiting in Dagster's queue
    for export_id in backlog:
        instance.create_run_for_job(
            job_def=event_export_job,
            status=DagsterRunStatus.NOT_STARTED,
            tags={"export_id": str(export_id)},
        )
    new = [queue_export(store) for _ in range(2)]
    tick = evaluate_tick(export_request_sensor, test_defs, instance, str(backlog[-1]), store=store)
    assert [r.run_key for r in tick.run_requests] == [str(i) for i in new]
    assert tick.cursor == str(new[-1])

"""export_status_sensor fails runs whose worker died and settles exports from run state."""

import datetime as dt
import os
import socket
import subprocess
import sys

import pytest
from dagster import DagsterRunStatus, build_sensor_context

from exports_pipeline.clock import utcnow
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.pipeline.failures import INTERNAL_ERROR, RUN_LOST, WORKER_DIED
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.sensors import export_status_sensor
from exports_pipeline.pipeline.workers import (
    WORKER_HOST_TAG,
    WORKER_PID_TAG,
    current_worker_tags,
    process_is_running,
)
from exports_pipeline.store.exports import (
    CANCELLED_MESSAGE,
    create_export,
    get_export,
    mark_processing,
)
from exports_pipeline_tests.support.small_store import EXPORT_DATE, SPACE

LONG_AGO = dt.timedelta(minutes=5)


def _export(store, *, run_id=None, created=None) -> int:
    with store.engine.begin() as conn:
        export_id = create_export(
            conn,
            space_id=SPACE,
            request=parse_export_request({"date": EXPORT_DATE.isoformat()}),
            trigger="api",
            now=created,
        )
        if run_id:
            mark_processing(conn, export_id, run_id=run_id, now=created)
    return export_id


def _run(instance, status, tags=None):
    return instance.create_run_for_job(job_def=event_export_job, status=status, tags=tags or {})


def _tick(test_defs, instance):
    with build_sensor_context(
        instance=instance,
        definitions=test_defs,
        resources={"store": test_defs.resources["store"]},
    ) as context:
        return export_status_sensor.evaluate_tick(context)


def _status(store, export_id):
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    return record.status, record.message


@pytest.fixture
def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    process.kill()
    process.wait()
    return process.pid


def test_a_killed_worker_fails_its_run_and_its_export(store, test_defs, instance, dead_pid):
    tags = {WORKER_PID_TAG: str(dead_pid), WORKER_HOST_TAG: socket.gethostname()}
    run = _run(instance, DagsterRunStatus.STARTED, tags)
    export_id = _export(store, run_id=run.run_id)
    _tick(test_defs, instance)
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
    assert _status(store, export_id) == ("failed", WORKER_DIED)


def test_a_live_worker_is_left_alone(store, test_defs, instance):
    run = _run(instance, DagsterRunStatus.STARTED, current_worker_tags())
    export_id = _export(store, run_id=run.run_id)
    _tick(test_defs, instance)
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
    assert _status(store, export_id)[0] == "processing"


def test_a_worker_on_another_host_is_not_judged(store, test_defs, instance, dead_pid):
    tags = {WORKER_PID_TAG: str(dead_pid), WORKER_HOST_TAG: "some-other-host"}
    run = _run(instance, DagsterRunStatus.STARTED, tags)
    _tick(test_defs, instance)
    assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED


def test_zombies_and_reused_pids_are_not_alive():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    # Exited but not reaped: a zombie still answers kill(pid, 0).
    deadline = dt.datetime.now() + dt.timedelta(seconds=10)
    while process_is_running(process.pid) and dt.datetime.now() < deadline:
        pass
    assert not process_is_running(process.pid)
    process.wait()
    assert process_is_running(os.getpid())
    assert not process_is_running(os.getpid(), start="0")


@pytest.mark.parametrize(
    ("status", "settled"),
    [
        # Terminated (the Dagster UI, a cancel): SPEC 6.3 makes the export cancelled.
        (DagsterRunStatus.CANCELED, ("cancelled", CANCELLED_MESSAGE)),
        # Failed without a failed step: the run's process went away.
        (DagsterRunStatus.FAILURE, ("failed", WORKER_DIED)),
        (DagsterRunStatus.SUCCESS, ("failed", INTERNAL_ERROR)),
    ],
)
def test_an_ended_run_settles_its_processing_export(store, test_defs, instance, status, settled):
    run = _run(instance, status)
    export_id = _export(store, run_id=run.run_id)
    _tick(test_defs, instance)
    assert _status(store, export_id) == settled


def test_a_queued_export_whose_run_failed_before_starting_is_failed(store, test_defs, instance):
    export_id = _export(store, created=utcnow() - LONG_AGO)
    _run(instance, DagsterRunStatus.FAILURE, {"export_id": str(export_id)})
    _tick(test_defs, instance)
    assert _status(store, export_id) == ("failed", WORKER_DIED)


def test_a_processing_export_whose_run_is_gone_is_failed(store, test_defs, instance):
    export_id = _export(store, run_id="no-such-run", created=utcnow() - LONG_AGO)
    _tick(test_defs, instance)
    assert _status(store, export_id) == ("failed", RUN_LOST)


def test_unsettled_exports_of_running_or_missing_runs_stay(store, test_defs, instance):
    queued_without_run = _export(store, created=utcnow() - LONG_AGO)
    run = _run(instance, DagsterRunStatus.NOT_STARTED, {"export_id": "0"})
    waiting = _export(store, run_id=run.run_id)
    _tick(test_defs, instance)
    _tick(test_defs, instance)
    assert _status(store, queued_without_run)[0] == "queued"
    assert _status(store, waiting)[0] == "processing"


def test_a_second_pass_changes_nothing(store, test_defs, instance):
    run = _run(instance, DagsterRunStatus.CANCELED)
    export_id = _export(store, run_id=run.run_id)
    _tick(test_defs, instance)
    with store.engine.connect() as conn:
        settled = get_export(conn, export_id)
    _tick(test_defs, instance)
    with store.engine.connect() as conn:
        assert get_export(conn, export_id) == settled

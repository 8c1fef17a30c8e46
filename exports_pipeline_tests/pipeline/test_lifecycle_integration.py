"""Real processes (API, dagster-daemon, dagster-webserver): a cancel terminates a processing
export's run (CANCELED, no file), Terminate in the Dagster UI cancels its export, and a
finished export cannot be cancelled. Cancel → run CANCELED latency is printed, not asserted.
"""

import os
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from dagster import DagsterRunStatus, RunsFilter

from exports_pipeline.pipeline.workers import worker_pid
from exports_pipeline.store.exports import CANCELLED_MESSAGE
from exports_pipeline_tests.pipeline.test_integration import (
    Deployment,
    _stopped,
    _stored_files,
    _wait_for,
)
from exports_pipeline_tests.pipeline.test_integration import (
    deployment as deployment,  # the module's own real deployment (a fixture)
)

pytestmark = pytest.mark.integration

TERMINATE_RUN = """
mutation Terminate($runId: String!) {
  terminateRun(runId: $runId, terminatePolicy: SAFE_TERMINATE) {
    __typename
    ... on TerminateRunFailure { message }
    ... on PythonError { message }
  }
}
"""


def _cancel(deployment: Deployment, export_id: int) -> httpx.Response:
    return httpx.post(
        f"{deployment.api_url}/public-api/v1/events/exports/{export_id}/cancel",
        headers={"Authorization": f"Bearer {deployment.key}"},
    )


def _frozen_while_processing(deployment: Deployment, export_id: int):  # type: ignore[no-untyped-def]
    """The export's run, its worker frozen (SIGSTOP) once the export is processing: the
    run is mid-way, and stays so until the test lets it go on."""
    instance = deployment.instance

    def the_run():  # type: ignore[no-untyped-def]
        runs = instance.get_runs(filters=RunsFilter(tags={"export_id": str(export_id)}), limit=1)
        return runs[0] if runs else None

    run = _wait_for(the_run, "the export's run")
    pid = _wait_for(lambda: worker_pid(instance, instance.get_run_by_id(run.run_id)), "a pid")
    os.kill(pid, signal.SIGSTOP)
    _stopped(pid)
    while not (deployment.peek_status(export_id) == "processing" and _dagster_unlocked(deployment)):
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.02)
        os.kill(pid, signal.SIGSTOP)
        _stopped(pid)
    return run, pid


def _dagster_unlocked(deployment: Deployment) -> bool:
    """No Dagster SQLite file is write-locked: the frozen worker holds no lock that the
    webserver or the daemon would wait for (while it is frozen, forever)."""
    for path in (deployment.dagster_home / "history").rglob("*.db"):
        conn = sqlite3.connect(path, timeout=0)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.rollback()
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()
    return True


def _run_status(deployment: Deployment, run_id: str) -> DagsterRunStatus:
    return deployment.instance.get_run_by_id(run_id).status


def test_cancelling_a_processing_export_terminates_its_run(deployment: Deployment):
    before = _stored_files(deployment)
    export_id = deployment.create({"date": deployment.export_date.isoformat()})
    run, pid = _frozen_while_processing(deployment, export_id)
    cancelled_at = time.monotonic()
    response = _cancel(deployment, export_id)
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["message"]) == (
        "cancelled",
        CANCELLED_MESSAGE,
    )
    # export_status_sensor asks Dagster to terminate the run (CANCELING at once; the code
    # server's cancel then waits for its frozen child); the worker gets the interrupt as
    # soon as it goes on.
    _wait_for(
        lambda: _run_status(deployment, run.run_id) != DagsterRunStatus.STARTED,
        "the termination request",
    )
    requested = time.monotonic() - cancelled_at
    os.kill(pid, signal.SIGCONT)
    _wait_for(
        lambda: _run_status(deployment, run.run_id) == DagsterRunStatus.CANCELED,
        "the run to end CANCELED",
    )
    ended = time.monotonic() - cancelled_at
    print(
        f"\ncancel → termination requested {requested:.1f}s, → run CANCELED {ended:.1f}s "
        "(worker frozen in between)"
    )
    assert deployment.status(export_id) == response.json()
    assert deployment.record(export_id).storage_key is None
    assert _stored_files(deployment) == before


def test_terminate_in_the_dagster_ui_makes_the_export_cancelled(deployment: Deployment):
    before = _stored_files(deployment)
    export_id = deployment.create({"date": deployment.export_date.isoformat()})
    run, pid = _frozen_while_processing(deployment, export_id)
    started = time.monotonic()
    # The code server's cancel waits for its frozen child: send it, let the worker go on
    # once Dagster reports the run CANCELING, then read the answer.
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(deployment.graphql, TERMINATE_RUN, {"runId": run.run_id})
        try:
            _wait_for(
                lambda: _run_status(deployment, run.run_id) != DagsterRunStatus.STARTED,
                "the UI's termination request",
            )
        finally:
            os.kill(pid, signal.SIGCONT)
        terminated = answer.result()["terminateRun"]
    assert terminated["__typename"] == "TerminateRunSuccess", terminated
    _wait_for(lambda: deployment.status(export_id)["status"] == "cancelled", "cancelled")
    _wait_for(
        lambda: _run_status(deployment, run.run_id) == DagsterRunStatus.CANCELED,
        "the run to end CANCELED",
    )
    print(f"\nUI terminate → export cancelled, run CANCELED in {time.monotonic() - started:.1f}s")
    status = deployment.status(export_id)
    assert (status["status"], status["message"]) == ("cancelled", CANCELLED_MESSAGE)
    assert "download_url" not in status
    assert _stored_files(deployment) == before


def test_a_cancel_after_completion_is_409_and_changes_nothing(deployment: Deployment):
    export_id = deployment.create({"date": deployment.export_date.isoformat()})
    assert deployment.wait_settled(export_id)["status"] == "completed"
    response = _cancel(deployment, export_id)
    assert response.status_code == 409
    assert "completed" in response.json()["message"]
    assert deployment.status(export_id)["status"] == "completed"


def test_a_cancelled_queued_export_never_gets_a_run(deployment: Deployment):
    deployment.services.stop("daemon")
    try:
        export_id = deployment.create({"date": deployment.export_date.isoformat()})
        assert _cancel(deployment, export_id).status_code == 200
    finally:
        deployment.services.start("daemon")
    time.sleep(12)  # more than a request sensor interval after the daemon is back
    runs = deployment.instance.get_runs(filters=RunsFilter(tags={"export_id": str(export_id)}))
    assert runs == []
    assert deployment.status(export_id)["status"] == "cancelled"

"""Real processes: API, dagster-daemon and dagster-webserver turn requests into verified files.

Covers the sensor path over HTTP (files equal the engine's), a UI launch and a backfill
through GraphQL as the webserver's UI sends them, and a run worker killed with SIGKILL
mid-run (the export fails in the store and the run in Dagster; a later export succeeds).
Figures (create → completed, kill → failed) are printed, not asserted.
"""

import datetime as dt
import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from exports_pipeline.pipeline.failures import WORKER_DIED
from exports_pipeline.pipeline.workers import worker_pid
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.exports import CANCELLED_MESSAGE
from exports_pipeline.store.schema import exports
from exports_pipeline_tests.support.daemon import (
    ATTRIBUTED,
    BIN,
    REPO,
    WAIT_SECONDS,
    Deployment,
    Services,
    cli,
    wait_http,
)
from exports_pipeline_tests.support.served import free_port

pytestmark = pytest.mark.integration

# Exports a test cancelled while queued, before any run: they must never get one.
CANCELLED_WHILE_QUEUED: list[int] = []


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("exports-home")
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    api_port, ui_port = free_port(), free_port()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("EXPORTS_") and k != "DAGSTER_HOME"
    }
    # The run workers' temporary folders too: `_writing` looks for this deployment's file
    # there, never at another test's export of the same id running beside it.
    (home / "tmp").mkdir()
    env |= {
        "TMPDIR": str(home / "tmp"),
        "EXPORTS_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "EXPORTS_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        "EXPORTS_SIGNING_SECRET": "integration-secret-at-least-32-bytes",
        "EXPORTS_RATE_LIMIT_CREATE_PER_MINUTE": "1000",
        "EXPORTS_RATE_LIMIT_STATUS_PER_MINUTE": "100000",
    }
    # Dagster's storage is created once, before the daemon and the webserver race for it.
    subprocess.run(
        [str(BIN / "dagster"), "instance", "migrate"], env=env, check=True, capture_output=True
    )
    cli(env, "db", "upgrade")
    cli(env, "seed-demo", "--events", "3000", "--days", "3", "--spaces", "2", "--no-progress")
    key = cli(env, "keys", "create", "--space", "demo-1").strip().splitlines()[-1]
    commands = {
        "api": [str(BIN / "exports-pipeline"), "api", "--port", str(api_port)],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        "webserver": [
            str(BIN / "dagster-webserver"),
            "-w",
            "workspace.yaml",
            "-h",
            "127.0.0.1",
            "-p",
            str(ui_port),
        ],
    }
    services = Services(commands, env, home)
    try:
        for name in commands:
            services.start(name)
        wait_http(
            f"http://127.0.0.1:{api_port}/docs", services.processes["api"], services.log("api")
        )
        wait_http(
            f"http://127.0.0.1:{ui_port}/server_info",
            services.processes["webserver"],
            services.log("webserver"),
        )
        engine = make_engine(f"sqlite:///{home / 'store.db'}", pooled=False)
        with DagsterInstance.from_config(str(dagster_home)) as instance:
            yield Deployment(
                home=home,
                dagster_home=dagster_home,
                api_url=f"http://127.0.0.1:{api_port}",
                ui_url=f"http://127.0.0.1:{ui_port}",
                key=key,
                engine=engine,
                instance=instance,
                # The middle one of the three seeded UTC days: whole local days for both spaces.
                export_date=dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2),
                services=services,
            )
        engine.dispose()
    finally:
        services.stop_all()


def test_api_exports_complete_with_the_engines_files(deployment: Deployment, tmp_path):
    bodies = [
        {"date": deployment.export_date.isoformat()},
        {"date": deployment.export_date.isoformat(), **ATTRIBUTED},
    ]
    started = time.monotonic()
    ids = [deployment.create(body) for body in bodies]
    settled = [deployment.wait_settled(export_id) for export_id in ids]
    print(f"\n{len(ids)} API exports: create → completed in {time.monotonic() - started:.1f}s")
    for export_id, body, status in zip(ids, bodies, settled, strict=True):
        assert status["status"] == "completed", status
        downloaded = httpx.get(status["download_url"])
        assert downloaded.status_code == 200
        assert hashlib.sha256(downloaded.content).hexdigest() == status["sha256"]
        assert len(downloaded.content) == status["file_size_bytes"]
        assert downloaded.content == deployment.expected_file("demo-1", body, tmp_path)
        run = deployment.finished_run(export_id)
        assert run.status == DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == deployment.export_date.isoformat()
        assert run.tags["dagster/run_key"] == str(export_id)


LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message }
  }
}
"""

LAUNCH_BACKFILL = """
mutation LaunchBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
  }
}
"""

LOCATION = {"repositoryLocationName": "exports_pipeline", "repositoryName": "__repository__"}


def _exports_of_run(deployment: Deployment, run_id: str) -> list[int]:
    with deployment.engine.connect() as conn:
        return list(
            conn.execute(sa.select(exports.c.id).where(exports.c.run_id == run_id)).scalars()
        )


def _wait_for(predicate, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_ui_launch_through_graphql_makes_its_export(deployment: Deployment, tmp_path):
    date = deployment.export_date.isoformat()
    data = deployment.graphql(
        LAUNCH_RUN,
        {
            "executionParams": {
                "selector": {**LOCATION, "jobName": "event_export_job"},
                "runConfigData": {
                    "ops": {"validate_request": {"config": {"space_id": "demo-2", **ATTRIBUTED}}}
                },
                "executionMetadata": {"tags": [{"key": "dagster/partition", "value": date}]},
            }
        },
    )
    launched = data["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    (export_id,) = _wait_for(lambda: _exports_of_run(deployment, run_id), "the UI run's export")
    _wait_for(lambda: deployment.record(export_id).status == "completed", "completion")
    record = deployment.record(export_id)
    assert (record.trigger, record.space_id, record.date.isoformat()) == ("ui", "demo-2", date)
    stored = (deployment.home / "files" / record.storage_key).read_bytes()
    assert stored == deployment.expected_file("demo-2", {"date": date, **ATTRIBUTED}, tmp_path)


def test_a_backfill_through_graphql_makes_one_export_per_date(deployment: Deployment):
    dates = [
        (deployment.export_date - dt.timedelta(days=1)).isoformat(),
        deployment.export_date.isoformat(),
    ]
    data = deployment.graphql(
        LAUNCH_BACKFILL,
        {
            "backfillParams": {
                "selector": {
                    "partitionSetName": "event_export_job_partition_set",
                    "repositorySelector": LOCATION,
                },
                "partitionNames": dates,
                "tags": [{"key": "space_id", "value": "demo-2"}],
            }
        },
    )
    launched = data["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def backfill_exports():  # type: ignore[no-untyped-def]
        with deployment.engine.connect() as conn:
            rows = conn.execute(
                sa.select(exports.c.date, exports.c.status).where(exports.c.trigger == "backfill")
            ).all()
        return rows if len(rows) == 2 and all(r.status == "completed" for r in rows) else None

    rows = _wait_for(backfill_exports, "two completed backfill exports")
    assert sorted(r.date.isoformat() for r in rows) == dates


def _parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _stopped(pid: int) -> None:
    """Wait until `pid` is really stopped (a SIGSTOP lands when a syscall such as fsync
    returns), so what the test sees on disk is what the frozen worker left."""
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return
        if state in "TtZX":
            return
        time.sleep(0.0001)


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _writing(deployment: Deployment, export_id: int) -> bool:
    """publish_export has written the file to its temporary folder: the publish is next."""
    return any((deployment.home / "tmp").glob(f"tmp*/export-{export_id}.ndjson.gz"))


def _partials(deployment: Deployment) -> list[Path]:
    return list((deployment.home / "files").rglob(".partial-*"))


def _kill_mid_run(
    deployment: Deployment, export_id: int, *, with_parent: bool, mid_write: bool = False
) -> float | None:
    """SIGKILL the export's run worker (and its parent) mid-run; seconds until it failed.

    `mid_write`: kill it while its file is half-published (a `.partial-*` file exists in
    the storage folder); None when the run got past the write before it was caught.
    """
    instance = deployment.instance

    def the_run():  # type: ignore[no-untyped-def]
        runs = instance.get_runs(filters=RunsFilter(tags={"export_id": str(export_id)}), limit=1)
        return runs[0] if runs else None

    run = _wait_for(the_run, "the export's run")
    pid = _wait_for(lambda: worker_pid(instance, instance.get_run_by_id(run.run_id)), "a pid")
    # Freeze the worker at once, then let it on in small steps until the export is
    # processing (or, mid_write, its file is being written): it is then killed in the
    # middle of the run, deterministically.
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + WAIT_SECONDS

    def reached() -> bool:
        if not mid_write:
            return deployment.peek_status(export_id) == "processing"
        return bool(_partials(deployment))

    while not reached():
        assert time.monotonic() < deadline, "the run never reached the kill point"
        if mid_write and deployment.peek_status(export_id) == "completed":
            os.kill(pid, signal.SIGCONT)  # got past the write unseen: let it finish
            return None
        os.kill(pid, signal.SIGCONT)
        if mid_write and _writing(deployment, export_id):
            # Around the publish: steps of ~0.1 ms, shorter than copy + fsync + rename.
            _spin(0.0001)
        else:
            time.sleep(0.02)
        os.kill(pid, signal.SIGSTOP)
        _stopped(pid)
    if with_parent:
        # The code server that launched the run would notice its child's death; without
        # it nothing in Dagster does, and only export_status_sensor can.
        os.kill(_parent_pid(pid), signal.SIGKILL)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    status = deployment.wait_settled(export_id)
    detected = time.monotonic() - killed
    assert status["status"] == "failed"
    assert status["message"] == WORKER_DIED
    assert "download_url" not in status
    # Nothing under a final name: no key recorded, no finished file of this export.
    assert deployment.record(export_id).storage_key is None
    _wait_for(
        lambda: instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE,
        "the run to be failed in Dagster",
    )
    return detected


def _stored_files(deployment: Deployment) -> set[Path]:
    return {p for p in (deployment.home / "files").rglob("*.ndjson.gz") if p.is_file()}


@pytest.mark.parametrize(
    ("with_parent", "mid_write"),
    [(False, False), (True, False), (False, True)],
    ids=["worker", "worker-and-code-server", "worker-mid-write"],
)
def test_a_killed_worker_fails_its_export_and_the_next_one_completes(
    deployment: Deployment, with_parent: bool, mid_write: bool
):
    before = _stored_files(deployment)
    detected = None
    # mid_write: the publish is short (copy, fsync, rename); a run may get past it unseen,
    # more often on a loaded machine (another test module runs beside this one), so up to
    # 15 exports are tried; the first caught one ends the loop.
    for _ in range(15 if mid_write else 1):
        export_id = deployment.create({"date": deployment.export_date.isoformat()})
        detected = _kill_mid_run(
            deployment, export_id, with_parent=with_parent, mid_write=mid_write
        )
        if detected is not None:
            break
        before = _stored_files(deployment)
    assert detected is not None, "the worker was never caught mid-write"
    print(
        f"\nkilled worker (code server killed too: {with_parent}, mid-write: {mid_write}) → "
        f"export failed in {detected:.1f}s"
    )
    assert detected < 120
    # No finished file appeared for the killed export; a half-written one, if any, is only
    # a `.partial-*` (never under a key, so no URL reaches it).
    assert _stored_files(deployment) == before
    orphans = _partials(deployment)
    assert bool(orphans) == mid_write
    started = time.monotonic()
    later = deployment.create({"date": deployment.export_date.isoformat()})
    assert deployment.wait_settled(later)["status"] == "completed"
    print(f"next export (same day) completed {time.monotonic() - started:.1f}s after its create")
    # Publishing into the same folder removed the dead worker's partial file.
    assert _partials(deployment) == []


def test_exports_queued_while_the_daemon_is_down_run_once_it_is_back(deployment: Deployment):
    deployment.services.stop("daemon")
    ids = [deployment.create({"date": deployment.export_date.isoformat()}) for _ in range(2)]
    time.sleep(6)  # more than a sensor interval: nothing may pick them up
    assert [deployment.status(i)["status"] for i in ids] == ["queued", "queued"]
    restarted = time.monotonic()
    deployment.services.start("daemon")
    assert [deployment.wait_settled(i)["status"] for i in ids] == ["completed", "completed"]
    runs = {
        i: len(deployment.instance.get_runs(filters=RunsFilter(tags={"export_id": str(i)})))
        for i in ids
    }
    print(
        f"\ndaemon restart → both queued exports completed in {time.monotonic() - restarted:.1f}s"
        f"; runs per export {runs}"
    )
    assert runs == dict.fromkeys(ids, 1)


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
        CANCELLED_WHILE_QUEUED.append(export_id)
        assert _cancel(deployment, export_id).status_code == 200
    finally:
        deployment.services.start("daemon")
    time.sleep(12)  # more than a request sensor interval after the daemon is back
    runs = deployment.instance.get_runs(filters=RunsFilter(tags={"export_id": str(export_id)}))
    assert runs == []
    assert deployment.status(export_id)["status"] == "cancelled"


def test_every_export_had_exactly_one_run(deployment: Deployment):
    """Runs last: over every export the module made, through every entry point."""
    with deployment.engine.connect() as conn:
        ids = list(conn.execute(sa.select(exports.c.id)).scalars())
    assert len(ids) >= 10
    runs = {
        export_id: deployment.instance.get_runs(
            filters=RunsFilter(tags={"export_id": str(export_id)})
        )
        for export_id in ids
    }
    # A queued export cancelled before its run was requested never gets one (SPEC 6.3).
    never_run = set(CANCELLED_WHILE_QUEUED)
    assert {i: len(r) for i, r in runs.items() if i not in never_run} == dict.fromkeys(
        set(ids) - never_run, 1
    )
    assert all(not runs[i] for i in never_run)

"""Under the real dagster-daemon: status changes reach a real receiver (latency figures
printed, not asserted), a daemon killed mid-send delivers after its restart with the same
webhook-id, and a real export run is announced."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.sealing import SecretBox, secret_box
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.deliveries import list_deliveries
from exports_pipeline.store.exports import create_export, get_export
from exports_pipeline.store.schema import spaces
from exports_pipeline.store.status import status_object
from exports_pipeline.store.webhooks import NewWebhookEndpoint, create_endpoint, delete_endpoint
from exports_pipeline_tests.support.receiver import Receiver, receiver
from exports_pipeline_tests.support.webhooks import complete, processing_export

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT_SECONDS = 180
LEASE_SECONDS = 5


@dataclass
class Daemon:
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("a") as log:
            self.process = subprocess.Popen(
                [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL the daemon and its code server (the sensor runs there) at once."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None


@dataclass
class Deployment:
    engine: sa.Engine
    daemon: Daemon
    # The box of the secrets key `db upgrade` generated into the home.
    secret_box: SecretBox


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    home = tmp_path_factory.mktemp("webhooks-home")
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("EXPORTS_") and k != "DAGSTER_HOME"
    }
    env |= {
        "EXPORTS_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "EXPORTS_WEBHOOK_ALLOW_PRIVATE": "1",
        "EXPORTS_WEBHOOK_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    subprocess.run(
        [str(BIN / "dagster"), "instance", "migrate"], env=env, check=True, capture_output=True
    )
    subprocess.run(
        [str(BIN / "exports-pipeline"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    engine = make_engine(f"sqlite:///{home / 'store.db'}", pooled=False)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(spaces).values(
                id="acme", name="Acme", timezone="UTC", subscription_active=True
            )
        )
    daemon = Daemon(env, home / "daemon.log")
    daemon.start()
    try:
        yield Deployment(engine, daemon, secret_box(None, home / "secrets-key"))
    finally:
        daemon.kill()
        engine.dispose()


def _wait_for(predicate, what: str, log: Path):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def _endpoint(deployment: Deployment, hook: Receiver) -> Iterator[NewWebhookEndpoint]:
    """An endpoint of acme for the test's receiver, deleted afterwards."""
    with deployment.engine.begin() as conn:
        endpoint = create_endpoint(
            conn,
            space_id="acme",
            url=hook.url,
            events=["export.completed"],
            box=deployment.secret_box,
        )
    try:
        yield endpoint
    finally:
        with deployment.engine.begin() as conn:
            delete_endpoint(conn, endpoint.id, space_id="acme")


def test_status_changes_reach_the_receiver_under_the_daemon(deployment: Deployment) -> None:
    with receiver() as hook, _endpoint(deployment, hook):
        # Warm up: the daemon's first tick loads the code location.
        complete(deployment.engine, processing_export(deployment.engine))
        _wait_for(lambda: hook.received, "the first delivery", deployment.daemon.log)
        changed = []
        for _ in range(20):
            export_id = processing_export(deployment.engine)
            complete(deployment.engine, export_id)
            changed.append(export_id)
            time.sleep(0.4)
        _wait_for(lambda: len(hook.received) >= 21, "20 deliveries", deployment.daemon.log)
    with deployment.engine.connect() as conn:
        views = [v for v in list_deliveries(conn, limit=100) if v.export_id in changed]
    assert len(views) == 20
    assert all(v.status == "delivered" and v.attempts == 1 for v in views)
    # Status change -> delivered, from the store's own clock.
    latencies = sorted((v.delivered_at - v.created_at).total_seconds() for v in views)
    print(
        f"\nstatus change -> delivered under the daemon, over 20: "
        f"p50 {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s"
    )


def test_a_daemon_killed_mid_send_delivers_after_restart_with_the_same_id(
    deployment: Deployment,
) -> None:
    with receiver() as hook, _endpoint(deployment, hook):
        hook.release.clear()  # the receiver holds the first request: it is in flight
        export_id = processing_export(deployment.engine)
        complete(deployment.engine, export_id)
        _wait_for(lambda: hook.received, "the delivery in flight", deployment.daemon.log)
        deployment.daemon.kill()
        killed = time.monotonic()
        hook.release.set()
        deployment.daemon.start()
        _wait_for(lambda: len(hook.received) >= 2, "the re-sent delivery", deployment.daemon.log)
        resent = time.monotonic() - killed

        def delivered():  # type: ignore[no-untyped-def]
            with deployment.engine.connect() as conn:
                [view] = list_deliveries(conn, export_id=export_id)
            return view if view.status == "delivered" else None

        view = _wait_for(delivered, "the delivery to be marked delivered", deployment.daemon.log)
    first, second = hook.received[:2]
    assert first.headers["Webhook-Id"] == second.headers["Webhook-Id"] == view.message_id
    assert first.body == second.body
    assert view.attempts == 2
    lost, answered = view.attempt_log
    assert (lost.status_code, lost.error) == (None, None)
    assert answered.status_code == 200
    print(f"\nkilled mid-send; re-sent {resent:.1f} s after the kill (lease {LEASE_SECONDS} s)")


def test_a_real_export_run_is_announced_under_the_daemon(deployment: Deployment) -> None:
    date = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with receiver() as hook, _endpoint(deployment, hook) as endpoint:
        with deployment.engine.begin() as conn:
            # Queued as the API queues it: the request sensor turns it into a run.
            export_id = create_export(
                conn,
                space_id="acme",
                request=parse_export_request({"date": date.isoformat()}),
                trigger="api",
            )
        _wait_for(lambda: hook.received, "the run's webhook", deployment.daemon.log)
    [got] = hook.received
    body = Webhook(endpoint.secret).verify(got.body, got.headers)
    with deployment.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert record.status == "completed"
    assert body["type"] == "export.completed"
    assert body["data"] == status_object(record)
    assert body["data"]["row_count"] == 0  # a space without events: an empty, valid file

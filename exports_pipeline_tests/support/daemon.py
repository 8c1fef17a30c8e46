"""Real processes of a deployment (API, dagster-daemon, dagster-webserver) and the client
the integration tests drive them with."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
from dagster import DagsterInstance, DagsterRun
from sqlalchemy.engine import make_url

from exports_pipeline.engine.export import run_export
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.store.exports import get_export
from exports_pipeline.store.schema import exports
from exports_pipeline.store.spaces import get_space

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT_SECONDS = 180
PRODUCTION_YAML = REPO / "deploy" / "dagster.production.yaml"
ATTRIBUTED = {
    "sources": ["facebook_ads", "google_ads", "email"],
    "attribution_model": "u_shaped",
    "attribution_window": 30,
    "fields": ["event_name", "amount", "source", "campaign_name", "ad_name"],
}


class Services:
    """The API, daemon and webserver processes, each leading its own session."""

    def __init__(self, commands: dict[str, list[str]], env: dict[str, str], logs: Path):
        self.commands, self.env, self.logs = commands, env, logs
        self.processes: dict[str, subprocess.Popen] = {}

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def start(self, name: str) -> None:
        with self.log(name).open("a") as log:
            self.processes[name] = subprocess.Popen(
                self.commands[name],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, name: str) -> None:
        process = self.processes.pop(name)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # The daemon's code server outlives a SIGTERM of the daemon: end the whole group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        for name in list(self.processes):
            self.stop(name)


@dataclass
class Deployment:
    home: Path
    dagster_home: Path
    api_url: str
    ui_url: str
    key: str
    engine: sa.Engine
    instance: DagsterInstance
    export_date: dt.date
    services: Services

    def create(self, body: dict) -> int:
        response = httpx.post(
            f"{self.api_url}/public-api/v1/events/exports",
            json=body,
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert response.status_code == 202, response.text
        return response.json()["export_id"]

    def status(self, export_id: int) -> dict:
        response = httpx.get(
            f"{self.api_url}/public-api/v1/events/exports/{export_id}",
            headers={"Authorization": f"Bearer {self.key}"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    def wait_settled(self, export_id: int) -> dict:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            body = self.status(export_id)
            if body["status"] in ("completed", "failed"):
                return body
            time.sleep(0.25)
        raise AssertionError(f"export {export_id} not settled: {body}")

    def finished_run(self, export_id: int) -> DagsterRun:
        """The export's Dagster run once it has ended. The export is completed at publish;
        the run ends a moment later, after its delivery step."""
        return wait_run_finished(self.instance, self.record(export_id).run_id)

    def record(self, export_id: int):  # type: ignore[no-untyped-def]
        with self.engine.connect() as conn:
            return get_export(conn, export_id)

    def peek_status(self, export_id: int) -> str | None:
        """The export's status, or None when the store is locked: a worker frozen by
        SIGSTOP may hold SQLite's lock (e.g. closing its last connection), and waiting
        for it while it is frozen would never end."""
        impatient = sa.create_engine(
            self.engine.url, connect_args={"timeout": 0.01}, poolclass=sa.pool.NullPool
        )
        try:
            with impatient.connect() as conn:
                return conn.execute(
                    sa.select(exports.c.status).where(exports.c.id == export_id)
                ).scalar_one()
        except sa.exc.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            return None
        finally:
            impatient.dispose()

    def expected_file(self, space_id: str, body: dict, tmp: Path) -> bytes:
        with self.engine.connect() as conn:
            timezone = get_space(conn, space_id).timezone
        path = tmp / f"expected-{space_id}-{hashlib.md5(repr(body).encode()).hexdigest()}.gz"
        run_export(
            self.engine,
            space_id=space_id,
            timezone=timezone,
            request=parse_export_request(body),
            path=path,
        )
        return path.read_bytes()

    def graphql(self, query: str, variables: dict) -> dict:
        response = httpx.post(
            f"{self.ui_url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]


def wait_run_finished(instance: DagsterInstance, run_id: str) -> DagsterRun:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        run = instance.get_run_by_id(run_id)
        assert run is not None, run_id
        if run.is_finished or time.monotonic() > deadline:
            return run
        time.sleep(0.1)


def cli(env: dict, *args: str) -> str:
    """Stdout of an `exports-pipeline` command that must succeed."""
    done = subprocess.run(
        [str(BIN / "exports-pipeline"), *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def wait_http(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} process exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def dagster_pg_env(url: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables of deploy/dagster.production.yaml for a database URL."""
    parsed = make_url(url)
    return {
        "DAGSTER_PG_HOST": parsed.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(parsed.port or 5432),
        "DAGSTER_PG_DB": parsed.database or "",
        "DAGSTER_PG_USERNAME": parsed.username or "",
        "DAGSTER_PG_PASSWORD": parsed.password or "",
    }

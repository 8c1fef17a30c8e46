"""Many machines on one box: two API processes, one dagster-daemon, PostgreSQL, S3 (moto).

The Dagster instance is `deploy/dagster.production.yaml` as shipped (storage in its own fresh
PostgreSQL database, compute logs in S3), the store another fresh PostgreSQL database, export
files in moto's S3 server. 50 exports from 5 spaces go through both API processes; every one
completes, is downloaded through its presigned S3 URL and verified (sha256, size, the engine's
own file), has exactly one Dagster run, and the per-space limit of the run coordinator holds in
Dagster's run records. Throughput figures are printed, not asserted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from moto.server import ThreadedMotoServer

from exports_pipeline.storage.factory import build_s3_client
from exports_pipeline.store.db import make_engine
from exports_pipeline_tests.support.daemon import (
    ATTRIBUTED,
    BIN,
    PRODUCTION_YAML,
    Deployment,
    Services,
    cli,
    dagster_pg_env,
    wait_run_finished,
)
from exports_pipeline_tests.support.postgres import fresh_postgres_database
from exports_pipeline_tests.support.s3 import CREDENTIALS
from exports_pipeline_tests.support.served import served_api

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

SPACES = [f"demo-{k}" for k in range(1, 6)]
EXPORTS_PER_SPACE = 10
EXPORTS_BUCKET = "exports-many-machines"
LOGS_BUCKET = "dagster-logs-many-machines"


def _space_limit(config: dict) -> int:
    """The run coordinator's limit of runs per unique `space_id` tag."""
    (limit,) = (
        rule["limit"]
        for rule in config["run_coordinator"]["config"]["tag_concurrency_limits"]
        if rule["key"] == "space_id" and rule["value"] == {"applyLimitPerUniqueValue": True}
    )
    return limit


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most (start, end) intervals open at one moment; one ending as another starts
    does not overlap it."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = most = 0
    for _, step in edges:
        running += step
        most = max(most, running)
    return most


def test_max_overlap_counts_intervals_open_at_once() -> None:
    assert max_overlap([]) == 0
    assert max_overlap([(0, 2), (1, 3), (2, 4)]) == 2
    assert max_overlap([(0, 1), (1, 2)]) == 1
    assert max_overlap([(0, 9), (1, 3), (2, 4)]) == 3


def _launched_at(instance: DagsterInstance, run_id: str) -> float:
    """When the queue handed the run to the launcher (RUN_STARTING): its slot is taken."""
    (event,) = instance.all_logs(run_id, of_type=DagsterEventType.RUN_STARTING)
    return event.timestamp


@dataclass
class Cluster:
    apis: list[Deployment]  # one per (API process, space), each with that space's key
    instance: DagsterInstance
    space_limit: int
    global_limit: int
    s3: object
    s3_endpoint: str


@pytest.fixture(scope="module")
def cluster(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Cluster]:  # type: ignore[no-untyped-def]
    if "postgresql" not in request.config.selected_stores:  # type: ignore[attr-defined]
        pytest.skip("needs PostgreSQL; this run is SQLite only")
    home = tmp_path_factory.mktemp("many-machines")
    dagster_home = home / "dagster"
    dagster_home.mkdir()
    shutil.copy(PRODUCTION_YAML, dagster_home / "dagster.yaml")
    config = yaml.safe_load(PRODUCTION_YAML.read_text())
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with (
        contextlib.ExitStack() as stack,
        pytest.MonkeyPatch.context() as patch,
    ):
        stack.callback(moto.stop)
        store_url = stack.enter_context(fresh_postgres_database("exports_mm_store"))
        dagster_url = stack.enter_context(fresh_postgres_database("exports_mm_dagster"))
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("EXPORTS_", "AWS_")) and k != "DAGSTER_HOME"
        }
        env |= (
            CREDENTIALS
            | dagster_pg_env(dagster_url)
            | {
                "AWS_ENDPOINT_URL_S3": endpoint,  # boto3's own setting: Dagster's compute logs
                "DAGSTER_HOME": str(dagster_home),
                "DAGSTER_COMPUTE_LOGS_BUCKET": LOGS_BUCKET,
                "EXPORTS_HOME": str(home),
                "EXPORTS_DATABASE_URL": store_url,
                "EXPORTS_STORAGE": "s3",
                "EXPORTS_S3_BUCKET": EXPORTS_BUCKET,
                "EXPORTS_S3_REGION": CREDENTIALS["AWS_DEFAULT_REGION"],
                "EXPORTS_S3_ENDPOINT_URL": endpoint,
                # 10 creates per space in a burst; every export is polled until it settles.
                "EXPORTS_RATE_LIMIT_CREATE_PER_MINUTE": "100",
                "EXPORTS_RATE_LIMIT_STATUS_PER_MINUTE": "100000",
            }
        )
        for name, value in env.items():
            if name.startswith(("DAGSTER_", "AWS_")):
                patch.setenv(name, value)
        s3 = build_s3_client(region=CREDENTIALS["AWS_DEFAULT_REGION"], endpoint_url=endpoint)
        for bucket in (EXPORTS_BUCKET, LOGS_BUCKET):
            s3.create_bucket(Bucket=bucket)

        # Migration order (docs/deployment.md): Dagster's storage, the store, then processes.
        subprocess.run([str(BIN / "dagster"), "instance", "migrate"], env=env, check=True)
        cli(env, "db", "upgrade")
        cli(env, "seed-demo", "--events", "6000", "--days", "3", "--spaces", "6", "--no-progress")
        keys = {
            s: cli(env, "keys", "create", "--space", s).strip().splitlines()[-1] for s in SPACES
        }

        services = Services(
            {"daemon": [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"]}, env, home
        )
        services.start("daemon")
        stack.callback(_kill_group, services.processes["daemon"].pid)
        stack.callback(services.stop_all)
        api_urls = [stack.enter_context(served_api(env, home / f"api-{n}.log")) for n in range(2)]
        instance = stack.enter_context(DagsterInstance.from_config(str(dagster_home)))
        engine = make_engine(store_url)
        stack.callback(engine.dispose)
        export_date = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
        yield Cluster(
            apis=[
                Deployment(
                    home=home,
                    dagster_home=dagster_home,
                    api_url=url,
                    ui_url="",  # no webserver here
                    key=keys[s],
                    engine=engine,
                    instance=instance,
                    export_date=export_date,
                    services=services,
                )
                for url in api_urls
                for s in SPACES
            ],
            instance=instance,
            space_limit=_space_limit(config),
            global_limit=config["run_coordinator"]["config"]["max_concurrent_runs"],
            s3=s3,
            s3_endpoint=endpoint,
        )
        if services.processes["daemon"].poll() is not None:
            pytest.fail(f"the daemon died:\n{services.log('daemon').read_text()[-3000:]}")


def _kill_group(pgid: int) -> None:
    """End what outlives the daemon in its process group (its code server stayed up for
    minutes after SIGTERM)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def test_fifty_exports_from_five_spaces_over_two_apis(cluster: Cluster, tmp_path: Path) -> None:
    date = cluster.apis[0].export_date.isoformat()
    bodies = [{"date": date}, {"date": date, **ATTRIBUTED}]
    # Space by space, alternating the API process: the queue starts with 10 runs of one
    # space, so only the per-space limit keeps that space from taking every slot.
    submitted: list[tuple[int, str, Deployment, dict]] = []
    started = time.monotonic()
    for n in range(len(SPACES) * EXPORTS_PER_SPACE):
        space = SPACES[n // EXPORTS_PER_SPACE]
        api = cluster.apis[(n % 2) * len(SPACES) + SPACES.index(space)]
        body = bodies[n % 2]
        submitted.append((api.create(body), space, api, body))
    statuses = {export_id: api.wait_settled(export_id) for export_id, _, api, _ in submitted}
    wall = time.monotonic() - started

    assert len(statuses) == 50
    expected: dict[tuple[str, str], bytes] = {}
    for export_id, space, api, body in submitted:
        status = statuses[export_id]
        assert status["status"] == "completed", (export_id, status)
        assert status["download_url"].startswith(f"{cluster.s3_endpoint}/{EXPORTS_BUCKET}/")
        downloaded = httpx.get(status["download_url"])
        assert downloaded.status_code == 200
        assert hashlib.sha256(downloaded.content).hexdigest() == status["sha256"]
        assert len(downloaded.content) == status["file_size_bytes"]
        which = (space, repr(body))
        if which not in expected:
            expected[which] = api.expected_file(space, body, tmp_path)
        assert downloaded.content == expected[which]
        record = api.record(export_id)
        assert record.storage_key.startswith(f"exports/{space}/{date}/")

    instance = cluster.instance
    ours = {str(e) for e, *_ in submitted}
    # An export is completed at publish; its run ends a moment later, after delivery.
    for r in instance.get_run_records(filters=RunsFilter(job_name="event_export_job")):
        if r.dagster_run.tags.get("export_id") in ours:
            wait_run_finished(instance, r.dagster_run.run_id)
    records = [
        r
        for r in instance.get_run_records(filters=RunsFilter(job_name="event_export_job"))
        if r.dagster_run.tags.get("export_id") in ours
    ]
    runs_per_export = {}
    for r in records:
        runs_per_export.setdefault(r.dagster_run.tags["export_id"], []).append(r)
    assert {e: len(rs) for e, rs in runs_per_export.items()} == {e: 1 for e in ours}
    assert all(r.dagster_run.status == DagsterRunStatus.SUCCESS for r in records)
    # Run records: start_time = the worker started, end_time = it finished. The queue's slot
    # is taken earlier, at launch, so launch → end is checked against the limits too.
    ran = {r.dagster_run.run_id: (r.start_time, r.end_time) for r in records}
    slots = {run_id: (_launched_at(instance, run_id), end) for run_id, (_, end) in ran.items()}
    space_of = {r.dagster_run.run_id: r.dagster_run.tags["space_id"] for r in records}
    per_space = {
        space: max_overlap([ran[i] for i in ran if space_of[i] == space]) for space in SPACES
    }
    per_space_slots = {
        space: max_overlap([slots[i] for i in slots if space_of[i] == space]) for space in SPACES
    }
    assert max(per_space.values()) <= cluster.space_limit, per_space
    assert max(per_space_slots.values()) <= cluster.space_limit, per_space_slots
    assert max_overlap(list(slots.values())) <= cluster.global_limit
    assert cluster.s3.list_objects_v2(Bucket=LOGS_BUCKET)["KeyCount"] > 0

    running = [end - start for start, end in ran.values()]
    held = [end - launched for launched, end in slots.values()]
    mean_held = sum(held) / len(held)
    print(
        f"\n50 exports, 5 spaces, 2 APIs, 1 daemon, load average {os.getloadavg()[0]:.1f}: "
        f"{wall:.1f} s from the first create to the last completed = "
        f"{50 / wall * 60:.1f} exports/min\n"
        f"most runs of one space at once: {per_space} running, {per_space_slots} holding a "
        f"slot (limit {cluster.space_limit}); overall {max_overlap(list(slots.values()))} "
        f"(limit {cluster.global_limit})\n"
        f"run start → end: mean {sum(running) / len(running):.1f} s, min {min(running):.1f}, "
        f"max {max(running):.1f}; launch → end (a slot held): mean {mean_held:.1f} s, "
        f"min {min(held):.1f}, max {max(held):.1f} = {3600 / mean_held:.0f} exports/hour "
        "per worker slot"
    )

"""Timeline of small exports under the real stack (API + dagster-daemon), as the README starts it.

    .venv/bin/python benchmarks/bench_pipeline.py --exports 20            # one at a time
    .venv/bin/python benchmarks/bench_pipeline.py --rate 40 --duration 300  # 40/min, 16 spaces
    .venv/bin/python benchmarks/bench_pipeline.py --exports 20 --dagster-yaml my.yaml --webserver

Makes a temporary EXPORTS_HOME (SQLite store, local files), copies `dagster.yaml` (or
`--dagster-yaml`) into its DAGSTER_HOME, migrates both stores, seeds a small demo
(`seed-demo --spaces 16`), creates one API key per space and starts the API and the daemon
(and the webserver with `--webserver`) as real processes, each leading its own session, with
the default rate limits. Each export is one day of a demo space without sources, created over
HTTP. Sequential mode sends the next export when the previous one has settled (round-robin
over the spaces, inside the 5 creates/min per space); `--rate` sends at a fixed rate for
`--duration` seconds, then waits for every export to settle.

The timeline of each export comes from the store (`created_at`, `completed_at`) and from
Dagster's event log of its run (run record creation = RUN_ENQUEUED, RUN_STARTING = dequeued,
"Started process for run" = the worker process is up, RUN_START, the first STEP_START).
Printed: p50/p95/max per stage, the throughput, the longest wait in `queued` while a run
slot was free, the CPU seconds of the stack's processes per export (daemon, code server,
workers, API; idle cost subtracted) and the load average.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa
from optional import require

psutil = require("psutil", needed_for="counting the stack's CPU time")

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WAIT_SECONDS = 120
MAX_CONCURRENT_RUNS = 4  # dagster.yaml's max_concurrent_runs
PER_SPACE_RUNS = 2  # dagster.yaml's tag limit on space_id


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "exports-pipeline"), *args], env=env, cwd=REPO, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"exports-pipeline {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


class Stack:
    """The service processes, each leading its own session (as scripts/quickstart.sh)."""

    def __init__(self, home: Path, dagster_yaml: Path, spaces: int, events: int, webserver: bool):
        self.home, self.dagster_home = home, home / "dagster"
        self.dagster_home.mkdir(parents=True)
        # `$DAGSTER_HOME` in the file (e.g. a storage folder) becomes this home's absolute path.
        (self.dagster_home / "dagster.yaml").write_text(
            dagster_yaml.read_text().replace("$DAGSTER_HOME", str(self.dagster_home))
        )
        self.api_port = _free_port()
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("EXPORTS_") and k != "DAGSTER_HOME"
        }
        self.env |= {
            "EXPORTS_HOME": str(home),
            "DAGSTER_HOME": str(self.dagster_home),
            "EXPORTS_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.api_port}",
        }
        subprocess.run(
            [str(BIN / "dagster"), "instance", "migrate"],
            env=self.env,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        _cli(self.env, "db", "upgrade")
        _cli(
            self.env,
            "seed-demo",
            "--events",
            str(events),
            "--days",
            "3",
            # The demo's last space has no active subscription: seed one more, leave it out.
            "--spaces",
            str(spaces + 1),
            "--no-progress",
        )
        self.keys = {
            f"demo-{i}": _cli(self.env, "keys", "create", "--space", f"demo-{i}")
            .strip()
            .splitlines()[-1]
            for i in range(1, spaces + 1)
        }
        self.commands = {
            "api": [str(BIN / "exports-pipeline"), "api", "--port", str(self.api_port)],
            "daemon": [str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
        }
        if webserver:
            port = _free_port()
            self.commands["webserver"] = [
                *(str(BIN / "dagster-webserver"), "-w", "workspace.yaml"),
                *("-h", "127.0.0.1", "-p", str(port)),
            ]
        self.processes: dict[str, subprocess.Popen] = {}

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        for name, command in self.commands.items():
            with (self.home / f"{name}.log").open("a") as log:
                self.processes[name] = subprocess.Popen(
                    command,
                    env=self.env,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api_url}/docs", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise SystemExit("the API did not answer")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            # The daemon's code server outlives a SIGTERM of the daemon: end the whole group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds of the stack's processes by role. Run workers are children of the code
        server that reaps them: "workers" is the code server's reaped children (plus live
        workers); each process's own reaped children are counted with it."""
        sessions = {p.pid: name for name, p in self.processes.items()}
        roles: dict[str, float] = {}
        for proc in psutil.process_iter():
            try:
                sid = os.getsid(proc.pid)
                if sid not in sessions:
                    continue
                cmdline = " ".join(proc.cmdline())
                t = proc.cpu_times()
            except (psutil.Error, ProcessLookupError, PermissionError):
                continue
            own, children = t.user + t.system, t.children_user + t.children_system
            if "api grpc" in cmdline:
                role = "code server"
                roles["workers"] = roles.get("workers", 0.0) + children
                children = 0.0
            elif "multiprocessing" in cmdline:
                role = "workers"
            else:
                role = sessions[sid]
            roles[role] = roles.get(role, 0.0) + own + children
        return roles


def _minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: a.get(k, 0.0) - b.get(k, 0.0) for k in a.keys() | b.keys()}


@dataclass
class Timeline:
    export_id: int
    space_id: str
    posted: float  # epoch seconds, client side
    created: float = 0.0
    status: str = "queued"
    completed: float | None = None
    run_created: float | None = None
    dequeued: float | None = None
    worker_started: float | None = None
    run_start: float | None = None
    run_status: str | None = None
    first_op: float | None = None
    run_end: float | None = None
    marks: dict[str, float] = field(default_factory=dict)


def _epoch(naive_utc: dt.datetime | None) -> float | None:
    return None if naive_utc is None else naive_utc.replace(tzinfo=dt.UTC).timestamp()


def _settle_from_store(engine: sa.Engine, timelines: dict[int, Timeline]) -> None:
    from exports_pipeline.store.schema import exports

    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                exports.c.id, exports.c.status, exports.c.created_at, exports.c.completed_at
            ).where(exports.c.id.in_(list(timelines)))
        ).all()
    for row in rows:
        t = timelines[row.id]
        t.status, t.created, t.completed = (
            row.status,
            _epoch(row.created_at),
            _epoch(row.completed_at),
        )


def _fill_from_dagster(dagster_home: Path, timelines: dict[int, Timeline]) -> None:
    from dagster import DagsterEventType, DagsterInstance, RunsFilter

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        for t in timelines.values():
            records = instance.get_run_records(
                filters=RunsFilter(tags={"export_id": str(t.export_id)}), limit=1
            )
            if not records:
                continue
            record = records[0]
            t.run_created = record.create_timestamp.timestamp()
            t.run_end = record.end_time
            t.run_status = record.dagster_run.status.value
            for entry in instance.all_logs(record.dagster_run.run_id):
                kind, at = entry.dagster_event_type, entry.timestamp
                if kind == DagsterEventType.RUN_STARTING:
                    name = "dequeued"  # the coordinator dequeued it and the launcher starts it
                elif kind == DagsterEventType.ENGINE_EVENT and (entry.message or "").startswith(
                    "Started process for run"
                ):
                    name = "worker_started"  # the first thing the new process reports
                elif kind == DagsterEventType.RUN_START:
                    name = "run_start"
                elif kind == DagsterEventType.STEP_START:
                    name = "first_op"
                else:
                    continue
                if getattr(t, name) is None or at < getattr(t, name):
                    setattr(t, name, at)


def _wait_runs_ended(dagster_home: Path, timeout: float = 60) -> None:
    """Stopping the stack kills running workers: let every run end first."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

    unfinished = [
        DagsterRunStatus.QUEUED,
        DagsterRunStatus.NOT_STARTED,
        DagsterRunStatus.STARTING,
        DagsterRunStatus.STARTED,
    ]
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not instance.get_runs(filters=RunsFilter(statuses=unfinished), limit=1):
                return
            time.sleep(0.2)


STAGES = [
    ("created → run created", "created", "run_created"),
    ("run created → dequeued", "run_created", "dequeued"),
    ("dequeued → worker process up", "dequeued", "worker_started"),
    ("worker process up → RUN_START", "worker_started", "run_start"),
    ("RUN_START → first op", "run_start", "first_op"),
    ("first op → completed", "first_op", "completed"),
    ("**created → completed**", "created", "completed"),
    ("POST sent → completed", "posted", "completed"),
]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _free_slot_waits(timelines: list[Timeline]) -> float:
    """The longest time an export spent waiting (created → dequeued) more than 10 s after it
    was created while a run slot it could use was free (fewer than 4 runs launched and not
    ended, fewer than 2 of its space)."""
    busy = [
        (t.dequeued, t.run_end or t.completed or 1e18, t.space_id) for t in timelines if t.dequeued
    ]
    worst = 0.0
    for t in timelines:
        end = t.dequeued or t.completed or time.time()
        moment = t.created + 10
        while moment < end:
            running = [b for b in busy if b[0] <= moment < b[1]]
            same = sum(1 for b in running if b[2] == t.space_id)
            if len(running) < MAX_CONCURRENT_RUNS and same < PER_SPACE_RUNS:
                worst = max(worst, end - t.created)
                break
            moment += 0.25
    return worst


def report(
    timelines: list[Timeline], *, seconds: float, cpu: dict[str, float], load: tuple
) -> None:
    done = [t for t in timelines if t.status == "completed"]
    runs = {s: sum(t.run_status == s for t in timelines) for s in {t.run_status for t in timelines}}
    print(f"runs: {runs}")
    print(
        f"\n{len(done)}/{len(timelines)} completed; statuses: "
        f"{ {s: sum(t.status == s for t in timelines) for s in {t.status for t in timelines}} }"
    )
    print("\n| stage | p50 | p95 | max |\n|---|---:|---:|---:|")
    for label, start, end in STAGES:
        values = [
            getattr(t, end) - getattr(t, start)
            for t in done
            if getattr(t, start) is not None and getattr(t, end) is not None
        ]
        if values:
            print(
                f"| {label} | {statistics.median(values):.2f} s | {_pct(values, 0.95):.2f} s "
                f"| {max(values):.2f} s |"
            )
    if done:
        first = min(t.posted for t in timelines)
        last = max(t.completed for t in done)
        print(
            f"\nthroughput: {len(done)} exports in {last - first:.1f} s "
            f"(first POST → last completed) = {60 * len(done) / (last - first):.1f}/min"
        )
        print(
            f"longest wait in queued with a free slot (>10 s counts): "
            f"{_free_slot_waits(timelines):.1f} s"
        )
        print(
            f"within 30 s of the POST: {sum(t.completed - t.posted <= 30 for t in done)}"
            f"/{len(timelines)}"
        )
    per = max(1, len(done))
    print(
        f"stack CPU: {sum(cpu.values()):.1f} s over {seconds:.0f} s = "
        f"{sum(cpu.values()) / per:.2f} CPU-s per export (idle cost subtracted): "
        + ", ".join(f"{k} {v / per:.2f}" for k, v in sorted(cpu.items()))
    )
    print(f"load average (1, 5, 15 min) at start {load[0]}, at end {load[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=int, default=20, help="Sequential mode: how many.")
    parser.add_argument("--rate", type=float, help="Exports per minute (fixed-rate mode).")
    parser.add_argument("--duration", type=float, default=60, help="Seconds of --rate mode.")
    parser.add_argument("--spaces", type=int, default=16)
    parser.add_argument("--events", type=int, default=4800, help="Demo events (all spaces).")
    parser.add_argument("--dagster-yaml", type=Path, default=REPO / "dagster.yaml")
    parser.add_argument("--webserver", action="store_true", help="Start dagster-webserver too.")
    parser.add_argument("--json", type=Path, help="Write the timelines here.")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary home.")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    os.environ["DAGSTER_HOME"] = str(home / "dagster")  # this process reads the instance too
    print(f"home {home}; dagster.yaml {args.dagster_yaml}")
    stack = Stack(home, args.dagster_yaml, args.spaces, args.events, args.webserver)
    from exports_pipeline.store.db import make_engine

    engine = make_engine(f"sqlite:///{home / 'store.db'}", pooled=False)
    export_date = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)).isoformat()
    spaces = list(stack.keys)
    timelines: dict[int, Timeline] = {}
    client = httpx.Client(base_url=stack.api_url, timeout=30)

    def post(n: int) -> Timeline:
        space = spaces[n % len(spaces)]
        posted = time.time()
        response = client.post(
            "/public-api/v1/events/exports",
            json={"date": export_date},
            headers={"Authorization": f"Bearer {stack.keys[space]}"},
        )
        if response.status_code != 202:
            raise SystemExit(f"POST failed: {response.status_code} {response.text}")
        t = Timeline(response.json()["export_id"], space, posted)
        timelines[t.export_id] = t
        return t

    def wait_settled(ids: list[int]) -> None:
        deadline = time.monotonic() + WAIT_SECONDS + args.duration
        while time.monotonic() < deadline:
            _settle_from_store(engine, {i: timelines[i] for i in ids})
            if all(timelines[i].status in ("completed", "failed") for i in ids):
                return
            time.sleep(0.1)
        print("some exports did not settle in time")

    try:
        stack.start()
        # The daemon's sensors and code server come up: let it idle, then measure idle CPU.
        time.sleep(15)
        load_start = os.getloadavg()
        idle_start, idle_t0 = stack.cpu_seconds(), time.monotonic()
        time.sleep(10)
        idle = _minus(stack.cpu_seconds(), idle_start)
        idle_rate = {k: v / (time.monotonic() - idle_t0) for k, v in idle.items()}
        cpu0, t0 = stack.cpu_seconds(), time.monotonic()
        if args.rate:
            interval, n = 60 / args.rate, 0
            stop_at = t0 + args.duration
            while (due := t0 + n * interval) < stop_at:
                time.sleep(max(0.0, due - time.monotonic()))
                threading.Thread(target=post, args=(n,)).start()
                n += 1
            time.sleep(1)
            wait_settled(list(timelines))
        else:
            for n in range(args.exports):
                t = post(n)
                wait_settled([t.export_id])
        _wait_runs_ended(stack.dagster_home)
        seconds = time.monotonic() - t0
        used = _minus(stack.cpu_seconds(), cpu0)
        cpu = {k: v - idle_rate.get(k, 0.0) * seconds for k, v in used.items()}
        load_end = os.getloadavg()
    finally:
        client.close()
        stack.stop()
    _settle_from_store(engine, timelines)
    engine.dispose()
    _fill_from_dagster(stack.dagster_home, timelines)
    ordered = sorted(timelines.values(), key=lambda t: t.export_id)
    print(f"idle stack CPU: {sum(idle_rate.values()):.3f} CPU-s/s")
    report(
        ordered,
        seconds=seconds,
        cpu=cpu,
        load=(tuple(round(x, 2) for x in load_start), tuple(round(x, 2) for x in load_end)),
    )
    if args.json:
        args.json.write_text(json.dumps([t.__dict__ for t in ordered], indent=1))
    if args.keep:
        print(f"kept {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()

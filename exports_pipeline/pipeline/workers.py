"""Is a run's worker process still alive?

Dagster's default run launcher starts each run in a local process and never checks on
it again: a worker killed by SIGKILL or the OOM killer leaves its run STARTED forever.
The first op tags its run with the worker's pid, host and process start time, so the
reconciliation sensor can tell a live worker from a dead one (or from an unrelated
process that reused the pid). Launchers that can check worker health themselves (k8s,
ECS, Docker) leave this to Dagster's run monitoring.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRun

WORKER_PID_TAG = "exports/worker_pid"
WORKER_HOST_TAG = "exports/worker_host"
WORKER_START_TAG = "exports/worker_start"


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def _process_start(pid: int) -> str | None:
    fields = _proc_stat(pid)
    # starttime is field 22 of stat; after the name the state is field 3, so index 19.
    return fields[19] if fields and len(fields) > 19 else None


def current_worker_tags() -> dict[str, str]:
    """Tags identifying this process as a run worker."""
    pid = os.getpid()
    tags = {WORKER_PID_TAG: str(pid), WORKER_HOST_TAG: socket.gethostname()}
    start = _process_start(pid)
    if start:
        tags[WORKER_START_TAG] = start
    return tags


def process_is_running(pid: int, start: str | None = None) -> bool:
    """True when `pid` is a live (not zombie) process on this host, started at `start`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc: the signal check is all we have
    if fields[0] in ("Z", "X"):
        return False
    return start is None or _process_start(pid) == start


def _pid_from_engine_events(instance: DagsterInstance, run_id: str) -> int | None:
    """The pid the run worker reported when it started ("Started process for run")."""
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        data = event.event_specific_data if event else None
        metadata = getattr(data, "metadata", None) or {}
        if "pid" in metadata:
            return int(metadata["pid"].value)
    return None


def worker_pid(instance: DagsterInstance, run: DagsterRun) -> int | None:
    """The pid of the run's worker: tagged by the first op, else from the run's start event."""
    if WORKER_PID_TAG in run.tags:
        return int(run.tags[WORKER_PID_TAG])
    return _pid_from_engine_events(instance, run.run_id)


def worker_is_dead(instance: DagsterInstance, run: DagsterRun) -> bool:
    """True only when the run's worker is known to run on this host and is gone.

    Unknown (another host, no pid recorded yet) counts as alive: never fail a run on a guess.
    """
    host = run.tags.get(WORKER_HOST_TAG)
    if host is not None and host != socket.gethostname():
        return False
    pid = worker_pid(instance, run)
    if pid is None:
        return False
    return not process_is_running(pid, run.tags.get(WORKER_START_TAG))

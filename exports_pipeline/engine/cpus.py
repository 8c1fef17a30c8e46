"""How many CPUs this process may use: its affinity (`taskset`, a container's cpuset), as
Polars counts them for its own thread pool."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process may run on, at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1

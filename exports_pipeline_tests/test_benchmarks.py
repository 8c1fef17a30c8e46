"""The benchmarks' own dependencies: missing from a venv (the quick start's has the
service's only), each ends its script with one line naming the package and the command that
adds it, before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]

# Runs a benchmark script as `python benchmarks/<script>` does, with `module` not importable.
WITHOUT = """
import runpy, sys
sys.modules[sys.argv[1]] = None
script = sys.argv[2]
sys.argv = [script, *sys.argv[3:]]
sys.path.insert(0, "benchmarks")
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize(
    ("module", "command", "purpose"),
    [
        (
            "duckdb",
            ["benchmarks/bench_export.py", "--events", "1000000"],
            "the DuckDB reference (or pass --no-duckdb)",
        ),
        (
            "psutil",
            ["benchmarks/bench_pipeline.py", "--exports", "1"],
            "counting the stack's CPU time",
        ),
    ],
)
def test_a_missing_benchmark_dependency_ends_in_one_line(
    module: str, command: list[str], purpose: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT, module, *command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"{Path(command[0]).name}: {purpose} needs the package "
        f"{module}, not installed here; add it with: .venv/bin/pip install -e '.[bench]'"
    ]

"""API under concurrency: API processes on one store, bursts of creates and status reads.

    .venv/bin/python -m benchmarks.load_api                      # from the repo root
    .venv/bin/python -m benchmarks.load_api --store postgresql --spaces 20 --processes 2

Per backend: a fresh, migrated store (PostgreSQL at `EXPORTS_TEST_POSTGRES_URL`, default
the test suite's, dropped afterwards), `--spaces` spaces with one key each, `--processes`
`exports-pipeline api` processes on 127.0.0.1. Then, inside one rate limit minute,
`--creates-per-space` creates of every space at once (spaces interleaved, spread over the
processes), then, inside one minute, `--status-per-space` status reads of every space at
once. Prints one Markdown table row per endpoint (sent, 2xx, 429, 5xx, other, latency
p50/p99 as the client saw it, the burst's duration and requests answered per second) and
whether the limits held: exactly the limit accepted per space, every accepted export stored.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

from benchmarks.bench_load import fresh_store
from exports_pipeline_tests.support.load import (
    TABLE_HEADER,
    run_api_load,
    seed_spaces_with_keys,
)

CREATE_LIMIT = 5
STATUS_LIMIT = 30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--spaces", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--creates-per-space", type=int, default=10)
    parser.add_argument("--status-per-space", type=int, default=31)
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.store == "both" else [args.store]
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"# {platform.node()}, Python {platform.python_version()}, load average {load}\n")
    print(TABLE_HEADER)
    verdicts = []
    for backend in backends:
        with tempfile.TemporaryDirectory() as folder, fresh_store(backend, Path(folder)) as engine:
            keys = seed_spaces_with_keys(engine, args.spaces)
            url = engine.url.render_as_string(hide_password=False)
            engine.dispose()
            result = run_api_load(
                url,
                Path(folder) / "home",
                keys,
                processes=args.processes,
                creates_per_space=args.creates_per_space,
                status_per_space=args.status_per_space,
            )
        label = f"{backend}, {args.processes} processes, {args.spaces} spaces"
        for figures in result.figures():
            print(figures.row(label))
        expected_creates = min(CREATE_LIMIT, args.creates_per_space)
        held = (
            result.single_window
            and set(result.accepted_per_space().values()) == {expected_creates}
            and set(result.stored_per_space.values()) == {expected_creates}
            and set(result.status_ok_per_space().values())
            == {min(STATUS_LIMIT, args.status_per_space)}
            and all(f.server_errors == 0 and f.other == 0 for f in result.figures())
        )
        verdicts.append(f"{backend}: limits {'held' if held else 'NOT held'}")
    print("\n" + "; ".join(verdicts))


if __name__ == "__main__":
    main()

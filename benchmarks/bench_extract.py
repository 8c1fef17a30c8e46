"""Extraction benchmark: the engine's Arrow path (ADBC) against plain SQLAlchemy, both stores.

    python benchmarks/bench_extract.py --events 1000000   # --store sqlite|postgresql|both

`extract_events` is run unchanged; only the way its queries reach Polars differs:
- `adbc`: what the engine does (`engine.frames.store_reader`): an ADBC connection, rows
  fetched as one Arrow table (SQLite: `adbc_driver_sqlite`; PostgreSQL:
  `adbc_driver_postgresql`, the binary COPY protocol);
- `sqlalchemy`: the engine's fallback, `pl.read_database` over a SQLAlchemy connection
  (pysqlite / psycopg 3), i.e. Python rows turned into a frame.

The SQLite store is the one `bench_export.py` seeds under `benchmarks/.data/` (reused when
present); the PostgreSQL store is a scratch database seeded with the same demo data and
dropped at the end. Each (store, path, scenario) runs in a fresh process, `--repeat` times;
the frames of both paths are checked to be equal (row hashes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from bench_export import DATE, SCENARIOS, SPACE, TIMEZONE, _peak_rss_mb, _store_url, seed
from bench_load import fresh_store

PATHS = ("adbc", "sqlalchemy")


@contextmanager
def _no_adbc() -> Iterator[None]:
    """Make the engine's reader take its SQLAlchemy fallback (`pl.read_database`)."""
    from exports_pipeline.engine import frames

    @contextmanager
    def none(engine: Any) -> Iterator[None]:
        yield None

    original = frames._adbc_connection
    frames._adbc_connection = none
    try:
        yield
    finally:
        frames._adbc_connection = original


def run_extract(url: str, path: str, scenario: str, repeat: int) -> dict[str, Any]:
    from exports_pipeline.engine.extract import extract_events
    from exports_pipeline.engine.request import parse_export_request
    from exports_pipeline.store.db import make_engine

    engine = make_engine(url, pooled=False)
    request = parse_export_request({"date": DATE.isoformat(), **SCENARIOS[scenario]})
    walls, cpus = [], []
    with _no_adbc() if path == "sqlalchemy" else nullcontext():
        for _ in range(repeat):
            wall, used = time.perf_counter(), time.process_time()
            extracted = extract_events(engine, space_id=SPACE, timezone=TIMEZONE, request=request)
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - used)
    engine.dispose()
    median = sorted(range(repeat), key=walls.__getitem__)[repeat // 2]
    return {
        "wall": walls[median],
        "cpu": cpus[median],
        "walls": walls,
        "peak_rss_mb": _peak_rss_mb(),
        "events": extracted.events.height,
        "touchpoints": extracted.touchpoints.height,
        "hash": [
            int(extracted.events.hash_rows(seed=0).sum()),
            int(extracted.touchpoints.hash_rows(seed=0).sum()),
        ],
    }


def _child(url: str, path: str, scenario: str, repeat: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", url, path, scenario, "--repeat", str(repeat)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


@contextmanager
def seeded_postgres(events: int) -> Iterator[str]:
    from exports_pipeline.demo.generate import seed_demo

    with tempfile.TemporaryDirectory() as folder, fresh_store("postgresql", Path(folder)) as engine:
        summary = seed_demo(engine, events=events, days=1, spaces=1, seed=0, end_date=DATE)
        print(f"seeded PostgreSQL in {summary.seconds:.1f} s", file=sys.stderr)
        yield engine.url.render_as_string(hide_password=False)


@contextmanager
def seeded_sqlite(events: int) -> Iterator[str]:
    seed(events)
    yield _store_url(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--scenario", action="append", choices=list(SCENARIOS), help="only these (repeatable)"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("URL", "PATH", "SCENARIO"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_extract(*args.child, repeat=args.repeat)))
        return
    stores = ("sqlite", "postgresql") if args.store == "both" else (args.store,)
    print(
        f"\n{args.events:,} events, {time.strftime('%Y-%m-%d %H:%M')}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; median of {args.repeat} runs, "
        "wall time (CPU time of the process), peak RSS\n\n"
        "| store | scenario | events | touchpoints | ADBC | SQLAlchemy | SQLAlchemy / ADBC "
        "| RSS ADBC | RSS SQLAlchemy |\n|---|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for store in stores:
        seeded = seeded_sqlite if store == "sqlite" else seeded_postgres
        with seeded(args.events) as url:
            for scenario in args.scenario or SCENARIOS:
                adbc, plain = (_child(url, path, scenario, args.repeat) for path in PATHS)
                same = adbc["hash"] == plain["hash"] and adbc["events"] == plain["events"]
                print(
                    f"| {store} | {scenario} | {adbc['events']:,} | {adbc['touchpoints']:,} | "
                    f"{adbc['wall']:.2f} s ({adbc['cpu']:.2f}) | "
                    f"{plain['wall']:.2f} s ({plain['cpu']:.2f}) | "
                    f"{plain['wall'] / adbc['wall']:.1f}x | {adbc['peak_rss_mb']:.0f} MB | "
                    f"{plain['peak_rss_mb']:.0f} MB |" + ("" if same else " frames differ!"),
                    flush=True,
                )
                walls = {"adbc": adbc["walls"], "sqlalchemy": plain["walls"]}
                print(f"{store} {scenario}: {json.dumps(walls)}", file=sys.stderr)


if __name__ == "__main__":
    main()

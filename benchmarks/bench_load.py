"""Load rate of `exports-pipeline load` and run time of `seed-demo`, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/bench_load.py                 # 1M events + 4M touchpoints
    .venv/bin/python benchmarks/bench_load.py --events 100000 --touchpoints 400000
    .venv/bin/python benchmarks/bench_load.py --store sqlite --format csv --seed-demo 1000000

Writes `events.<format>` and `touchpoints.<format>` (plus their spaces and profiles) with
plausible values into a temporary folder, then loads the folder into a fresh, migrated
store per backend and prints one Markdown table row per run: rows, seconds, rows/s, and
how much of the time went to reading/validating the files. PostgreSQL runs on a fresh
database at `EXPORTS_TEST_POSTGRES_URL` (default: the test suite's) dropped afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from exports_pipeline.cli import progress_bar
from exports_pipeline.demo.generate import seed_demo
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.loader import load_directory
from exports_pipeline.store.migrate import upgrade

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SOURCES = ["facebook_ads", "google_ads", "google_organic", "direct", "email", "ai_chat_gpt"]


def write_files(directory: Path, events: int, touchpoints: int, file_format: str) -> None:
    rng = np.random.default_rng(0)
    profiles = max(1, events // 2)
    start = dt.datetime(2026, 1, 1)
    spaces = pl.DataFrame(
        {
            "id": ["bench-1", "bench-2", "bench-3"],
            "name": ["Bench one", "Bench two", "Bench three"],
            "timezone": ["America/New_York", "Asia/Kolkata", "Europe/Berlin"],
            "subscription_active": [True, True, False],
        }
    )
    profile_index = np.arange(profiles)
    profile_frame = pl.DataFrame({"_i": profile_index}).select(
        pl.format("p{}", "_i").alias("id"),
        pl.format("bench-{}", pl.col("_i") % 3 + 1).alias("space_id"),
        pl.when(pl.col("_i") % 2 == 0)
        .then(pl.format("c{}", pl.col("_i") // 10))
        .alias("company_id"),
    )
    event_profile = rng.integers(0, profiles, events)
    cents = rng.integers(-500, 50_000, events)
    event_frame = pl.DataFrame(
        {
            "id": np.arange(1, events + 1),
            "_p": event_profile,
            "_ms": rng.integers(0, 30 * 86_400_000, events),
            "_cents": cents,
            "_priced": rng.random(events) < 0.4,
        }
    ).select(
        "id",
        pl.format("bench-{}", pl.col("_p") % 3 + 1).alias("space_id"),
        pl.format("p{}", "_p").alias("profile_id"),
        pl.when(pl.col("_p") % 2 == 0)
        .then(pl.format("c{}", pl.col("_p") // 10))
        .alias("company_id"),
        pl.when(pl.col("_priced"))
        .then(pl.lit("purchase"))
        .otherwise(pl.lit("sign_up"))
        .alias("event_name"),
        pl.when(pl.col("_priced"))
        .then(pl.col("_cents").cast(pl.Decimal(16, 2)) / 100)
        .cast(pl.Decimal(14, 2))
        .alias("amount"),
        (pl.col("_cents") % 17 == 0).alias("is_upsell"),
        (pl.lit(start) + pl.duration(milliseconds="_ms"))
        .dt.cast_time_unit("us")
        .alias("event_time_utc"),
        pl.when(pl.col("_priced")).then(pl.format("o{}", "id")).alias("order_id"),
        pl.when(pl.col("_priced")).then(pl.format("#{}", "id")).alias("order_name"),
        pl.lit("https://shop.example.com/checkout").alias("event_url"),
    )
    touch_profile = rng.integers(0, profiles, touchpoints)
    source = rng.integers(0, len(SOURCES), touchpoints)
    touch_frame = pl.DataFrame(
        {
            "id": np.arange(1, touchpoints + 1),
            "_p": touch_profile,
            "_s": source,
            "_sec": rng.integers(0, 200 * 86_400, touchpoints),
            "_ad": rng.integers(0, 500, touchpoints),
        }
    ).select(
        "id",
        pl.format("bench-{}", pl.col("_p") % 3 + 1).alias("space_id"),
        pl.format("p{}", "_p").alias("profile_id"),
        pl.col("_s").replace_strict(list(range(len(SOURCES))), SOURCES).alias("source"),
        (pl.lit(start - dt.timedelta(days=170)) + pl.duration(seconds="_sec"))
        .dt.cast_time_unit("us")
        .alias("touch_time_utc"),
        pl.when(pl.col("_s") < 2).then(pl.format("ad-{}", "_ad")).alias("ad_id"),
    )
    for name, frame in (
        ("spaces", spaces),
        ("profiles", profile_frame),
        ("events", event_frame),
        ("touchpoints", touch_frame),
    ):
        path = directory / f"{name}.{file_format}"
        if file_format == "parquet":
            frame.write_parquet(path)
        elif file_format == "csv":
            frame.write_csv(path)
        else:
            frame.write_ndjson(path)


@contextmanager
def fresh_store(backend: str, folder: Path) -> Iterator[sa.Engine]:
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    admin_url = os.environ.get("EXPORTS_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"exports_bench_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(admin_url).set(database=name).render_as_string(False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--touchpoints", type=int, default=4_000_000)
    parser.add_argument("--format", choices=("parquet", "csv", "ndjson"), default="parquet")
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--seed-demo", type=int, default=0, metavar="EVENTS", help="also time seed-demo"
    )
    parser.add_argument("--progress", action="store_true", help="show the loader's progress")
    args = parser.parse_args()
    backends = ["sqlite", "postgresql"] if args.store == "both" else [args.store]

    print(f"machine: {os.cpu_count()} CPUs, {platform.python_implementation()} "
          f"{platform.python_version()}, polars {pl.__version__}")  # fmt: skip
    print()
    print("| run | store | rows | seconds | rows/s | of which reading + validating |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        folder = Path(tmp)
        files = folder / "files"
        files.mkdir()
        write_files(files, args.events, args.touchpoints, args.format)
        label = f"load {args.events:,} events + {args.touchpoints:,} touchpoints ({args.format})"
        for backend in backends:
            with fresh_store(backend, folder) as engine, progress_bar(args.progress) as bar:
                summary = load_directory(engine, files, progress=bar)
            print(
                f"| {label} | {backend} | {summary.total_rows:,} | {summary.seconds:.1f} | "
                f"{summary.rows_per_second:,.0f} | {summary.read_seconds:.1f} s |"
            )
        if args.seed_demo:
            for backend in backends:
                with fresh_store(backend, folder) as engine, progress_bar(args.progress) as bar:
                    started = time.perf_counter()
                    demo = seed_demo(engine, events=args.seed_demo, progress=bar)
                    seconds = time.perf_counter() - started
                total = sum(demo.rows.values())
                print(
                    f"| seed-demo --events {args.seed_demo:,} | {backend} | {total:,} | "
                    f"{seconds:.1f} | {total / seconds:,.0f} | - |"
                )


if __name__ == "__main__":
    main()

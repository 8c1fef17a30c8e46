"""Benchmark of the export engine on demo data: stage times, total, peak RSS, references.

    python benchmarks/bench_export.py --events 1000000
    python benchmarks/bench_export.py --scenario big-company


Seeds a SQLite store under `benchmarks/.data/` once with the demo seeder (one space, one
UTC day of `--events` events, fixed seed and date), then runs every scenario in a fresh
process (so peak RSS is the scenario's own): the engine stage by stage, and the DuckDB
reference on the same extracted Arrow tables. Prints a Markdown table, then one of the
three file formats of SPEC 6.6 (NDJSON, CSV, Parquet) written from the same final rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from optional import require

DATA = Path(__file__).resolve().parent / ".data"
DATE = dt.date(2024, 6, 15)
SPACE = "demo-1"
# The demo writes events over UTC days; exporting the UTC day exports all of them.
TIMEZONE = "UTC"
SOURCES = ["google_ads", "facebook_ads", "email", "google_organic"]

LINEAR: dict[str, Any] = {
    "sources": SOURCES,
    "attribution_model": "linear",
    "attribution_window": 30,
    "fields": [
        "profile_id",
        "company_id",
        "event_name",
        "configured_name",
        "amount",
        "is_upsell",
        "ad_id",
        "ad_name",
        "campaign_id",
        "campaign_name",
        "order_id",
        "event_url",
    ],
}

SCENARIOS: dict[str, dict[str, Any]] = {
    "no sources, 10 fields": {
        "fields": [
            "profile_id",
            "company_id",
            "space_id",
            "event_name",
            "configured_name",
            "amount",
            "is_upsell",
            "order_id",
            "order_name",
            "event_url",
        ],
    },
    "linear, 4 sources, 30 d, 12 fields": LINEAR,
    # The linear request with the models of SPEC 6.7.
    "time_decay, 4 sources, 30 d, 12 fields": {**LINEAR, "attribution_model": "time_decay"},
    "position_based [30, 30], 4 sources, 30 d, 12 fields": {
        **LINEAR,
        "attribution_model": "position_based",
        "position_weights": [30, 30],
    },
    "u_shaped, company, lifetime": {
        "query_mode": "company",
        "sources": SOURCES,
        "attribution_model": "u_shaped",
        "attribution_window": 0,
        "fields": ["company_id", "event_name", "amount", "source"],
    },
}

# `--scenario big-company`: one B2B company of 2,000 people with 100,000 touchpoints over
# the year before the day and 300 purchases in the day; linear, lifetime, company mode:
# every purchase is credited to all 100,000 touchpoints, 30,000,000 rows.
BIG_COMPANY_SPACE = "big-company"
# Purchases in the day per big-company scenario: 300 → 30M rows, 1,000 → 100M rows.
BIG_COMPANIES = {"big-company": 300, "big-company-100m": 1_000}
BIG_COMPANY: dict[str, Any] = {
    "query_mode": "company",
    "sources": SOURCES,
    "attribution_model": "linear",
    "attribution_window": 0,
    "fields": ["company_id", "event_name", "amount", "source"],
}

# The models `_duckdb_sql` has a reference query for (None: no attribution).
DUCKDB_MODELS = (None, "linear", "u_shaped")


def _peak_rss_mb() -> float:
    # VmHWM, not ru_maxrss: the latter keeps the parent's peak (the seeding) across exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Credited rows made per slice (`--slice-rows`); the engine's default.
SLICE_ROWS = 250_000
# `--span-events`: selected events of one span of a big day (None: the engine's default).
SPAN_EVENTS_ARG: int | None = None
# `--no-floor`: skip the floor (it needs every row in memory at once).
NO_FLOOR = False

# `--store URL` benchmarks another store (e.g. a scratch PostgreSQL database) instead.
STORE_URL: str | None = None


def _store_url(events: int, scenario: str | None = None) -> str:
    if scenario in BIG_COMPANIES:
        return f"sqlite:///{DATA / f'store-{scenario}.db'}"
    return STORE_URL or f"sqlite:///{DATA / f'store-{events}.db'}"


def _space(scenario: str) -> str:
    return BIG_COMPANY_SPACE if scenario in BIG_COMPANIES else SPACE


def _request_body(scenario: str) -> dict[str, Any]:
    return BIG_COMPANY if scenario in BIG_COMPANIES else SCENARIOS[scenario]


def seed(events: int) -> None:
    from exports_pipeline.demo.generate import seed_demo
    from exports_pipeline.store.db import make_engine
    from exports_pipeline.store.migrate import upgrade

    if STORE_URL is not None:
        engine = make_engine(STORE_URL)
        upgrade(engine)
        with engine.connect() as conn:
            seeded = conn.exec_driver_sql("SELECT count(*) FROM spaces").scalar()
        if not seeded:
            summary = seed_demo(engine, events=events, days=1, spaces=1, seed=0, end_date=DATE)
            print(f"seeded {summary.rows} in {summary.seconds:.1f} s", file=sys.stderr)
        engine.dispose()
        return
    marker = DATA / f"store-{events}.seeded"
    if marker.exists():
        # A store seeded before a new migration gets it (e.g. an index).
        engine = make_engine(_store_url(events))
        upgrade(engine)
        engine.dispose()
        return
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / f"store-{events}.db").unlink(missing_ok=True)
    engine = make_engine(_store_url(events))
    upgrade(engine)
    summary = seed_demo(engine, events=events, days=1, spaces=1, seed=0, end_date=DATE)
    engine.dispose()
    marker.write_text(json.dumps(summary.rows))
    print(f"seeded {summary.rows} in {summary.seconds:.1f} s", file=sys.stderr)


def big_company_tables(purchases: int) -> dict[str, Any]:
    """The big-company store: deterministic frames of every SPEC section 3 table."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(0)
    people, touches = 2_000, 100_000
    day = dt.datetime.combine(DATE, dt.time())
    year_us = 365 * 86_400 * 1_000_000
    touch_offsets = np.sort(rng.integers(1, year_us, touches))[::-1]
    event_offsets = np.sort(rng.integers(0, 86_400 * 1_000_000, purchases))
    profile_ids = [f"person-{i:04d}" for i in range(people)]
    space = BIG_COMPANY_SPACE
    return {
        "spaces": pl.DataFrame(
            {
                "id": [space],
                "name": ["Big company"],
                "timezone": [TIMEZONE],
                "subscription_active": [True],
            }
        ),
        "companies": pl.DataFrame({"id": ["company-1"], "space_id": [space], "name": ["B2B"]}),
        "profiles": pl.DataFrame({"id": profile_ids, "space_id": space, "company_id": "company-1"}),
        "touchpoints": pl.DataFrame(
            {
                "id": np.arange(1, touches + 1),
                "space_id": space,
                "profile_id": [profile_ids[i] for i in rng.integers(0, people, touches)],
                "source": [SOURCES[i] for i in rng.integers(0, len(SOURCES), touches)],
                "touch_time_utc": [day - dt.timedelta(microseconds=int(o)) for o in touch_offsets],
            }
        ),
        "events": pl.DataFrame(
            {
                "id": np.arange(1, purchases + 1),
                "space_id": space,
                "profile_id": [profile_ids[i] for i in rng.integers(0, people, purchases)],
                "company_id": "company-1",
                "event_name": "purchase",
                "amount": [f"{c / 100:.2f}" for c in rng.integers(100, 10_000_000, purchases)],
                "is_upsell": False,
                "event_time_utc": [day + dt.timedelta(microseconds=int(o)) for o in event_offsets],
            }
        ),
    }


def seed_big_company(scenario: str) -> None:
    from exports_pipeline.store import schema
    from exports_pipeline.store.bulk_insert import insert_tables
    from exports_pipeline.store.db import make_engine
    from exports_pipeline.store.migrate import upgrade
    from exports_pipeline.store.table_files import validate_frame

    marker = DATA / f"store-{scenario}.seeded"
    engine = make_engine(_store_url(0, scenario))
    if not marker.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        (DATA / f"store-{scenario}.db").unlink(missing_ok=True)
        engine = make_engine(_store_url(0, scenario))
    upgrade(engine)
    if not marker.exists():
        frames = [
            (
                schema.metadata.tables[name],
                validate_frame(schema.metadata.tables[name], f, name),
                name,
            )
            for name, f in big_company_tables(BIG_COMPANIES[scenario]).items()
        ]
        with engine.begin() as conn:
            rows = insert_tables(conn, frames)
        marker.write_text(json.dumps(rows))
    engine.dispose()


def _import_drivers() -> None:
    # A pipeline process has its drivers loaded; the import (~0.1 s) is not an export's.
    import adbc_driver_postgresql.dbapi  # noqa: F401
    import adbc_driver_sqlite.dbapi  # noqa: F401


def run_engine(events: int, scenario: str) -> dict[str, Any]:
    from exports_pipeline.engine.extract import extract_events
    from exports_pipeline.engine.hierarchy import resolve_ad_hierarchy
    from exports_pipeline.engine.plan import plan_export
    from exports_pipeline.engine.request import parse_export_request
    from exports_pipeline.engine.write import write_blocks, write_export
    from exports_pipeline.store.db import make_engine

    _import_drivers()
    engine = make_engine(_store_url(events, scenario))
    request = parse_export_request({"date": DATE.isoformat(), **_request_body(scenario)})
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def timed(stage: str, work: Any) -> Any:
        wall, used = time.perf_counter(), time.process_time()
        result = work()
        times[stage] = time.perf_counter() - wall
        cpu[stage] = time.process_time() - used
        return result

    from exports_pipeline.engine.export import SPAN_EVENTS, WHOLE_DAY_EVENTS, plan_spans
    from exports_pipeline.engine.extract import day_spans

    space = _space(scenario)
    spans = timed(
        "spans",
        lambda: day_spans(
            engine,
            space_id=space,
            timezone=TIMEZONE,
            request=request,
            max_events=SPAN_EVENTS_ARG or SPAN_EVENTS,
            whole_up_to=WHOLE_DAY_EVENTS,
        ),
    )
    if len(spans) > 1:
        # As a run does: the day counted span by span ("attribution": extract, hierarchy and
        # plan of every span), then read again and written span by span ("write").
        rows_plan = timed(
            "attribution",
            lambda: plan_spans(
                engine, space_id=space, timezone=TIMEZONE, request=request, spans=spans
            ),
        )
        result = timed(
            "write",
            lambda: write_blocks(
                rows_plan.blocks(SLICE_ROWS), DATA / "engine.ndjson.gz", schema=rows_plan.schema
            ),
        )
        times["extract"] = times.pop("spans")
        cpu["extract"] = cpu.pop("spans")
        times["hierarchy"] = cpu["hierarchy"] = 0.0
        times["total"] = sum(times.values())
        cpu["total"] = sum(cpu.values())
        times["floor"] = cpu["floor"] = float("nan")
        return {
            "times": times,
            "cpu": cpu,
            "peak_rss_mb": _peak_rss_mb(),
            "spans": len(spans),
            "events": events,
            "touchpoints": 0,
            "rows": result.row_count,
            "bytes": result.file_size_bytes,
            "formats": {},
        }
    extracted = timed(
        "extract",
        lambda: extract_events(
            engine, space_id=_space(scenario), timezone=TIMEZONE, request=request
        ),
    )
    touchpoints = timed(
        "hierarchy",
        lambda: resolve_ad_hierarchy(
            engine, space_id=_space(scenario), touchpoints=extracted.touchpoints, request=request
        ),
    )
    # The plan (journey ends, exact row count), then the rows made slice by slice as the
    # writer takes them: "write" is making and writing the rows.
    plan = timed("attribution", lambda: plan_export(extracted.events, touchpoints, request))
    result = timed(
        "write",
        lambda: write_blocks(
            plan.blocks(SLICE_ROWS), DATA / "engine.ndjson.gz", schema=plan.schema
        ),
    )
    times["extract"] += times.pop("spans")
    cpu["extract"] += cpu.pop("spans")
    times["total"] = sum(times.values())
    cpu["total"] = sum(cpu.values())
    peak = _peak_rss_mb()
    if NO_FLOOR:
        times["floor"] = cpu["floor"] = float("nan")
        return {
            "times": times,
            "cpu": cpu,
            "peak_rss_mb": peak,
            "events": extracted.events.height,
            "touchpoints": extracted.touchpoints.height,
            "rows": result.row_count,
            "bytes": result.file_size_bytes,
            "formats": {},
        }
    rows = plan.collect()
    # The floor: the final rows written alone, with nothing else to do.
    timed("floor", lambda: write_export(rows, DATA / "floor.ndjson.gz"))
    # The same rows in every format (SPEC 6.6), each against the NDJSON floor.
    formats: dict[str, dict[str, float]] = {}
    every_format = (("ndjson", ".ndjson.gz"), ("csv", ".csv.gz"), ("parquet", ".parquet"))
    for name, extension in every_format if scenario in SCENARIOS else ():
        path = DATA / f"formats{extension}"
        written = timed(name, lambda path=path, name=name: write_export(rows, path, format=name))
        formats[name] = {"wall": times[name], "cpu": cpu[name], "bytes": written.file_size_bytes}
        path.unlink()
    return {
        "times": times,
        "cpu": cpu,
        "peak_rss_mb": peak,
        "events": extracted.events.height,
        "touchpoints": extracted.touchpoints.height,
        "rows": result.row_count,
        "bytes": result.file_size_bytes,
        "formats": formats,
    }


def _duckdb_sql(request: Any) -> str:
    """The export as one DuckDB query over `events`, `touchpoints` and the hierarchy."""
    from exports_pipeline.engine.plan import output_columns

    columns = output_columns(request)
    key = "company_id" if request.query_mode == "company" else "profile_id"

    def out(name: str) -> str:
        if name == "event_time_utc":
            return "strftime(e.event_time_utc, '%Y-%m-%dT%H:%M:%S.%fZ') AS event_time_utc"
        if name == "amount":
            return "(c.cents::DECIMAL(18,0) / 100)::DECIMAL(18,2) AS amount"
        if name in ("touchpoint_id", "source", "ad_id"):
            return f"c.{name}"
        if name in ("ad_name", "adset_id", "adset_name", "campaign_id", "campaign_name"):
            return f"h.{name}"
        return f"e.{name}"

    if not request.attributed:
        select = ", ".join(out(n).replace("c.cents", "e.amount_cents") for n in columns)
        return f"SELECT {select} FROM events e ORDER BY e.event_time_utc, e.id"
    window = request.attribution_window
    in_window = (
        f"AND t.touch_time_utc >= e.event_time_utc - INTERVAL {window} DAY" if window else ""
    )
    if request.attribution_model == "linear":
        cents = "a // n + CASE WHEN jpos < a % n THEN 1 ELSE 0 END"
        split = f"SELECT *, {cents} AS share FROM j"
    else:  # u_shaped: floors, then leftover cents by largest remainder, ties to earlier
        split = """
        SELECT *, floor_ + CASE WHEN rank_ < a - sum(floor_) OVER (PARTITION BY event_id)
                                THEN 1 ELSE 0 END AS share
        FROM (
          SELECT *, row_number() OVER (PARTITION BY event_id ORDER BY rem DESC, jpos) - 1
                      AS rank_
          FROM (
            SELECT *,
              CASE WHEN n = 1 THEN a WHEN n = 2 THEN a // 2
                   WHEN jpos = 0 OR jpos = n - 1 THEN (2 * a) // 5
                   ELSE a // (5 * (n - 2)) END AS floor_,
              CASE WHEN n = 1 THEN 0 WHEN n = 2 THEN (a % 2) * 1
                   WHEN jpos = 0 OR jpos = n - 1 THEN ((2 * a) % 5) * (n - 2)
                   ELSE a % (5 * (n - 2)) END AS rem
            FROM j))"""
    sources = ", ".join(f"'{s}'" for s in request.sources)
    hierarchy = ""
    if any(n in columns for n in ("ad_name", "campaign_id", "campaign_name")):
        hierarchy = """LEFT JOIN (
            SELECT ads.ad_id, ads.ad_name, ads.adset_id, adsets.campaign_id, campaigns.campaign_name
            FROM ads LEFT JOIN adsets USING (adset_id)
            LEFT JOIN campaigns USING (campaign_id)) h ON h.ad_id = c.ad_id"""
    select = ", ".join(out(n) for n in columns)
    return f"""
    WITH j AS (
      SELECT e.id AS event_id, abs(e.amount_cents) AS a, e.amount_cents,
             t.id AS touchpoint_id, t.source, t.ad_id,
             row_number() OVER (PARTITION BY e.id ORDER BY t.touch_time_utc, t.id) - 1 AS jpos,
             count(*) OVER (PARTITION BY e.id) AS n
      FROM events e JOIN touchpoints t
        ON t.{key} = e.{key} AND t.touch_time_utc <= e.event_time_utc {in_window}
    ),
    c AS (
      SELECT event_id, jpos, touchpoint_id, source, ad_id,
             CASE WHEN amount_cents < 0 THEN -share ELSE share END AS cents
      FROM ({split}) WHERE source IN ({sources})
    )
    SELECT {select}
    FROM c JOIN events e ON e.id = c.event_id {hierarchy}
    ORDER BY e.event_time_utc, e.id, c.jpos"""


def run_duckdb(events: int, scenario: str) -> dict[str, Any]:
    import duckdb
    import polars as pl
    import sqlalchemy as sa

    from exports_pipeline.engine.extract import extract_events
    from exports_pipeline.engine.frames import store_reader
    from exports_pipeline.engine.request import parse_export_request
    from exports_pipeline.store import schema
    from exports_pipeline.store.db import make_engine

    _import_drivers()
    engine = make_engine(_store_url(events, scenario))
    request = parse_export_request({"date": DATE.isoformat(), **_request_body(scenario)})
    times: dict[str, float] = {}
    cpu: dict[str, float] = {}
    start, used = time.perf_counter(), time.process_time()
    extracted = extract_events(
        engine, space_id=_space(scenario), timezone=TIMEZONE, request=request
    )
    with store_reader(engine) as reader:
        levels = {
            table.name: reader.read(
                sa.select(*table.c).where(table.c.space_id == _space(scenario)),
                {c.name: pl.String() for c in table.c},
            )
            for table in (schema.ads, schema.adsets, schema.campaigns)
        }
    times["extract"] = time.perf_counter() - start
    cpu["extract"] = time.process_time() - used
    start, used = time.perf_counter(), time.process_time()
    conn = duckdb.connect()
    conn.execute("SET threads = 2")
    conn.register("events", extracted.events.to_arrow())
    conn.register("touchpoints", extracted.touchpoints.to_arrow())
    for name, frame in levels.items():
        conn.register(name, frame.to_arrow())
    target = DATA / "duckdb.ndjson.gz"
    conn.execute(f"COPY ({_duckdb_sql(request)}) TO '{target}' (FORMAT JSON, COMPRESSION GZIP)")
    times["duckdb"] = time.perf_counter() - start
    cpu["duckdb"] = time.process_time() - used
    peak = _peak_rss_mb()
    with gzip.open(target, "rb") as lines:
        rows = sum(1 for _ in lines)
    return {
        "times": times,
        "cpu": cpu,
        "peak_rss_mb": peak,
        "bytes": target.stat().st_size,
        "rows": rows,
    }


def _child(events: int, scenario: str, kind: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--events", str(events), "--child", kind, scenario]
    command += ["--slice-rows", str(SLICE_ROWS)] + (["--no-floor"] if NO_FLOOR else [])
    if SPAN_EVENTS_ARG:
        command += ["--span-events", str(SPAN_EVENTS_ARG)]
    if STORE_URL is not None:
        command += ["--store", STORE_URL]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "SCENARIO"), help=argparse.SUPPRESS)
    parser.add_argument("--no-duckdb", action="store_true", help="Skip the DuckDB reference.")
    parser.add_argument(
        "--store", metavar="URL", help="Another store (seeded with the demo if it is empty)."
    )
    parser.add_argument(
        "--only", metavar="SCENARIO", action="append", help="Run only these scenarios."
    )
    parser.add_argument(
        "--scenario",
        choices=list(BIG_COMPANIES),
        help="Run one scenario on its own store instead (big-company: 30,000,000 rows, "
        "big-company-100m: 100,000,000).",
    )
    parser.add_argument("--slice-rows", type=int, default=250_000, help="Rows per slice.")
    parser.add_argument(
        "--no-floor", action="store_true", help="Skip the floor and the formats (all rows at once)."
    )
    parser.add_argument("--span-events", type=int, help="Events per span of a big day.")
    args = parser.parse_args()
    global STORE_URL, SLICE_ROWS, NO_FLOOR, SPAN_EVENTS_ARG
    SPAN_EVENTS_ARG = args.span_events
    STORE_URL = args.store
    SLICE_ROWS, NO_FLOOR = args.slice_rows, args.no_floor
    if args.child:
        kind, scenario = args.child
        result = (run_engine if kind == "engine" else run_duckdb)(args.events, scenario)
        print(json.dumps(result))
        return
    # Here, not in the children: an engine child's peak RSS is without DuckDB's.
    if not args.no_duckdb and args.scenario not in BIG_COMPANIES:
        require("duckdb", needed_for="the DuckDB reference (or pass --no-duckdb)")
    if args.scenario in BIG_COMPANIES:
        seed_big_company(args.scenario)
        args.only, args.no_duckdb = [args.scenario], True
    else:
        seed(args.events)
    backend = STORE_URL.split(":")[0] if STORE_URL else "sqlite"
    what = (
        f"{args.scenario} ({BIG_COMPANIES[args.scenario]} events)"
        if args.scenario
        else f"{args.events:,} events"
    )
    print(
        f"\n{what}, {backend} store, {time.strftime('%Y-%m-%d %H:%M')}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; "
        "each cell: wall time (CPU time of the process)\n\n"
        "| scenario | events | touchpoints | rows | MB gz | extract | hierarchy | attribution "
        "| write | total | floor | total / floor | peak RSS | DuckDB (+ extract) | DuckDB RSS |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    results = {}
    for scenario in args.only or SCENARIOS:
        engine = _child(args.events, scenario, "engine")
        model = _request_body(scenario).get("attribution_model")
        skip_duckdb = args.no_duckdb or model not in DUCKDB_MODELS
        duck = None if skip_duckdb else _child(args.events, scenario, "duckdb")
        results[scenario] = {"engine": engine, "duckdb": duck}
        t, c = engine["times"], engine["cpu"]

        def cell(stage: str, t: dict = t, c: dict = c) -> str:
            return f"{t[stage]:.2f} s ({c[stage]:.2f})"

        duck_cell = "-"
        if duck is not None:
            dt_, dc = duck["times"], duck["cpu"]
            duck_cell = f"{dt_['duckdb']:.2f} s ({dc['duckdb']:.2f}) + {dt_['extract']:.2f} s" + (
                "" if duck["rows"] == engine["rows"] else f" ({duck['rows']:,} rows!)"
            )
        duck_rss = "-" if duck is None else f"{duck['peak_rss_mb']:.0f} MB"
        stages = " | ".join(
            cell(s) for s in ("extract", "hierarchy", "attribution", "write", "total", "floor")
        )
        print(
            f"| {scenario} | {engine['events']:,} | {engine['touchpoints']:,} | "
            f"{engine['rows']:,} | {engine['bytes'] / 1e6:.1f} | {stages} | "
            f"{t['total'] / t['floor']:.2f} ({c['total'] / c['floor']:.2f}) | "
            f"{engine['peak_rss_mb']:.0f} MB | "
            f"{duck_cell} | {duck_rss} |",
            flush=True,
        )
    print(
        "\nFormats (the final rows written alone; ratios to the NDJSON floor above)\n\n"
        "| scenario | format | MB | write | write / floor | bytes / NDJSON |\n"
        "|---|---|---:|---:|---:|---:|"
    )
    for scenario, result in results.items():
        engine = result["engine"]
        floor_wall, floor_cpu = engine["times"]["floor"], engine["cpu"]["floor"]
        for name, measured in engine["formats"].items():
            print(
                f"| {scenario} | {name} | {measured['bytes'] / 1e6:.1f} | "
                f"{measured['wall']:.2f} s ({measured['cpu']:.2f}) | "
                f"{measured['wall'] / floor_wall:.2f} ({measured['cpu'] / floor_cpu:.2f}) | "
                f"{measured['bytes'] / engine['bytes']:.2f} |",
                flush=True,
            )
    if STORE_URL is None and not args.only and not args.scenario:
        (DATA / f"results-{args.events}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

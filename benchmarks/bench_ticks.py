"""Cost of one sensor tick with a big `exports` table (SQLite, a local Dagster instance).

    .venv/bin/python benchmarks/bench_ticks.py                    # 10,000 exports
    .venv/bin/python benchmarks/bench_ticks.py --exports 100000 --unsettled 40

Fills a temporary store with `--exports` settled exports (completed or failed) plus
`--unsettled` processing ones whose runs are STARTED in a temporary Dagster instance (the
state of a busy deployment), then times, as medians over `--repeat` ticks: a request-sensor
poll with nothing queued (the query each poll runs, and a whole tick without waiting), and
a status-sensor tick (`fail_runs_with_dead_workers` + `settle_exports`). Prints SQLite's
query plan of the queued-exports query (it must search the (status, id) index).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from dagster import (
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
    build_sensor_context,
    mem_io_manager,
)

from exports_pipeline.clock import utcnow
from exports_pipeline.pipeline.job import EXPORT_JOB_NAME, event_export_job
from exports_pipeline.pipeline.reconcile import fail_runs_with_dead_workers, settle_exports
from exports_pipeline.pipeline.resources import LocalStorageResource, StoreResource
from exports_pipeline.pipeline.sensors import export_request_sensor
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.exports import QUEUED, exports_with_status
from exports_pipeline.store.migrate import upgrade
from exports_pipeline.store.schema import exports


def _median_ms(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exports", type=int, default=10_000)
    parser.add_argument("--unsettled", type=int, default=8, help="Processing, runs STARTED.")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, DagsterInstance.local_temp(tmp) as inst:
        url = f"sqlite:///{Path(tmp) / 'store.db'}"
        engine = make_engine(url, pooled=False)
        upgrade(engine)
        now = utcnow()
        day = (now - dt.timedelta(days=2)).date()
        rows = [
            {
                "space_id": f"demo-{i % 16 + 1}",
                "date": day,
                "params": {},
                "status": "completed" if i % 10 else "failed",
                "trigger": "api",
                "created_at": now - dt.timedelta(seconds=args.exports - i),
                "started_at": now,
                "completed_at": now,
                "run_id": None,
            }
            for i in range(args.exports)
        ]
        for i in range(args.unsettled):
            run_id = str(uuid.uuid4())
            rows.append(
                {
                    "space_id": f"demo-{i % 16 + 1}",
                    "date": day,
                    "params": {},
                    "status": "processing",
                    "trigger": "api",
                    "created_at": now,
                    "started_at": now,
                    "completed_at": None,
                    "run_id": run_id,
                }
            )
        with engine.begin() as conn:
            conn.execute(sa.insert(exports), rows)
            ids = conn.execute(
                sa.select(exports.c.id, exports.c.run_id).where(exports.c.status == "processing")
            ).all()
        for export_id, run_id in ids:
            inst.add_run(
                DagsterRun(
                    job_name=EXPORT_JOB_NAME,
                    run_id=run_id,
                    status=DagsterRunStatus.STARTED,
                    tags={"export_id": str(export_id)},
                )
            )
        store = StoreResource(database_url=url)
        defs = Definitions(
            jobs=[event_export_job],
            sensors=[export_request_sensor],
            resources={
                "store": store,
                "export_storage": LocalStorageResource(storage_dir=tmp, signing_secret="x"),
                "io_manager": mem_io_manager,
            },
        )
        last_id = max(i for i, _ in ids) if ids else args.exports

        with engine.connect() as conn:
            compiled = (
                sa.select(exports)
                .where(exports.c.status == QUEUED, exports.c.id > last_id)
                .order_by(exports.c.id)
                .limit(100)
                .compile(engine, compile_kwargs={"literal_binds": True})
            )
            plan = conn.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}")).all()

            def poll() -> None:
                exports_with_status(conn, QUEUED, after_id=last_id, limit=100)

            poll_ms = _median_ms(poll, args.repeat * 10)

        def request_tick() -> None:
            with build_sensor_context(
                instance=inst, cursor=str(last_id), definitions=defs, resources={"store": store}
            ) as context:
                export_request_sensor.evaluate_tick(context)

        def status_tick() -> None:
            fail_runs_with_dead_workers(inst)
            settle_exports(engine, inst)

        request_ms = _median_ms(request_tick, args.repeat)
        status_ms = _median_ms(status_tick, args.repeat)
        engine.dispose()

    print(f"{args.exports:,} settled exports, {args.unsettled} processing with STARTED runs")
    print("query plan of the queued poll: " + "; ".join(str(row[-1]) for row in plan))
    print(
        f"| tick | median |\n|---|---:|\n| request poll, nothing queued (one query) | "
        f"{poll_ms:.2f} ms |\n| request tick, nothing queued (no wait) | {request_ms:.1f} ms |\n"
        f"| status tick | {status_ms:.1f} ms |"
    )


if __name__ == "__main__":
    main()

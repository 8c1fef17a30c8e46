"""Concurrent traffic against served API processes, shared by the CI load test and
`benchmarks/load_api.py`: bursts of creates and status reads from many spaces, spread over
several `exports-pipeline api` processes on one store, each request's status and latency
recorded."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from exports_pipeline.store import ratelimit
from exports_pipeline.store.keys import create_key
from exports_pipeline.store.schema import exports, spaces
from exports_pipeline_tests.support.served import cli_env, served_api, wait_for_fresh_minute

EXPORTS = "/public-api/v1/events/exports"
BODY = {"date": "2024-01-15"}
# A burst must stay inside one rate limit window: it starts only when at least this many
# seconds, plus one per `REQUESTS_PER_MARGIN_SECOND` requests, are left in the minute
# (measured: a 620-request burst takes about 12 s on 2 busy cores).
WINDOW_MARGIN_SECONDS = 8.0
REQUESTS_PER_MARGIN_SECOND = 40


@dataclass(frozen=True)
class Outcome:
    """One request of a burst as the client saw it."""

    endpoint: str
    space_id: str
    status: int
    seconds: float
    export_id: int | None = None


@dataclass(frozen=True)
class Figures:
    """What a burst on one endpoint came to."""

    endpoint: str
    sent: int
    ok: int
    limited: int
    server_errors: int
    other: int
    p50_ms: float
    p99_ms: float
    slowest_s: float

    @property
    def per_second(self) -> float:
        """Requests answered per second: all were sent at once, the slowest came last."""
        return round(self.sent / self.slowest_s, 1) if self.slowest_s else 0.0

    @classmethod
    def of(cls, endpoint: str, outcomes: Sequence[Outcome]) -> Figures:
        mine = [o for o in outcomes if o.endpoint == endpoint]
        millis = sorted(o.seconds * 1000 for o in mine)
        cuts = statistics.quantiles(millis, n=100, method="inclusive") if len(millis) > 1 else []
        return cls(
            endpoint=endpoint,
            sent=len(mine),
            ok=sum(200 <= o.status < 300 for o in mine),
            limited=sum(o.status == 429 for o in mine),
            server_errors=sum(o.status >= 500 for o in mine),
            other=sum(o.status < 200 or (300 <= o.status < 500 and o.status != 429) for o in mine),
            p50_ms=round(statistics.median(millis), 1) if millis else 0.0,
            p99_ms=round(cuts[98], 1) if cuts else (millis[0] if millis else 0.0),
            slowest_s=round(millis[-1] / 1000, 2) if millis else 0.0,
        )

    def row(self, label: str) -> str:
        return (
            f"| {label} | {self.endpoint} | {self.sent} | {self.ok} | {self.limited} | "
            f"{self.server_errors} | {self.other} | {self.p50_ms} | {self.p99_ms} | "
            f"{self.slowest_s} | {self.per_second} |"
        )


TABLE_HEADER = (
    "| run | endpoint | sent | 2xx | 429 | 5xx | other | p50 ms | p99 ms | burst s | req/s |\n"
    "|---|---|---|---|---|---|---|---:|---:|---:|---:|"
)


@dataclass(frozen=True)
class LoadResult:
    create: list[Outcome]
    status: list[Outcome]
    stored_per_space: dict[str, int]
    single_window: bool

    def accepted_per_space(self) -> Counter[str]:
        return Counter(o.space_id for o in self.create if o.status == 202)

    def status_ok_per_space(self) -> Counter[str]:
        return Counter(o.space_id for o in self.status if o.status == 200)

    def figures(self) -> list[Figures]:
        return [Figures.of("create", self.create), Figures.of("status", self.status)]


def seed_spaces_with_keys(engine: sa.Engine, count: int) -> dict[str, str]:
    """`count` active spaces `load-00`, `load-01`, … with one export key each."""
    names = [f"load-{i:02d}" for i in range(count)]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(spaces),
            [{"id": n, "name": n, "timezone": "UTC", "subscription_active": True} for n in names],
        )
        return {n: create_key(conn, space_id=n) for n in names}


@dataclass(frozen=True)
class _Call:
    endpoint: str
    space_id: str
    method: str
    url: str
    key: str


async def _send(client: httpx.AsyncClient, call: _Call) -> Outcome:
    headers = {"Authorization": f"Bearer {call.key}"}
    start = time.perf_counter()
    if call.method == "POST":
        response = await client.post(call.url, json=BODY, headers=headers)
    else:
        response = await client.get(call.url, headers=headers)
    seconds = time.perf_counter() - start
    export_id = response.json().get("export_id") if response.status_code == 202 else None
    return Outcome(call.endpoint, call.space_id, response.status_code, seconds, export_id)


async def _burst_async(calls: Sequence[_Call]) -> list[Outcome]:
    limits = httpx.Limits(max_connections=len(calls), max_keepalive_connections=len(calls))
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        return list(await asyncio.gather(*(_send(client, c) for c in calls)))


def burst(calls: Sequence[_Call]) -> tuple[list[Outcome], bool]:
    """All `calls` at once, inside one rate limit window; also whether they stayed in it."""
    wait_for_fresh_minute(WINDOW_MARGIN_SECONDS + len(calls) / REQUESTS_PER_MARGIN_SECOND)
    first = ratelimit.window_of(time.time())
    outcomes = asyncio.run(_burst_async(calls))
    return outcomes, ratelimit.window_of(time.time()) == first


def run_api_load(
    store_url: str,
    home: Path,
    keys: dict[str, str],
    *,
    processes: int = 2,
    creates_per_space: int = 10,
    status_per_space: int = 31,
    status_spaces: int | None = None,
) -> LoadResult:
    """Serve `processes` API processes on the store at `store_url`; send every space's
    creates at once (spread over the processes, spaces interleaved), then the status reads
    of the first `status_spaces` spaces (default: all) at once, on their accepted exports."""
    home.mkdir(parents=True, exist_ok=True)
    env = cli_env(store_url, home)
    with ExitStack() as stack:
        bases = [
            stack.enter_context(served_api(env, home / f"api-{i}.log")) for i in range(processes)
        ]
        spaces_in_order = list(keys)
        creates = [
            _Call("create", space, "POST", "", keys[space])
            for _ in range(creates_per_space)
            for space in spaces_in_order
        ]
        creates = [
            _Call(c.endpoint, c.space_id, c.method, bases[i % processes] + EXPORTS, c.key)
            for i, c in enumerate(creates)
        ]
        created, creates_in_window = burst(creates)
        accepted: dict[str, list[int]] = {space: [] for space in spaces_in_order}
        for outcome in created:
            if outcome.export_id is not None:
                accepted[outcome.space_id].append(outcome.export_id)
        reads = [
            _Call(
                "status",
                space,
                "GET",
                f"{bases[(i + j) % processes]}{EXPORTS}/{ids[i % len(ids)] if ids else 0}",
                keys[space],
            )
            for i in range(status_per_space)
            for j, (space, ids) in enumerate(list(accepted.items())[:status_spaces])
        ]
        read, reads_in_window = burst(reads)
    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            stored = dict(
                conn.execute(
                    sa.select(exports.c.space_id, sa.func.count()).group_by(exports.c.space_id)
                ).all()
            )
    finally:
        engine.dispose()
    return LoadResult(
        create=created,
        status=read,
        stored_per_space={space: int(stored.get(space, 0)) for space in keys},
        single_window=creates_in_window and reads_in_window,
    )

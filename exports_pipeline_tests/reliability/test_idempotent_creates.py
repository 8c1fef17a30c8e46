"""SPEC 6.1 under concurrency: 20 creates with one Idempotency-Key over two real API
processes make exactly one export, and all 20 answers carry its export_id (no 5xx)."""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from exports_pipeline.store.schema import exports, idempotency_keys
from exports_pipeline_tests.api.served import served_api, unlimited_env
from exports_pipeline_tests.reliability.load import seed_spaces_with_keys

pytestmark = pytest.mark.integration

CREATES = 20
PROCESSES = 2
BODY = {"date": "2024-01-15", "event_names": ["purchase"]}


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_concurrent_creates_with_one_key_make_one_export(
    store_engine: sa.Engine, store_url: str, store_backend: str, tmp_path: Path
) -> None:
    ((_space, key),) = seed_spaces_with_keys(store_engine, 1).items()
    store_engine.dispose()
    env = unlimited_env(store_url, tmp_path / "home")
    with ExitStack() as stack:
        urls = [
            stack.enter_context(served_api(env, tmp_path / f"api-{n}.log"))
            for n in range(PROCESSES)
        ]
        start = threading.Barrier(CREATES)
        answers: list[httpx.Response | BaseException] = [None] * CREATES  # type: ignore[list-item]

        def create(n: int) -> None:
            with httpx.Client(base_url=urls[n % PROCESSES], timeout=60) as client:
                start.wait()
                try:
                    answers[n] = client.post(
                        "/public-api/v1/events/exports",
                        json=BODY,
                        headers={
                            "Authorization": f"Bearer {key}",
                            "Idempotency-Key": "retry-safe-1",
                        },
                    )
                except httpx.HTTPError as exc:
                    answers[n] = exc

        threads = [threading.Thread(target=create, args=(n,)) for n in range(CREATES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    errors = [a for a in answers if not isinstance(a, httpx.Response)]
    assert errors == []
    statuses = Counter(a.status_code for a in answers)  # type: ignore[union-attr]
    ids = Counter(a.json().get("export_id") for a in answers)  # type: ignore[union-attr]
    replayed = sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers)  # type: ignore[union-attr]
    made = _count(store_engine, exports)
    print(
        f"\n{store_backend}: {CREATES} concurrent creates with one key over {PROCESSES} API "
        f"processes: statuses {dict(statuses)}, exports made {made}, replayed {replayed}, "
        f"5xx {sum(n for s, n in statuses.items() if s >= 500)}"
    )
    assert statuses == {202: CREATES}
    assert len(ids) == 1
    assert made == 1 and _count(store_engine, idempotency_keys) == 1
    assert replayed == CREATES - 1

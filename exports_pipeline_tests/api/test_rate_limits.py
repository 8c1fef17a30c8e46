"""Per-space, per-minute limits (create 5, status 30) counted atomically in the shared store."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.store import ratelimit
from exports_pipeline.store.keys import create_key
from exports_pipeline_tests.support.api import EXPORTS, Keys, bearer, make_settings

# 20 seconds into a minute: the next window opens in 40 seconds.
NOW = dt.datetime(2024, 6, 15, 12, 0, 20, tzinfo=dt.UTC)
BODY = {"date": "2024-01-15"}


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _create(client: TestClient, key: str, body: object = BODY):  # type: ignore[no-untyped-def]
    return client.post(EXPORTS, json=body, headers=bearer(key))


def test_sixth_create_in_a_minute_is_429_until_the_next_window(
    client: TestClient, keys: Keys, frozen: time_machine.Coordinates
) -> None:
    remaining = []
    for _ in range(5):
        response = _create(client, keys.acme)
        assert response.status_code == 202
        assert response.headers["X-RateLimit-Limit"] == "5"
        remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["4", "3", "2", "1", "0"]

    sixth = _create(client, keys.acme)
    assert sixth.status_code == 429
    assert sixth.headers["Retry-After"] == "40"
    assert sixth.headers["X-RateLimit-Limit"] == "5"
    assert sixth.headers["X-RateLimit-Remaining"] == "0"
    assert "rate limit" in sixth.json()["message"].lower()

    frozen.move_to(NOW + dt.timedelta(seconds=39))
    late = _create(client, keys.acme)
    assert late.status_code == 429 and late.headers["Retry-After"] == "1"

    frozen.move_to(NOW + dt.timedelta(seconds=40))
    again = _create(client, keys.acme)
    assert again.status_code == 202
    assert again.headers["X-RateLimit-Remaining"] == "4"


def test_status_limit_is_separate_and_spaces_are_independent(
    client: TestClient, keys: Keys, frozen: time_machine.Coordinates
) -> None:
    export_ids = [_create(client, keys.acme).json()["export_id"] for _ in range(5)]
    assert _create(client, keys.acme).status_code == 429

    status = client.get(f"{EXPORTS}/{export_ids[0]}", headers=bearer(keys.acme))
    assert status.status_code == 200
    assert status.headers["X-RateLimit-Limit"] == "30"
    assert status.headers["X-RateLimit-Remaining"] == "29"

    other = _create(client, keys.other)
    assert other.status_code == 202
    assert other.headers["X-RateLimit-Remaining"] == "4"


def test_status_limit_is_30_per_minute(
    client: TestClient, keys: Keys, frozen: time_machine.Coordinates
) -> None:
    export_id = _create(client, keys.acme).json()["export_id"]
    codes = [
        client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme)).status_code
        for _ in range(31)
    ]
    assert codes == [200] * 30 + [429]


def test_keys_of_one_space_share_its_limit(
    client: TestClient, keys: Keys, store_engine: sa.Engine, frozen: time_machine.Coordinates
) -> None:
    with store_engine.begin() as conn:
        second_key = create_key(conn, space_id="acme")
    codes = [_create(client, k).status_code for k in [keys.acme, second_key] * 3]
    assert codes == [202] * 5 + [429]


def test_invalid_requests_count_and_forbidden_ones_do_not(
    client: TestClient, keys: Keys, frozen: time_machine.Coordinates
) -> None:
    for _ in range(4):
        assert _create(client, keys.acme, {"date": "not a date"}).status_code == 422
    forbidden = _create(client, keys.acme_no_export)
    assert forbidden.status_code == 403
    assert forbidden.headers["X-RateLimit-Remaining"] == "1"
    assert _create(client, keys.acme).status_code == 202
    assert _create(client, keys.acme).status_code == 429


def test_unauthenticated_requests_count_against_no_space(
    client: TestClient, keys: Keys, frozen: time_machine.Coordinates
) -> None:
    for _ in range(10):
        assert client.post(EXPORTS, json=BODY).status_code == 401
    assert _create(client, keys.acme).headers["X-RateLimit-Remaining"] == "4"


def test_limits_come_from_settings(store_url: str, tmp_path: Path, keys: Keys) -> None:
    settings = make_settings(store_url, tmp_path / "home", rate_limit_create_per_minute=2)
    with time_machine.travel(NOW, tick=False), TestClient(create_app(settings)) as client:
        codes = [_create(client, keys.acme).status_code for _ in range(3)]
    assert codes == [202, 202, 429]


def test_concurrent_hits_never_share_a_count(store_engine: sa.Engine) -> None:
    def hit(_: int) -> int:
        with store_engine.begin() as conn:
            return ratelimit.hit(conn, space_id="acme", bucket="create", window_start=1)

    with ThreadPoolExecutor(max_workers=8) as pool:
        counts = list(pool.map(hit, range(80)))
    assert sorted(counts) == list(range(1, 81))


@pytest.mark.parametrize(
    ("epoch", "retry_after"), [(0.0, 60), (20.0, 40), (59.0, 1), (59.9, 1), (60.5, 60)]
)
def test_retry_after_is_the_wait_for_the_next_window(epoch: float, retry_after: int) -> None:
    assert ratelimit.seconds_to_next_window(epoch) == retry_after


def test_old_windows_are_pruned(store_engine: sa.Engine) -> None:
    with store_engine.begin() as conn:
        for window in (1, 2, 3):
            ratelimit.hit(conn, space_id="acme", bucket="create", window_start=window)
        rows = conn.execute(sa.text("SELECT window_start FROM rate_limit_counters")).all()
    assert [r[0] for r in rows] == [3]

"""Two API processes on one store under 200 concurrent creates from 20 spaces, then status
reads just over the limit: exactly 5 creates and 30 reads per space and minute, the rest
429, never a 5xx; every accepted export is stored, none more. (The full-size run, status
reads of all 20 spaces, is `benchmarks/load_api.py`.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from exports_pipeline_tests.support.load import (
    TABLE_HEADER,
    run_api_load,
    seed_spaces_with_keys,
)

pytestmark = pytest.mark.integration

SPACES = 20
CREATES_PER_SPACE = 10
STATUS_PER_SPACE = 31
STATUS_SPACES = 5


def test_limits_hold_across_two_processes_under_concurrency(
    store_engine: sa.Engine, store_url: str, store_backend: str, tmp_path: Path
) -> None:
    keys = seed_spaces_with_keys(store_engine, SPACES)
    store_engine.dispose()
    result = run_api_load(
        store_url,
        tmp_path / "home",
        keys,
        processes=2,
        creates_per_space=CREATES_PER_SPACE,
        status_per_space=STATUS_PER_SPACE,
        status_spaces=STATUS_SPACES,
    )
    print("\n" + TABLE_HEADER)
    for figures in result.figures():
        print(figures.row(f"CI, {store_backend}, 2 processes"))

    assert result.single_window, "a burst straddled two rate limit windows"
    assert {o.status for o in result.create} <= {202, 429}
    assert {o.status for o in result.status} <= {200, 429}
    assert result.accepted_per_space() == dict.fromkeys(keys, 5)
    assert result.stored_per_space == dict.fromkeys(keys, 5)
    assert result.status_ok_per_space() == dict.fromkeys(list(keys)[:STATUS_SPACES], 30)
    assert len(result.status) == STATUS_SPACES * STATUS_PER_SPACE

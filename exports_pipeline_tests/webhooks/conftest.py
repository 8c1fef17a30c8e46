"""Fixtures of the webhook tests: a migrated store with two spaces, exports finished as the
pipeline finishes them, the travelling clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
import time_machine

from exports_pipeline.store.schema import spaces
from exports_pipeline_tests.support.webhooks import OTHER_SPACE, SPACE


@pytest.fixture
def engine(store_engine: sa.Engine) -> sa.Engine:
    with store_engine.begin() as conn:
        for space_id in (SPACE, OTHER_SPACE):
            conn.execute(
                sa.insert(spaces).values(
                    id=space_id, name=space_id.title(), timezone="UTC", subscription_active=True
                )
            )
    return store_engine


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """The clock, ticking from now; tests move it forward to the next due attempt."""
    with time_machine.travel(dt.datetime.now(dt.UTC), tick=True) as traveller:
        yield traveller



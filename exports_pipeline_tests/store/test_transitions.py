"""Status truth: each transition is a guarded update; `cancelled` only from queued or
processing, `expired` only from completed, and nothing leaves a settled status."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.store.exports import (
    create_export,
    get_export,
    mark_cancelled,
    mark_completed,
    mark_expired,
    mark_failed,
    mark_processing,
)

KEY = "acme/2024-01-15/f.ndjson.gz"


def _in(conn: sa.Connection, status: str) -> int:
    export_id = create_export(
        conn, space_id="acme", request=ExportRequest(date=dt.date(2024, 1, 15)), trigger="api"
    )
    if status == "queued":
        return export_id
    mark_processing(conn, export_id, run_id="r")
    if status == "failed":
        mark_failed(conn, export_id, message="m")
    elif status == "cancelled":
        mark_cancelled(conn, export_id)
    elif status in ("completed", "expired"):
        mark_completed(
            conn, export_id, storage_key=KEY, row_count=1, file_size_bytes=1, sha256="0" * 64
        )
        if status == "expired":
            mark_expired(conn, export_id, storage_key=KEY)
    assert get_export(conn, export_id).status == status
    return export_id


TRANSITIONS = {
    "cancel": lambda conn, i: mark_cancelled(conn, i),
    "expire": lambda conn, i: mark_expired(conn, i, storage_key=KEY),
    "complete": lambda conn, i: mark_completed(
        conn, i, storage_key=KEY, row_count=1, file_size_bytes=1, sha256="0" * 64
    ),
    "fail": lambda conn, i: mark_failed(conn, i, message="late"),
    "claim": lambda conn, i: mark_processing(conn, i, run_id="late"),
}

# (status, transition) -> the status after it; absent: the update is refused (no change).
ALLOWED = {
    ("queued", "cancel"): "cancelled",
    ("processing", "cancel"): "cancelled",
    ("completed", "expire"): "expired",
    ("processing", "complete"): "completed",
    ("queued", "fail"): "failed",
    ("processing", "fail"): "failed",
    ("queued", "claim"): "processing",
    ("processing", "claim"): "processing",
}


@pytest.mark.parametrize("transition", sorted(TRANSITIONS))
@pytest.mark.parametrize(
    "status", ["queued", "processing", "completed", "failed", "cancelled", "expired"]
)
def test_each_transition_is_guarded(store_engine: sa.Engine, status: str, transition: str):
    with store_engine.begin() as conn:
        export_id = _in(conn, status)
        before = get_export(conn, export_id)
        done = TRANSITIONS[transition](conn, export_id)
        after = get_export(conn, export_id)
    expected = ALLOWED.get((status, transition))
    assert done is (expected is not None)
    if expected is None:
        assert after == before
    else:
        assert after.status == expected


def test_cancel_is_limited_to_the_space_given(store_engine: sa.Engine):
    with store_engine.begin() as conn:
        export_id = _in(conn, "queued")
        assert not mark_cancelled(conn, export_id, space_id="other")
        assert mark_cancelled(conn, export_id, space_id="acme")


def test_expire_needs_the_file_it_was_asked_about(store_engine: sa.Engine):
    with store_engine.begin() as conn:
        export_id = _in(conn, "completed")
        assert not mark_expired(conn, export_id, storage_key="another/key")
        assert get_export(conn, export_id).status == "completed"

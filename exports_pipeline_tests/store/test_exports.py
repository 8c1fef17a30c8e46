"""start_export: a run claims its queued export or creates one processing; never a settled one."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from exports_pipeline.store.exports import (
    COMPLETED,
    FAILED,
    PROCESSING,
    QUEUED,
    ExportNotStartable,
    StoredRequest,
    create_export,
    get_export,
    mark_completed,
    mark_failed,
    mark_processing,
    start_export,
)
from exports_pipeline.store.schema import spaces

REQUEST = StoredRequest(dt.date(2024, 1, 15), {"query_mode": "profile"})


@pytest.fixture
def engine(store_engine: sa.Engine) -> sa.Engine:
    with store_engine.begin() as conn:
        conn.execute(
            sa.insert(spaces).values(
                id="acme", name="Acme", timezone="UTC", subscription_active=True
            )
        )
    return store_engine


def _start(conn: sa.Connection, export_id: int | None, run_id: str = "run-1") -> int:
    return start_export(
        conn, export_id, run_id=run_id, space_id="acme", request=REQUEST, trigger="ui"
    )


def test_without_an_export_id_a_processing_export_is_created(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        export_id = _start(conn, None)
        record = get_export(conn, export_id)
    assert record is not None
    assert (record.status, record.run_id, record.trigger) == (PROCESSING, "run-1", "ui")
    assert (record.date, record.params) == (REQUEST.date, REQUEST.params)
    assert record.started_at is not None


@pytest.mark.parametrize("before", [QUEUED, PROCESSING])
def test_a_queued_or_processing_export_is_claimed(engine: sa.Engine, before: str) -> None:
    with engine.begin() as conn:
        export_id = create_export(conn, space_id="acme", request=REQUEST, trigger="api")
        if before == PROCESSING:
            mark_processing(conn, export_id, run_id="run-0")
        assert _start(conn, export_id, run_id="run-1") == export_id
        record = get_export(conn, export_id)
    assert record is not None and (record.status, record.run_id) == (PROCESSING, "run-1")


@pytest.mark.parametrize("settled", [COMPLETED, FAILED, "missing"])
def test_a_settled_or_missing_export_is_not_started(engine: sa.Engine, settled: str) -> None:
    with engine.begin() as conn:
        export_id = create_export(conn, space_id="acme", request=REQUEST, trigger="api")
        if settled == COMPLETED:
            mark_processing(conn, export_id, run_id="run-0")
            mark_completed(
                conn, export_id, storage_key="k", row_count=1, file_size_bytes=1, sha256="0"
            )
        elif settled == FAILED:
            mark_failed(conn, export_id, message="gone")
        else:
            export_id += 1000
        with pytest.raises(ExportNotStartable, match=f"export {export_id} is {settled}"):
            _start(conn, export_id)
        record = get_export(conn, export_id)
    if settled != "missing":
        assert record is not None and record.status == settled and record.run_id != "run-1"

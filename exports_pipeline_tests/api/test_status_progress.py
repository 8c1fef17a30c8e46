"""While an export is processing, its status shows the rows expected and written so far."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.store.exports import (
    create_export,
    mark_completed,
    mark_processing,
    record_progress,
)
from exports_pipeline_tests.support.api import EXPORTS, Keys, bearer


def _export(engine: sa.Engine, steps: list[str]) -> int:
    with engine.begin() as conn:
        export_id = create_export(
            conn, space_id="acme", request=ExportRequest(date=dt.date(2024, 1, 15)), trigger="api"
        )
        for step in steps:
            if step == "processing":
                mark_processing(conn, export_id, run_id="run-1")
            elif step == "planned":
                record_progress(conn, export_id, rows_written=0, row_count_expected=300)
            elif step == "written":
                record_progress(conn, export_id, rows_written=120)
            elif step == "completed":
                mark_completed(
                    conn, export_id, storage_key="k", row_count=300, file_size_bytes=1, sha256="0"
                )
    return export_id


@pytest.mark.parametrize(
    ("steps", "progress"),
    [
        ([], None),  # queued: no progress, and none can be recorded
        (["planned"], None),
        (["processing"], None),  # not planned yet
        (["processing", "planned"], {"row_count_expected": 300, "rows_written": 0}),
        (["processing", "planned", "written"], {"row_count_expected": 300, "rows_written": 120}),
    ],
)
def test_progress_fields_while_processing(
    client: TestClient, keys: Keys, store_engine: sa.Engine, steps, progress
) -> None:
    export_id = _export(store_engine, steps)
    body = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme)).json()
    shown = {k: body[k] for k in ("row_count_expected", "rows_written") if k in body}
    assert shown == (progress or {})

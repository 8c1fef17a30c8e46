"""An export's parts are kept in `exports.files` as the JSON they always were and come back
as `StoredPart`s, rows written before `StoredPart` included."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from exports_pipeline.store.exports import (
    StoredPart,
    StoredRequest,
    create_export,
    get_export,
    mark_completed,
    mark_processing,
)
from exports_pipeline.store.schema import exports, spaces

PARTS = [
    StoredPart(1, "acme/2024-01-15/f/part-00001.csv.gz", "part-00001.csv.gz", 1000, 512, "a" * 64),
    StoredPart(2, "acme/2024-01-15/f/part-00002.csv.gz", "part-00002.csv.gz", 7, 64, "b" * 64),
]

# The column's JSON as the parts were written before `StoredPart`: dicts in this key order.
STORED_JSON = json.dumps(
    [
        {
            "part": p.part,
            "key": p.key,
            "file_name": p.file_name,
            "row_count": p.row_count,
            "file_size_bytes": p.file_size_bytes,
            "sha256": p.sha256,
        }
        for p in PARTS
    ]
)


@pytest.fixture
def export_id(store_engine: sa.Engine) -> int:
    """A processing export of acme."""
    with store_engine.begin() as conn:
        conn.execute(
            sa.insert(spaces).values(
                id="acme", name="Acme", timezone="UTC", subscription_active=True
            )
        )
        request = StoredRequest(dt.date(2024, 1, 15), {"format": "csv"})
        export_id = create_export(conn, space_id="acme", request=request, trigger="api")
        mark_processing(conn, export_id, run_id="run-1")
    return export_id


def _stored_text(engine: sa.Engine, export_id: int) -> str | None:
    with engine.connect() as conn:
        query = sa.select(sa.cast(exports.c.files, sa.Text)).where(exports.c.id == export_id)
        return conn.execute(query).scalar_one()


def test_parts_are_stored_as_the_json_they_always_were(
    store_engine: sa.Engine, export_id: int
) -> None:
    with store_engine.begin() as conn:
        assert mark_completed(
            conn,
            export_id,
            storage_key="acme/2024-01-15/f/manifest.json",
            row_count=1007,
            file_size_bytes=576,
            sha256="c" * 64,
            format="csv",
            files=PARTS,
        )
        record = get_export(conn, export_id)
    assert _stored_text(store_engine, export_id) == STORED_JSON
    assert record is not None and record.files == PARTS
    assert record.part_key(2) == PARTS[1].key and record.part_key(3) is None
    assert record.file_keys == [*(p.key for p in PARTS), "acme/2024-01-15/f/manifest.json"]


def test_a_row_written_as_plain_json_loads_as_stored_parts(
    store_engine: sa.Engine, export_id: int
) -> None:
    with store_engine.begin() as conn:
        conn.execute(
            sa.update(exports)
            .where(exports.c.id == export_id)
            .values(status="completed", files=json.loads(STORED_JSON))
        )
        record = get_export(conn, export_id)
    assert record is not None and record.files == PARTS


def test_an_export_of_one_file_has_no_parts(store_engine: sa.Engine, export_id: int) -> None:
    with store_engine.begin() as conn:
        assert mark_completed(
            conn,
            export_id,
            storage_key="acme/2024-01-15/f.csv.gz",
            row_count=3,
            file_size_bytes=40,
            sha256="d" * 64,
            format="csv",
        )
        record = get_export(conn, export_id)
    assert _stored_text(store_engine, export_id) == "null"  # JSON null, as it always was
    assert record is not None and record.files is None
    assert record.file_keys == ["acme/2024-01-15/f.csv.gz"]

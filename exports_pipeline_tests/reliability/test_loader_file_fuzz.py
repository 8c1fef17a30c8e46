"""A load whose file is damaged at the byte level (cut short, bytes overwritten or inserted),
in any format, either goes in whole or is a `LoadError` naming that file with the store
left as it was. (Cell values are fuzzed in `store/test_loader_fuzz.py`.)"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exports_pipeline.store.loader import load_directory
from exports_pipeline.store.schema import EVENTS_STORE_TABLES
from exports_pipeline.store.table_files import LoadError
from exports_pipeline_tests.support.loading import VALID, counts, snapshot, write_tables

DAMAGES = ["cut", "overwrite", "insert"]


def _damaged(data: bytes, damage: str, at: float, junk: bytes) -> bytes:
    position = int(at * len(data))
    if damage == "cut":
        return data[:position]
    if damage == "overwrite":
        return data[:position] + junk + data[position + len(junk) :]
    return data[:position] + junk + data[position:]


@pytest.mark.parametrize("file_format", ["csv", "ndjson", "parquet"])
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Polars panicked (pyo3 PanicException, not an Exception) reading this parquet file.
@example(table="ad_accounts", damage="overwrite", at=70.5 / 1579, junk=b"\x00")
@given(
    table=st.sampled_from(sorted(VALID)),
    damage=st.sampled_from(DAMAGES),
    at=st.floats(min_value=0, max_value=1),
    junk=st.binary(min_size=1, max_size=8),
)
def test_a_damaged_file_never_leaves_a_partial_load(
    store_engine: sa.Engine, file_format: str, table: str, damage: str, at: float, junk: bytes
) -> None:
    before = snapshot(store_engine)
    folder = Path(tempfile.mkdtemp(prefix="damaged-"))
    try:
        write_tables(folder, VALID, file_format)
        path = folder / f"{table}.{file_format}"
        path.write_bytes(_damaged(path.read_bytes(), damage, at, junk))
        try:
            summary = load_directory(store_engine, folder)
        except LoadError as error:
            assert snapshot(store_engine) == before
            assert error.file == path.name, str(error)
        else:
            # Still a readable file (say, cut after a whole line): every row of every file
            # went in, the damaged file's as read.
            loaded = counts(store_engine)
            assert loaded == summary.rows
            assert {n: c for n, c in loaded.items() if n != table} == {
                n: len(rows) for n, rows in VALID.items() if n != table
            }
            with store_engine.begin() as conn:
                for store_table in reversed(EVENTS_STORE_TABLES):
                    conn.execute(sa.delete(store_table))
    finally:
        shutil.rmtree(folder)

"""A load with any one malformed cell either goes in whole or leaves the store as it was."""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exports_pipeline.store.loader import load_directory
from exports_pipeline.store.schema import EVENTS_STORE_TABLES
from exports_pipeline.store.table_files import LoadError
from exports_pipeline_tests.support.loading import VALID, counts, snapshot, write_tables

CELLS = [
    (table, row, column)
    for table, rows in VALID.items()
    for row in range(len(rows))
    for column in rows[row]
]
TRICKY = [
    "", " ", "NaN", "inf", "-inf", "1e3", "12.345", "-0", "+0.10", "0x10", "١٢",
    "2026-13-01T00:00:00", "2026-02-29T00:00:00", "2024-02-29T24:00:00",
    "2026-03-29T02:30:00+99:00", "2026-03-29T02:30:00Zulu", "2026-03-29", "true", "FALSE",
    "null", "None", "9223372036854775807", "9223372036854775808", "999999999999.99",
    "1000000000000", '"', ",", "\n", "a\x00b", "s1", "p1", "1", "10", "ad1",
]  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(TRICKY),
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.booleans().map(str),
)


@pytest.mark.parametrize("file_format", ["csv", "ndjson"])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(cell=st.sampled_from(CELLS), value=VALUES)
def test_never_a_partial_load(
    store_engine: sa.Engine, file_format: str, cell: tuple[str, int, str], value: str
) -> None:
    table, row, column = cell
    tables = copy.deepcopy(VALID)
    tables[table][row][column] = value
    before = snapshot(store_engine)
    folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        load_directory(store_engine, write_tables(folder, tables, file_format))
    except LoadError as error:
        assert snapshot(store_engine) == before
        assert error.file == f"{table}.{file_format}"
        if error.row is not None and "duplicate" not in error.message:
            assert (error.file, error.row, error.column) == (
                f"{table}.{file_format}",
                row + 1,
                column,
            )
    else:
        assert counts(store_engine) == {name: len(rows) for name, rows in VALID.items()}
        with store_engine.begin() as conn:
            for store_table in EVENTS_STORE_TABLES:
                conn.execute(sa.delete(store_table))
    finally:
        shutil.rmtree(folder)

"""Bulk loading of table files into the events store (`exports-pipeline load DIR`).

Every file is read and validated first (`table_files`: discovery, parsing, coercion);
then, in ONE transaction, each table is checked against the primary keys already in the
store and inserted in bulk (`bulk_insert`). Any error raises `LoadError`, naming the
file, the 1-based data row and the column, and the transaction is rolled back: nothing
of that load is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from exports_pipeline.store.bulk_insert import LoadProgress, insert_tables
from exports_pipeline.store.table_files import LoadError, find_table_files, read_table_file


@dataclass
class LoadSummary:
    """What one load inserted: rows per table, the wall time it took, and how much of it
    went to reading and validating the files (the rest is the transaction)."""

    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    read_seconds: float = 0.0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0


def load_directory(
    engine: sa.Engine, directory: Path, *, progress: LoadProgress | None = None
) -> LoadSummary:
    """Load every table file of `directory` into the store in one transaction.

    Raises `LoadError` (and keeps nothing of the load) on the first problem found.
    """
    started = time.perf_counter()
    files = find_table_files(directory)
    if not files:
        raise LoadError(str(directory), "no table files found")
    reading = progress.add_task("reading files", total=len(files)) if progress else None
    frames = []
    for table_file in files:
        frames.append((table_file.table, read_table_file(table_file), table_file.path.name))
        if progress is not None:
            progress.advance(reading)
    read = time.perf_counter()
    with engine.begin() as conn:
        rows = insert_tables(conn, frames, progress=progress)
    return LoadSummary(
        rows=rows, seconds=time.perf_counter() - started, read_seconds=read - started
    )

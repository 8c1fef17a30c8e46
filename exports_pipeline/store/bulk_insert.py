"""Bulk insertion of validated frames into the store, inside the caller's transaction.

PostgreSQL gets `COPY`; SQLite gets `executemany` of tuples on the same DBAPI connection.
Progress is reported to an optional `LoadProgress` (the CLI passes a rich progress bar;
the store itself draws nothing).
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar

import polars as pl
import sqlalchemy as sa

from exports_pipeline.store.columns import (
    AMOUNT,
    SQLITE_TIMESTAMP_FORMAT,
    TIMESTAMP,
    primary_key,
    table_schema,
)
from exports_pipeline.store.table_files import LoadError, key_text

_CHUNK_ROWS = 50_000
# A page cache big enough to keep the indexes' hot pages while millions of rows go in.
_SQLITE_CACHE_KIB = 512 * 1024
_REBUILD_INDEXES_FROM = 100_000
# From this many rows a load refreshes PostgreSQL's planner statistics of the table itself,
# so the first export after it is planned on the new data, not on autovacuum's schedule.
_ANALYZE_FROM = 10_000
_PG_INDEX_MEMORY = "256MB"

_Driver = TypeVar("_Driver")


class LoadProgress(Protocol):
    """Where a load reports its progress (rich's `Progress` is one)."""

    def add_task(self, description: str, *, total: float | None) -> Any:
        """A new task of `total` steps; returns its handle."""

    def advance(self, task_id: Any, advance: float = 1) -> None:
        """`advance` more steps of the task are done."""


def check_keys_not_in_store(
    conn: sa.Connection, table: sa.Table, frame: pl.DataFrame, file: str
) -> None:
    """Raise if a row of `frame` has a primary key the store already holds."""
    if frame.is_empty():
        return
    if conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is None:
        return
    key = primary_key(table)
    lead = table.c[key[0]]
    lo, hi = frame[key[0]].min(), frame[key[0]].max()
    rows = conn.execute(
        sa.select(*(table.c[name] for name in key)).where(lead.between(lo, hi))
    ).all()
    if not rows:
        return
    existing = pl.DataFrame(rows, schema={name: frame.schema[name] for name in key}, orient="row")
    clash = frame.select(key).with_row_index("_row").join(existing, on=key, how="semi")
    if clash.height:
        first = clash.sort("_row").row(0, named=True)
        raise LoadError(
            file,
            f"primary key {key_text({name: first[name] for name in key})} is already in the store",
            row=int(first["_row"]) + 1,
            column=", ".join(key),
        )


def insert_frame(
    conn: sa.Connection,
    table: sa.Table,
    frame: pl.DataFrame,
    *,
    file: str | None = None,
    progress: LoadProgress | None = None,
) -> None:
    """Bulk-insert `frame` (normalised columns of `table`) inside `conn`'s transaction.

    PostgreSQL gets one `COPY … FROM STDIN (FORMAT csv)` fed by Polars' CSV writer;
    SQLite gets `executemany` on the same DBAPI connection, with timestamps in
    SQLAlchemy's text format so that range filters compare correctly.

    A large frame going into an empty table has the table's secondary indexes dropped
    before and rebuilt after the insert: building an index once from all rows is several
    times faster than updating it row by row. Both backends run DDL inside the
    transaction, so a rollback restores them; meanwhile the table is locked against
    readers on PostgreSQL (it was empty anyway). On PostgreSQL a large frame is followed by
    `ANALYZE` of the table (in the transaction: the statistics count from the commit).
    """
    file = file or table.name
    frame = frame.select(list(table_schema(table)))
    task = progress.add_task(f"{table.name}", total=frame.height) if progress is not None else None
    error = conn.dialect.loaded_dbapi.Error
    postgresql = conn.dialect.name == "postgresql"
    try:
        rebuild = _indexes_to_rebuild(conn, table, frame)
        if rebuild:
            if postgresql:
                conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{_PG_INDEX_MEMORY}'")
            elif not _driver_connection(conn, sqlite3.Connection).in_transaction:
                # The sqlite3 module only opens a transaction by itself before DML.
                conn.exec_driver_sql("BEGIN")
            for index in rebuild:
                index.drop(conn)
        if postgresql:
            _copy_postgresql(conn, table, frame, progress, task)
        else:
            _executemany_sqlite(conn, table, frame, progress, task)
        for index in rebuild:
            index.create(conn)
        if postgresql and frame.height >= _ANALYZE_FROM:
            conn.exec_driver_sql(f"ANALYZE {conn.dialect.identifier_preparer.quote(table.name)}")
    except (error, sa.exc.DBAPIError) as exc:
        raise LoadError(file, f"the store refused the rows: {exc}".strip()) from exc


def _indexes_to_rebuild(
    conn: sa.Connection, table: sa.Table, frame: pl.DataFrame
) -> list[sa.Index]:
    if frame.height < _REBUILD_INDEXES_FROM or not table.indexes:
        return []
    empty = conn.execute(sa.select(sa.literal(1)).select_from(table).limit(1)).first() is None
    return sorted(table.indexes, key=lambda index: str(index.name)) if empty else []


def _driver_connection(conn: sa.Connection, kind: type[_Driver]) -> _Driver:
    """The DBAPI driver's own connection under `conn`, which the store's driver makes a `kind`
    (sqlite3's for SQLite, psycopg's for PostgreSQL)."""
    driver = conn.connection.driver_connection
    if not isinstance(driver, kind):
        raise TypeError(
            f"a bulk insert needs a {kind.__qualname__} driver connection, not {driver!r}"
        )
    return driver


def _copy_postgresql(
    conn: sa.Connection,
    table: sa.Table,
    frame: pl.DataFrame,
    progress: LoadProgress | None,
    task: Any,
) -> None:
    import psycopg  # here: only PostgreSQL stores load it

    dbapi = _driver_connection(conn, psycopg.Connection)
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in frame.columns)
    statement = f"COPY {quote(table.name)} ({columns}) FROM STDIN (FORMAT csv)"
    with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
        # Polars writes NULL as an empty field and an empty string as "": what COPY expects.
        for chunk in frame.iter_slices(_CHUNK_ROWS):
            buffer = io.BytesIO()
            chunk.write_csv(buffer, include_header=False, datetime_format=SQLITE_TIMESTAMP_FORMAT)
            copy.write(buffer.getvalue())
            if progress is not None and task is not None:
                progress.advance(task, chunk.height)


def _executemany_sqlite(
    conn: sa.Connection,
    table: sa.Table,
    frame: pl.DataFrame,
    progress: LoadProgress | None,
    task: Any,
) -> None:
    dbapi = _driver_connection(conn, sqlite3.Connection)
    quote = conn.dialect.identifier_preparer.quote
    plain = frame.with_columns(
        pl.col(TIMESTAMP).dt.strftime(SQLITE_TIMESTAMP_FORMAT),
        # SQLAlchemy keeps NUMERIC as REAL on SQLite and reads it back as Decimal.
        pl.col(AMOUNT).cast(pl.Float64),
    )
    columns = ", ".join(quote(name) for name in frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    statement = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})"
    cursor = dbapi.cursor()
    try:
        cursor.execute(f"PRAGMA cache_size=-{_SQLITE_CACHE_KIB}")
        for chunk in plain.iter_slices(_CHUNK_ROWS):
            cursor.executemany(statement, chunk.iter_rows())
            if progress is not None and task is not None:
                progress.advance(task, chunk.height)
    finally:
        cursor.close()


def insert_tables(
    conn: sa.Connection,
    frames: Sequence[tuple[sa.Table, pl.DataFrame, str]],
    *,
    progress: LoadProgress | None = None,
    check_existing: bool = True,
) -> dict[str, int]:
    """Insert (table, normalised frame, file name) triples in `conn`'s transaction.

    With `check_existing`, each frame is first checked against the keys already in
    the store so that a clash names its row. Returns rows inserted per table.
    """
    rows: dict[str, int] = {}
    for table, frame, file in frames:
        if check_existing:
            check_keys_not_in_store(conn, table, frame, file)
        insert_frame(conn, table, frame, file=file, progress=progress)
        rows[table.name] = rows.get(table.name, 0) + frame.height
    return rows

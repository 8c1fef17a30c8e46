"""Reading SQLAlchemy Core queries into Polars frames with a fixed schema.

Rows travel as Arrow through ADBC (SQLite and PostgreSQL); any other backend falls back to
a SQLAlchemy connection. Queries are compiled with literal values for the engine's dialect,
so the same statement runs on every backend. A large read can be split into parts that run
at once, each on an ADBC connection of its own (the drivers release the GIL while the
database works).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import polars as pl
import sqlalchemy as sa
from sqlalchemy.sql import Select

from exports_pipeline.engine.cpus import usable_cpus
from exports_pipeline.store.columns import SQLITE_TIMESTAMP_PARSE, TIMESTAMP

# Without this the SQLite driver infers a column's type from its first 1024 values and
# fails when a column that starts with NULLs holds text later on.
_SQLITE_ROWS_PER_BATCH = "1000000000"

# How long an ADBC SQLite connection waits for a lock: the store's own engine waits as long.
_SQLITE_BUSY_TIMEOUT_MS = 30_000

# At most this many connections read for one extraction at once.
_MAX_PARALLEL_READS = 4

Part = TypeVar("Part")


def parallel_reads(engine: sa.Engine) -> int:
    """How many parts a large read of `engine`'s store is split into.

    SQLite runs inside this process, one query per thread: as many parts as the CPUs this
    process may use, at most 4. PostgreSQL plans parallel scans itself, and a semi-join
    split by keys would scan the touchpoints once per part: one part.
    """
    if engine.url.get_backend_name() != "sqlite":
        return 1
    return min(_MAX_PARALLEL_READS, usable_cpus())


def _sqlite_path(engine: sa.Engine) -> str | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


@contextmanager
def _adbc_connection(engine: sa.Engine) -> Iterator[Any]:
    """An ADBC connection to the store, or None when ADBC cannot serve this engine."""
    backend = engine.url.get_backend_name()
    if backend == "sqlite" and (path := _sqlite_path(engine)) is not None:
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        with adbc_sqlite.connect(path) as conn:
            with conn.cursor() as cursor:
                # As the store's own engine does: wait for a lock instead of failing at once
                # (a WAL file opened by several connections at the same moment is one).
                cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
                cursor.fetchall()
            yield conn
    elif backend == "postgresql":
        import adbc_driver_postgresql.dbapi as adbc_postgresql

        uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with adbc_postgresql.connect(uri) as conn:
            yield conn
    else:
        yield None


def _conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    columns = []
    for name, dtype in schema.items():
        column = pl.col(name)
        current = frame.schema[name]
        if dtype == TIMESTAMP and current == pl.String:
            # No cache: the times are mostly distinct, hashing each one costs more than parsing.
            parsed = column.str.to_datetime(SQLITE_TIMESTAMP_PARSE, time_unit="us", cache=False)
            columns.append(parsed)
        elif dtype == TIMESTAMP and isinstance(current, pl.Datetime):
            columns.append(column.dt.replace_time_zone(None).dt.cast_time_unit("us"))
        else:
            columns.append(column.cast(dtype))
    return frame.select(columns)


class StoreReader:
    """Runs SQLAlchemy Core queries on one connection and returns Polars frames."""

    def __init__(self, engine: sa.Engine, adbc: Any, conn: sa.Connection | None = None) -> None:
        self._engine = engine
        self._adbc = adbc
        self._conn = conn
        self._temporary_tables = 0
        # Temporary tables made on a pooled SQLAlchemy connection, dropped on close.
        self._created: list[sa.Table] = []

    def keys_table(self, keys: pl.Series) -> sa.Table:
        """A temporary table of one text column `key` holding the distinct non-null `keys`,
        on this reader's connection, for queries to join or semi-join in SQL.

        Passing a day's ids this way lets the database probe an index once per id instead
        of re-running the query that found them (SQLite has no hash join).
        """
        self._temporary_tables += 1
        table = sa.Table(
            f"engine_keys_{self._temporary_tables}",
            sa.MetaData(),
            sa.Column("key", sa.Text, nullable=False),
            prefixes=["TEMPORARY"],
        )
        # Unsorted: SQLite's IN list and PostgreSQL's hash are built from them either way.
        values = pl.DataFrame({"key": keys.cast(pl.String).drop_nulls().unique()})
        backend = self._engine.url.get_backend_name()
        if self._adbc is not None:
            with self._adbc.cursor() as cursor:
                cursor.adbc_ingest(table.name, values.to_arrow(), mode="create", temporary=True)
                if backend == "postgresql":
                    # A fresh temporary table has no statistics: without them the planner
                    # guesses its size and may choose a nested loop over millions of ids.
                    cursor.execute(f"ANALYZE {table.name}")
        else:
            assert self._conn is not None
            table.create(self._conn)
            self._created.append(table)
            if values.height:
                self._conn.execute(table.insert(), values.to_dicts())
        return table

    def map_parts(
        self, job: Callable[[StoreReader, Part], pl.DataFrame], parts: Sequence[Part]
    ) -> list[pl.DataFrame]:
        """`job(reader, part)` for every part, in order of `parts`.

        With ADBC each part runs in a thread on a connection of its own (its temporary
        tables too), so the parts' queries run at once; otherwise one after another on this
        reader's connection.
        """
        if self._adbc is None or len(parts) < 2:
            return [job(self, part) for part in parts]

        def run(part: Part) -> pl.DataFrame:
            with store_reader(self._engine) as reader:
                return job(reader, part)

        with ThreadPoolExecutor(max_workers=len(parts), thread_name_prefix="store-read") as pool:
            return list(pool.map(run, parts))

    def read(self, statement: Select, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
        """The rows of `statement` with exactly the columns and types of `schema`.

        The statement's selected columns must be those of `schema`, in order. Timestamps
        come back as naive UTC `Datetime("us")` whatever the backend stores them as.
        """
        sql = str(
            statement.compile(dialect=self._engine.dialect, compile_kwargs={"literal_binds": True})
        )
        if self._adbc is not None:
            with self._adbc.cursor() as cursor:
                if self._engine.url.get_backend_name() == "sqlite":
                    cursor.adbc_statement.set_options(
                        **{"adbc.sqlite.query.batch_rows": _SQLITE_ROWS_PER_BATCH}
                    )
                cursor.execute(sql)
                frame = pl.from_arrow(cursor.fetch_arrow_table())
        else:
            assert self._conn is not None
            frame = pl.read_database(sa.text(sql), self._conn, infer_schema_length=None)
        assert isinstance(frame, pl.DataFrame)
        frame.columns = list(schema)
        return _conform(frame, schema)


@contextmanager
def store_reader(engine: sa.Engine) -> Iterator[StoreReader]:
    """A reader over one connection (ADBC where available), closed on exit."""
    with _adbc_connection(engine) as adbc:
        if adbc is not None:
            yield StoreReader(engine, adbc)
        else:
            with engine.connect() as conn:
                reader = StoreReader(engine, None, conn)
                try:
                    yield reader
                finally:
                    # The connection goes back to the pool: its temporary tables must not.
                    for table in reader._created:
                        table.drop(conn, checkfirst=True)
                    conn.commit()

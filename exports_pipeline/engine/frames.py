"""Reading SQLAlchemy Core queries into Polars frames with a fixed schema.

Rows travel as Arrow through ADBC (SQLite and PostgreSQL); any other backend falls back to
a SQLAlchemy connection. Queries are compiled with literal values for the engine's dialect,
so the same statement runs on every backend.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
import sqlalchemy as sa
from sqlalchemy.sql import Select

# SQLAlchemy's text format of DateTime columns on SQLite (fraction optional when parsing).
_SQLITE_TIMESTAMP_PARSE = "%Y-%m-%d %H:%M:%S%.f"
# Without this the SQLite driver infers a column's type from its first 1024 values and
# fails when a column that starts with NULLs holds text later on.
_SQLITE_ROWS_PER_BATCH = "1000000000"

TIMESTAMP = pl.Datetime("us")


def _sqlite_path(engine: sa.Engine) -> str | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _adbc_arrow(engine: sa.Engine, sql: str):  # type: ignore[no-untyped-def]
    """The result of `sql` as an Arrow table through ADBC, or None when ADBC cannot serve it."""
    backend = engine.url.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_path(engine)
        if path is None:
            return None
        import adbc_driver_sqlite.dbapi as adbc_sqlite

        with adbc_sqlite.connect(path) as conn, conn.cursor() as cursor:
            cursor.adbc_statement.set_options(
                **{"adbc.sqlite.query.batch_rows": _SQLITE_ROWS_PER_BATCH}
            )
            cursor.execute(sql)
            return cursor.fetch_arrow_table()
    if backend == "postgresql":
        import adbc_driver_postgresql.dbapi as adbc_postgresql

        uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with adbc_postgresql.connect(uri) as conn, conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetch_arrow_table()
    return None


def _conform(frame: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    columns = []
    for name, dtype in schema.items():
        column = pl.col(name)
        current = frame.schema[name]
        if dtype == TIMESTAMP and current == pl.String:
            columns.append(column.str.to_datetime(_SQLITE_TIMESTAMP_PARSE, time_unit="us"))
        elif dtype == TIMESTAMP and isinstance(current, pl.Datetime):
            columns.append(column.dt.replace_time_zone(None).dt.cast_time_unit("us"))
        else:
            columns.append(column.cast(dtype))
    return frame.select(columns)


def read_frame(
    engine: sa.Engine, statement: Select, schema: Mapping[str, pl.DataType]
) -> pl.DataFrame:
    """Run `statement` and return its rows with exactly the columns and types of `schema`.

    The statement's selected labels must be the keys of `schema`, in order. Timestamps come
    back as naive UTC `Datetime("us")` whatever the backend stores them as.
    """
    sql = str(statement.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    arrow = _adbc_arrow(engine, sql)
    if arrow is not None:
        frame = pl.from_arrow(arrow)
        assert isinstance(frame, pl.DataFrame)
    else:
        with engine.connect() as conn:
            frame = pl.read_database(
                sa.text(sql), conn, infer_schema_length=None, schema_overrides=None
            )
    frame.columns = list(schema)
    return _conform(frame, schema)

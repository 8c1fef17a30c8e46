"""Bulk loading of table files into the events store (`exports-pipeline load DIR`).

A folder holds at most one file per SPEC section 3 table, named `<table>.parquet`,
`<table>.csv` or `<table>.ndjson`. Every file is read with Polars and validated before
anything is written: known table, no unknown columns, every NOT NULL column present
(nullable columns may be left out and load as NULL), values castable to the column's
type, no NULL in a NOT NULL column, no duplicate primary key within the file. Then, in ONE
transaction, each table is checked against the primary keys already in the store and
inserted in bulk (PostgreSQL: `COPY`; SQLite: `executemany` of tuples on the same DBAPI
connection). Any error raises `LoadError`, naming the file, the 1-based data row and the
column, and the transaction is rolled back: nothing of that load is kept.

Accepted values:
- timestamps: ISO 8601 (`2026-11-29T08:15:00`, `…T08:15:00.123Z`, `… 08:15+05:30`), or
  typed (Parquet) timestamps; an offset or `Z` is converted to naive UTC, a value without
  one is taken as UTC. Precision is kept to the microsecond.
- booleans: `true/false`, `t/f`, `yes/no`, `y/n`, `1/0` (any case), or typed booleans.
- amounts (NUMERIC(14,2)): at most 12 integer digits and at most 2 decimals.
"""

from __future__ import annotations

import io
import time
import zoneinfo
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from polars.exceptions import PanicException
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from exports_pipeline.store.schema import EVENTS_STORE_TABLES

TABLES: dict[str, sa.Table] = {table.name: table for table in EVENTS_STORE_TABLES}
FILE_FORMATS: tuple[str, ...] = ("parquet", "csv", "ndjson")

TEXT = pl.String()
INTEGER = pl.Int64()
BOOLEAN = pl.Boolean()
AMOUNT = pl.Decimal(14, 2)
TIMESTAMP = pl.Datetime("us")

_CHUNK_ROWS = 50_000
# A page cache big enough to keep the indexes' hot pages while millions of rows go in.
_SQLITE_CACHE_KIB = 512 * 1024
_REBUILD_INDEXES_FROM = 100_000
# From this many rows a load refreshes PostgreSQL's planner statistics of the table itself,
# so the first export after it is planned on the new data, not on autovacuum's schedule.
_ANALYZE_FROM = 10_000
_PG_INDEX_MEMORY = "256MB"
_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_AMOUNT_PATTERN = r"^[+-]?0*\d{1,12}(\.\d{0,2}0*)?$"
_TIMESTAMP_PATTERN = (
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2})?)?$"
)


class LoadError(Exception):
    """A file could not be loaded; says which file, data row (1-based) and column."""

    def __init__(
        self, file: str, message: str, *, row: int | None = None, column: str | None = None
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.message = message
        where = [file]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        super().__init__(f"{', '.join(where)}: {message}")


@dataclass(frozen=True)
class TableFile:
    """A file of the folder and the table it loads."""

    table: sa.Table
    path: Path


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


def column_dtype(column: sa.Column) -> pl.DataType:
    """The Polars type a store column's values are normalised to before insertion."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return BOOLEAN
    if isinstance(kind, sa.DateTime):
        return TIMESTAMP
    if isinstance(kind, sa.Numeric):
        return AMOUNT
    if isinstance(kind, sa.Integer):
        return INTEGER
    return TEXT


def table_schema(table: sa.Table) -> dict[str, pl.DataType]:
    """Column name -> normalised Polars type, in the table's column order."""
    return {column.name: column_dtype(column) for column in table.columns}


def find_table_files(directory: Path) -> list[TableFile]:
    """The table files of `directory`, in the order the store tables are declared.

    Dot-files and sub-folders are ignored; any other file that is not `<table>.<format>`
    of a known table and format is an error, and so are two files of one table.
    """
    if not directory.is_dir():
        raise LoadError(str(directory), "not a folder")
    found: dict[str, TableFile] = {}
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.is_dir():
            continue
        stem, _, suffix = path.name.partition(".")
        if suffix not in FILE_FORMATS:
            raise LoadError(
                path.name,
                f"unknown file type; expected <table>.{{{','.join(FILE_FORMATS)}}}",
            )
        if stem not in TABLES:
            raise LoadError(path.name, f"unknown table {stem!r}; known tables: {', '.join(TABLES)}")
        if stem in found:
            raise LoadError(path.name, f"table {stem!r} already comes from {found[stem].path.name}")
        found[stem] = TableFile(TABLES[stem], path)
    return [found[name] for name in TABLES if name in found]


def read_table_file(table_file: TableFile) -> pl.DataFrame:
    """The validated rows of one file, with the table's columns and normalised types."""
    path = table_file.path
    try:
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif path.suffix == ".csv":
            # Everything as text: the values are parsed below, where a bad one gets its row.
            frame = pl.read_csv(path, infer_schema=False)
        else:
            frame = pl.read_ndjson(path, infer_schema_length=None)
    except (Exception, PanicException) as exc:
        # Polars panics (a BaseException) on some damaged files instead of raising.
        raise LoadError(path.name, f"cannot be read as {path.suffix[1:]}: {exc}") from exc
    return validate_frame(table_file.table, frame, path.name)


def validate_frame(table: sa.Table, frame: pl.DataFrame, file: str) -> pl.DataFrame:
    """`frame` checked against `table` and cast to its normalised types (see module doc)."""
    schema = table_schema(table)
    for name in frame.columns:
        if name not in schema:
            raise LoadError(
                file,
                f"unknown column of table {table.name!r}; its columns are {', '.join(schema)}",
                column=name,
            )
    for column in table.columns:
        if column.name not in frame.columns and not column.nullable:
            raise LoadError(file, "required column is missing", column=column.name)
    cast = [
        _cast_column(frame[name], dtype, file)
        if name in frame.columns
        else pl.Series(name, [None] * frame.height, dtype=dtype)
        for name, dtype in schema.items()
    ]
    result = pl.DataFrame(cast)
    for column in table.columns:
        if not column.nullable:
            _fail_at_first(result[column.name].is_null(), file, column.name, "value is required")
    if table.name == "spaces":
        _check_timezones(result, file)
    _check_unique_keys(table, result, file)
    return result


def _fail_at_first(bad: pl.Series, file: str, column: str, message: str) -> None:
    index = bad.arg_true()
    if index.len():
        raise LoadError(file, message, row=int(index[0]) + 1, column=column)


def _cast_column(values: pl.Series, dtype: pl.DataType, file: str) -> pl.Series:
    name = values.name
    source = values.dtype
    if source.is_nested() or source == pl.Binary or source == pl.Object:
        _fail_at_first(values.is_not_null(), file, name, f"expected {dtype}, got {source}")
    if source == pl.Null:
        return values.cast(dtype)
    if dtype == TEXT:
        cast = values.cast(pl.String)
        # PostgreSQL text cannot hold NUL; refuse it here, where the row is known.
        cast = pl.select(
            pl.when(cast.str.contains("\x00", literal=True)).then(None).otherwise(cast)
        ).to_series()
        reason = "not text (it contains a NUL character)"
    elif dtype == INTEGER:
        cast, reason = _to_integer(values), "not an integer"
    elif dtype == BOOLEAN:
        cast, reason = _to_boolean(values), "not a boolean (true/false)"
    elif dtype == AMOUNT:
        cast = _to_amount(values)
        reason = "not an amount with at most 12 integer digits and 2 decimals"
    else:
        cast = _to_timestamp(values)
        reason = "not an ISO 8601 timestamp"
    bad = values.is_not_null() & cast.is_null()
    index = bad.arg_true()
    if index.len():
        row = int(index[0])
        raise LoadError(file, f"{values[row]!r} is {reason}", row=row + 1, column=name)
    return cast.alias(name)


def _to_integer(values: pl.Series) -> pl.Series:
    source = values.dtype
    if source.is_integer():
        return values.cast(INTEGER, strict=False)
    if source.is_float():
        whole = values.is_finite() & (values == values.floor()) & (values.abs() < 2.0**63)
        return pl.select(pl.when(whole).then(values).otherwise(None).cast(INTEGER)).to_series()
    if source == pl.String:
        return values.str.strip_chars().str.strip_prefix("+").cast(INTEGER, strict=False)
    return pl.Series(values.name, [None] * len(values), dtype=INTEGER)


def _to_boolean(values: pl.Series) -> pl.Series:
    source = values.dtype
    if source == pl.Boolean:
        return values
    if source.is_integer():
        text = values.cast(pl.String)
    elif source == pl.String:
        text = values.str.strip_chars().str.to_lowercase()
    else:
        return pl.Series(values.name, [None] * len(values), dtype=BOOLEAN)
    return pl.select(
        pl.when(text.is_in(_TRUE)).then(True).when(text.is_in(_FALSE)).then(False)
    ).to_series()


def _to_amount(values: pl.Series) -> pl.Series:
    source = values.dtype
    if source.is_integer():
        fits = values.cast(pl.Float64).abs() < 1e12
        return pl.select(pl.when(fits).then(values).otherwise(None).cast(AMOUNT)).to_series()
    if isinstance(source, pl.Decimal) and (source.scale or 0) <= 2:
        fits = values.abs() < 10**12
        return pl.select(pl.when(fits).then(values).otherwise(None).cast(AMOUNT)).to_series()
    if not (source.is_float() or isinstance(source, pl.Decimal) or source == pl.String):
        return pl.Series(values.name, [None] * len(values), dtype=AMOUNT)
    text = values.cast(pl.String).str.strip_chars()
    valid = text.str.contains(_AMOUNT_PATTERN)
    return pl.select(
        pl.when(valid).then(text.str.strip_prefix("+")).otherwise(None).cast(AMOUNT, strict=False)
    ).to_series()


def _to_timestamp(values: pl.Series) -> pl.Series:
    source = values.dtype
    if isinstance(source, pl.Datetime):
        if source.time_zone is not None:
            values = values.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return values.dt.cast_time_unit("us")
    if source != pl.String:
        return pl.Series(values.name, [None] * len(values), dtype=TIMESTAMP)
    parts = values.str.strip_chars().str.extract_groups(_TIMESTAMP_PATTERN).struct.unnest()
    date, minute, second, fraction, _zulu, sign, off_h, off_m = parts.get_columns()
    base = (date + " " + minute + ":" + second.fill_null("00")).str.to_datetime(
        "%Y-%m-%d %H:%M:%S", time_unit="us", strict=False
    )
    micros = fraction.str.pad_end(6, "0").str.slice(0, 6).cast(pl.Int64).fill_null(0)
    offset_h = off_h.cast(pl.Int64).fill_null(0)
    offset_m = off_m.cast(pl.Int64).fill_null(0)
    offset = (offset_h * 60 + offset_m) * pl.select(
        pl.when(sign == "-").then(-1).otherwise(1)
    ).to_series()
    valid_offset = (offset_h < 24) & (offset_m < 60)
    return pl.select(
        pl.when(valid_offset)
        .then(base + pl.duration(microseconds=micros) - pl.duration(minutes=offset))
        .otherwise(None)
    ).to_series()


def _check_timezones(frame: pl.DataFrame, file: str) -> None:
    known = zoneinfo.available_timezones()
    bad = ~frame["timezone"].is_in(sorted(known))
    _fail_at_first(bad, file, "timezone", "not an IANA timezone name")


def primary_key(table: sa.Table) -> list[str]:
    return [column.name for column in table.primary_key.columns]


def _check_unique_keys(table: sa.Table, frame: pl.DataFrame, file: str) -> None:
    key = primary_key(table)
    repeated = ~frame.select(pl.struct(key).is_first_distinct()).to_series()
    index = repeated.arg_true()
    if index.len():
        row = int(index[0])
        value = {name: frame[name][row] for name in key}
        first = frame.with_row_index("_row").filter(
            pl.all_horizontal(pl.col(name) == value[name] for name in key)
        )["_row"][0]
        raise LoadError(
            file,
            f"duplicate primary key {_key_text(value)} (first at row {int(first) + 1})",
            row=row + 1,
            column=", ".join(key),
        )


def _key_text(value: Mapping[str, object]) -> str:
    return ", ".join(f"{name}={item!r}" for name, item in value.items())


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
            f"primary key {_key_text({name: first[name] for name in key})} is already in the store",
            row=int(first["_row"]) + 1,
            column=", ".join(key),
        )


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress]:
    """A rich progress display on stderr (a silent one when `enabled` is false)."""
    progress = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    with progress:
        yield progress


def insert_frame(
    conn: sa.Connection,
    table: sa.Table,
    frame: pl.DataFrame,
    *,
    file: str | None = None,
    progress: Progress | None = None,
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
    dbapi = conn.connection.driver_connection
    error = conn.dialect.loaded_dbapi.Error
    postgresql = conn.dialect.name == "postgresql"
    try:
        rebuild = _indexes_to_rebuild(conn, table, frame)
        if rebuild:
            if postgresql:
                conn.exec_driver_sql(f"SET LOCAL maintenance_work_mem = '{_PG_INDEX_MEMORY}'")
            elif not dbapi.in_transaction:
                # The sqlite3 module only opens a transaction by itself before DML.
                conn.exec_driver_sql("BEGIN")
            for index in rebuild:
                index.drop(conn)
        if postgresql:
            _copy_postgresql(conn, dbapi, table, frame, progress, task)
        else:
            _executemany_sqlite(conn, dbapi, table, frame, progress, task)
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


def _copy_postgresql(conn, dbapi, table, frame, progress, task) -> None:  # type: ignore[no-untyped-def]
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in frame.columns)
    statement = f"COPY {quote(table.name)} ({columns}) FROM STDIN (FORMAT csv)"
    with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
        # Polars writes NULL as an empty field and an empty string as "": what COPY expects.
        for chunk in frame.iter_slices(_CHUNK_ROWS):
            buffer = io.BytesIO()
            chunk.write_csv(buffer, include_header=False, datetime_format="%Y-%m-%d %H:%M:%S%.6f")
            copy.write(buffer.getvalue())
            if progress is not None and task is not None:
                progress.advance(task, chunk.height)


def _executemany_sqlite(conn, dbapi, table, frame, progress, task) -> None:  # type: ignore[no-untyped-def]
    quote = conn.dialect.identifier_preparer.quote
    plain = frame.with_columns(
        pl.col(TIMESTAMP).dt.strftime("%Y-%m-%d %H:%M:%S%.6f"),
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
    progress: Progress | None = None,
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


def load_directory(engine: sa.Engine, directory: Path, *, progress: bool = True) -> LoadSummary:
    """Load every table file of `directory` into the store in one transaction.

    Raises `LoadError` (and keeps nothing of the load) on the first problem found.
    """
    started = time.perf_counter()
    files = find_table_files(directory)
    if not files:
        raise LoadError(str(directory), "no table files found")
    with progress_bar(progress) as bar:
        reading = bar.add_task("reading files", total=len(files))
        frames = []
        for table_file in files:
            frames.append((table_file.table, read_table_file(table_file), table_file.path.name))
            bar.advance(reading)
        read = time.perf_counter()
        with engine.begin() as conn:
            rows = insert_tables(conn, frames, progress=bar)
    return LoadSummary(
        rows=rows, seconds=time.perf_counter() - started, read_seconds=read - started
    )

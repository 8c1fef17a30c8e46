"""Reading and checking table files before a load: discovery, parsing, coercion.

A folder holds at most one file per SPEC section 3 table, named `<table>.parquet`,
`<table>.csv` or `<table>.ndjson`. Every file is read with Polars and validated before
anything is written: known table, no unknown columns, every NOT NULL column present
(nullable columns may be left out and load as NULL), values castable to the column's
type, no NULL in a NOT NULL column, no duplicate primary key within the file. Any error
raises `LoadError`, naming the file, the 1-based data row and the column.

Accepted values:
- timestamps: ISO 8601 (`2026-11-29T08:15:00`, `…T08:15:00.123Z`, `… 08:15+05:30`), or
  typed (Parquet) timestamps; an offset or `Z` is converted to naive UTC, a value without
  one is taken as UTC. Precision is kept to the microsecond.
- booleans: `true/false`, `t/f`, `yes/no`, `y/n`, `1/0` (any case), or typed booleans.
- amounts (NUMERIC(14,2)): at most 12 integer digits and at most 2 decimals.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from polars.exceptions import PanicException

from exports_pipeline.formats import ExportFormat
from exports_pipeline.store.columns import (
    AMOUNT,
    BOOLEAN,
    INTEGER,
    TEXT,
    TIMESTAMP,
    primary_key,
    table_schema,
)
from exports_pipeline.store.schema import EVENTS_STORE_TABLES

TABLES: dict[str, sa.Table] = {table.name: table for table in EVENTS_STORE_TABLES}

_TRUE = ("true", "t", "yes", "y", "1")
_FALSE = ("false", "f", "no", "n", "0")
_AMOUNT_PATTERN = r"^[+-]?0*\d{1,12}(\.\d{0,2}0*)?$"
# ISO 8601 by one vectorised pattern: Polars' own parser (chrono formats, even with `%#z`)
# also takes one-digit hours and minutes and refuses the decimal comma, and Python's
# `datetime.fromisoformat` would be called once per row (too slow for millions of rows).
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


def _read_csv(path: Path) -> pl.DataFrame:
    # Everything as text: `validate_frame` parses the values, where a bad one gets its row.
    return pl.read_csv(path, infer_schema=False)


def _read_ndjson(path: Path) -> pl.DataFrame:
    return pl.read_ndjson(path, infer_schema_length=None)


# The formats a table file may be in (plain files, not an export's gzip), each with its
# reader; `<table>.<format>` names the table and the format.
READERS: dict[ExportFormat, Callable[[Path], pl.DataFrame]] = {
    ExportFormat.PARQUET: pl.read_parquet,
    ExportFormat.CSV: _read_csv,
    ExportFormat.NDJSON: _read_ndjson,
}


@dataclass(frozen=True)
class TableFile:
    """A file of the folder, the table it loads and the format it is in."""

    table: sa.Table
    path: Path
    format: ExportFormat


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
        if suffix not in READERS:
            raise LoadError(
                path.name, f"unknown file type; expected <table>.{{{','.join(READERS)}}}"
            )
        if stem not in TABLES:
            raise LoadError(path.name, f"unknown table {stem!r}; known tables: {', '.join(TABLES)}")
        if stem in found:
            raise LoadError(path.name, f"table {stem!r} already comes from {found[stem].path.name}")
        found[stem] = TableFile(TABLES[stem], path, ExportFormat(suffix))
    return [found[name] for name in TABLES if name in found]


def read_table_file(table_file: TableFile) -> pl.DataFrame:
    """The validated rows of one file, with the table's columns and normalised types."""
    path = table_file.path
    try:
        frame = READERS[table_file.format](path)
    except (Exception, PanicException) as exc:
        # Polars panics (a BaseException) on some damaged files instead of raising.
        raise LoadError(path.name, f"cannot be read as {table_file.format}: {exc}") from exc
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
        .then(base + pl.duration(microseconds=pl.lit(micros)) - pl.duration(minutes=pl.lit(offset)))
        .otherwise(None)
    ).to_series()


def _check_timezones(frame: pl.DataFrame, file: str) -> None:
    known = zoneinfo.available_timezones()
    bad = ~frame["timezone"].is_in(sorted(known))
    _fail_at_first(bad, file, "timezone", "not an IANA timezone name")


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
            f"duplicate primary key {key_text(value)} (first at row {int(first) + 1})",
            row=row + 1,
            column=", ".join(key),
        )


def key_text(value: Mapping[str, object]) -> str:
    return ", ".join(f"{name}={item!r}" for name, item in value.items())

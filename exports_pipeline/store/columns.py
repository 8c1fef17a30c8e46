"""The Polars types the store's columns take in frames, and SQLite's text form of timestamps."""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

TEXT = pl.String()
INTEGER = pl.Int64()
BOOLEAN = pl.Boolean()
# NUMERIC(14,2) in the store (SPEC section 3).
AMOUNT = pl.Decimal(14, 2)
TIMESTAMP = pl.Datetime("us")

# SQLAlchemy's text format of DateTime columns on SQLite, in Polars (chrono) notation:
# written with six fraction digits; read back with the fraction optional.
SQLITE_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S%.6f"
SQLITE_TIMESTAMP_PARSE = "%Y-%m-%d %H:%M:%S%.f"


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


def primary_key(table: sa.Table) -> list[str]:
    return [column.name for column in table.primary_key.columns]

"""Reading downloaded export files of every format back as rows, for end-to-end tests of
SPEC 6.6: each value as its NDJSON text, so the formats compare with the NDJSON export."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import zlib
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow.parquet as pq


def _text(value: Any) -> str | None:
    """A value as the NDJSON file writes it (strings as they are, null as None)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dt.datetime):
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
        pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if value.microsecond else "%Y-%m-%dT%H:%M:%SZ"
        return value.strftime(pattern)
    return str(value)


def ndjson_text_rows(data: bytes) -> list[dict[str, str | None]]:
    """The rows of a gzip NDJSON file, every value its JSON text (strings decoded)."""
    lines = gzip.decompress(data).decode().splitlines()
    rows = [json.loads(line, parse_float=str, parse_int=str) for line in lines]
    return [{key: _text(value) for key, value in row.items()} for row in rows]


def gzip_members(data: bytes) -> int:
    """How many gzip members `data` holds (the writer makes one per block of rows)."""
    count = 0
    while data:
        decompressor = zlib.decompressobj(wbits=31)
        decompressor.decompress(data)
        data = decompressor.unused_data
        count += 1
    return count


def text_rows(format: str, data: bytes) -> list[dict[str, str | None]]:
    """The rows of a file of `format`, read by Polars (CSV) or pyarrow (Parquet), each value
    as its NDJSON text: identical rows give identical lists in every format."""
    if format == "ndjson":
        return ndjson_text_rows(data)
    if format == "csv":
        frame = pl.read_csv(io.BytesIO(gzip.decompress(data)), infer_schema=False)
        return [{k: _text(v) for k, v in row.items()} for row in frame.to_dicts()]
    if format == "parquet":
        table = pq.read_table(io.BytesIO(data))
        return [{k: _text(v) for k, v in row.items()} for row in table.to_pylist()]
    raise ValueError(f"unknown format {format!r}")

"""Stage 4: export rows to a gzip file of NDJSON, streamed in blocks.

Each block of rows is serialised by Polars expressions into one JSON object per line and
compressed as its own gzip member (a file of several members is one valid gzip stream);
blocks are compressed on a small thread pool (zlib releases the GIL) while the next block
is serialised, so the whole text never sits in memory. Members carry no name and a zero
mtime, so identical rows give byte-identical files.

Encoding: keys in the frame's column order; integers as JSON integers; `Decimal` columns
(amounts) as JSON numbers with exactly two decimals (`12.50`, `-0.07`); datetimes (naive
UTC) as RFC 3339 with `Z`, to the second (`2024-03-10T08:15:00Z`) when the time has no
fraction and to the microsecond (`2024-03-10T08:15:00.250000Z`) otherwise; strings JSON
escaped, UTF-8 unescaped; null as `null`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

# Rows per block; a block of 100k typical rows is ~10-30 MB of text.
BLOCK_ROWS = 100_000
# zlib level 6 (the gzip default) balances size and speed.
GZIP_LEVEL = 6
_WORKERS = 2


@dataclass(frozen=True)
class WriteResult:
    """What was written: rows, size in bytes and sha256 (hex) of the gzip file."""

    row_count: int
    file_size_bytes: int
    sha256: str


def _json_value(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if dtype.is_integer() or isinstance(dtype, pl.Decimal):
        text = column.cast(pl.String)
    elif dtype == pl.Boolean:
        text = pl.when(column).then(pl.lit("true")).when(~column).then(pl.lit("false"))
    elif isinstance(dtype, pl.Datetime):
        whole = column.dt.truncate("1s") == column
        text = (
            pl.when(whole)
            .then(column.dt.strftime('"%Y-%m-%dT%H:%M:%SZ"'))
            .otherwise(column.dt.strftime('"%Y-%m-%dT%H:%M:%S%.6fZ"'))
        )
    elif dtype == pl.String:
        # A one-key object's JSON is `{"k":<value>}`: cut the value out of it.
        text = (
            pl.struct(column.alias("k"))
            .struct.json_encode()
            .str.slice(len('{"k":'))
            .str.strip_suffix("}")
        )
    else:
        raise TypeError(f"column {name!r} of type {dtype} has no NDJSON encoding here")
    return text.fill_null("null")


def ndjson_lines(rows: pl.DataFrame) -> pl.Expr:
    """An expression giving each row of `rows` as one JSON object (no newline)."""
    parts: list[pl.Expr] = []
    for index, (name, dtype) in enumerate(rows.schema.items()):
        key = json.dumps(name)
        parts.append(pl.lit(("{" if index == 0 else ",") + key + ":"))
        parts.append(_json_value(name, dtype))
    parts.append(pl.lit("}"))
    return pl.concat_str(parts)


def _block_text(rows: pl.DataFrame) -> bytes:
    lines = rows.select(ndjson_lines(rows).alias("line")).to_series()
    return (lines.str.join("\n").item() + "\n").encode()


def _compress(text: bytes) -> bytes:
    return gzip.compress(text, compresslevel=GZIP_LEVEL, mtime=0)


def write_export(rows: pl.DataFrame, path: Path, *, block_rows: int = BLOCK_ROWS) -> WriteResult:
    """Write `rows` as gzip NDJSON to `path` (in place: the caller publishes atomically).

    One gzip member per `block_rows` rows; an empty frame gives a valid gzip of no lines.
    """
    digest = hashlib.sha256()
    size = 0

    def emit(member: bytes) -> None:
        nonlocal size
        out.write(member)
        digest.update(member)
        size += len(member)

    with open(path, "wb") as out, ThreadPoolExecutor(_WORKERS) as pool:
        pending: deque[Future[bytes]] = deque()
        if rows.height == 0:
            emit(_compress(b""))
        for block in rows.iter_slices(block_rows):
            pending.append(pool.submit(_compress, _block_text(block)))
            while len(pending) > _WORKERS:
                emit(pending.popleft().result())
        while pending:
            emit(pending.popleft().result())
    return WriteResult(row_count=rows.height, file_size_bytes=size, sha256=digest.hexdigest())

"""Stage 4: export rows to a file of the requested format, streamed in blocks.

Formats (SPEC 4 and 6.6): `ndjson` (gzip of NDJSON, the default), `csv` (gzip of RFC 4180
CSV) and `parquet` (zstd). Rows arrive as an iterator of frames of any size; the writer
regroups them into blocks of exactly `block_rows` rows (the last one shorter), so the bytes
depend on the rows alone, never on how the caller chunked them, and it holds at most one
block of rows plus the encoded text of the blocks being compressed. Each format's encoder
is its entry of `ENCODERS`, keyed by `formats.ExportFormat` (where each format's extension
and Content-Type are).

gzip formats: each block is serialised by Polars expressions and compressed as its own gzip
member (a file of several members is one valid gzip stream); blocks are compressed on a
thread pool, one worker per CPU the process may use (zlib releases the GIL), while the next
block is serialised. Members carry no name and a zero mtime, so identical rows give
byte-identical files.

Parquet: one row group per block, written by `pyarrow.parquet.ParquetWriter` with every
option fixed (zstd level, dictionary, statistics, page sizes, no page index, no Arrow schema
blob); nothing in the file depends on time or chance, so identical rows give byte-identical
files for a given pyarrow version (its version is in the footer's `created_by`).

NDJSON encoding: keys in the frame's column order; integers as JSON integers; `Decimal`
columns (amounts) as JSON numbers with exactly two decimals (`12.50`, `-0.07`); datetimes
(naive UTC) as RFC 3339 with `Z`, to the second (`2024-03-10T08:15:00Z`) when the time has
no fraction and to the microsecond (`2024-03-10T08:15:00.250000Z`) otherwise; strings JSON
escaped, UTF-8 unescaped; null as `null`.

CSV encoding: a header row of the column names, records ending in CRLF; values as in
NDJSON but unquoted (amounts `12.50`, booleans `true`/`false`, timestamps `...Z`); a field
is quoted (`"`, inner quotes doubled) only when RFC 4180 needs it — it holds a comma, a
quote, CR or LF — or when it is an empty string, so that `""` (empty) and an empty field
(null) stay apart.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from exports_pipeline.engine.cpus import usable_cpus
from exports_pipeline.formats import DEFAULT_FORMAT, ExportFormat, file_format

# Rows per block (a gzip member, a Parquet row group); 100k typical rows is ~10-30 MB of text.
BLOCK_ROWS = 100_000
# zlib level 3: files ~20% larger than level 6 (the gzip default) for a third of the time.
GZIP_LEVEL = 3
ZSTD_LEVEL = 3
# gzip members compressed at once: one per CPU the process may use, at most this many (each
# holds a block's text, ~10-30 MB).
_MAX_COMPRESSORS = 4


@dataclass(frozen=True)
class WriteResult:
    """What was written: rows, size in bytes and sha256 (hex) of the file."""

    row_count: int
    file_size_bytes: int
    sha256: str


def _text_ready(name: str, dtype: pl.DataType, fmt: str) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        whole = column.dt.truncate("1s") == column
        return (
            pl.when(whole)
            .then(column.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
            .otherwise(column.dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"))
        )
    if isinstance(dtype, pl.Decimal):
        # Two decimals for a scale-2 column; in NDJSON a JSON string first, unquoted below.
        return column.cast(pl.String)
    if dtype.is_integer() or dtype in (pl.Boolean, pl.String):
        return column
    raise TypeError(f"column {name!r} of type {dtype} has no {fmt} encoding here")


def ndjson_lines(rows: pl.DataFrame) -> pl.Expr:
    """An expression giving each row of `rows` as one JSON object (no newline)."""
    ready = [_text_ready(name, dtype, "NDJSON").alias(name) for name, dtype in rows.schema.items()]
    line = pl.struct(ready).struct.json_encode()
    for name, dtype in rows.schema.items():
        if isinstance(dtype, pl.Decimal):
            # Inside a JSON string every quote is escaped, so `"key":"` only matches a key.
            key = json.dumps(name)
            line = line.str.replace(f'{re.escape(key)}:"(-?[0-9]+(?:\\.[0-9]+)?)"', f"{key}:$1")
    return line


def _ndjson_text(rows: pl.DataFrame, first: bool) -> bytes:
    buffer = io.BytesIO()
    # JSON text has no raw newline, so one unquoted CSV column is exactly the NDJSON lines.
    rows.select(ndjson_lines(rows).alias("line")).write_csv(
        buffer, include_header=False, quote_style="never"
    )
    return buffer.getvalue()


def _csv_text(rows: pl.DataFrame, first: bool) -> bytes:
    buffer = io.BytesIO()
    ready = [_text_ready(name, dtype, "CSV").alias(name) for name, dtype in rows.schema.items()]
    # Polars' "necessary" quoting is RFC 4180's (separator, quote, CR, LF) plus empty strings.
    rows.select(ready).write_csv(
        buffer,
        include_header=first,
        line_terminator="\r\n",
        quote_style="necessary",
        null_value="",
    )
    return buffer.getvalue()


_INTEGER_COLUMNS = ("id", "touchpoint_id")


def parquet_schema(schema: Mapping[str, pl.DataType]) -> pa.Schema:
    """The Parquet (Arrow) schema of SPEC 6.6 for export columns `schema`, in its order.

    `id`, `touchpoint_id`: int64; `event_time_utc`: timestamp[us, tz=UTC]; `amount`:
    decimal128(14, 2); `is_upsell`: bool; every other column string. A column whose Polars
    type cannot become its Parquet type is a `TypeError` naming it.
    """
    fields = []
    for name, dtype in schema.items():
        if name in _INTEGER_COLUMNS:
            wanted, ok = pa.int64(), dtype.is_integer()
        elif name == "event_time_utc":
            wanted, ok = pa.timestamp("us", tz="UTC"), isinstance(dtype, pl.Datetime)
        elif name == "amount":
            wanted, ok = pa.decimal128(14, 2), isinstance(dtype, pl.Decimal)
        elif name == "is_upsell":
            wanted, ok = pa.bool_(), dtype == pl.Boolean
        else:
            wanted, ok = pa.string(), dtype == pl.String
        if not (ok or dtype == pl.Null):
            raise TypeError(f"column {name!r} of type {dtype} cannot be Parquet {wanted}")
        fields.append(pa.field(name, wanted))
    return pa.schema(fields)


class OutputFile:
    """The file being written, counting and hashing every byte on the way."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed by close()
        self._digest = hashlib.sha256()
        self.size = 0
        self.closed = False  # for pyarrow, which never closes a sink it was handed

    def write(self, data: bytes) -> int:
        self._file.write(data)
        self._digest.update(data)
        self.size += len(data)
        return len(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def result(self, rows: int) -> WriteResult:
        return WriteResult(
            row_count=rows, file_size_bytes=self.size, sha256=self._digest.hexdigest()
        )


class Encoder(Protocol):
    """Encodes one file's blocks into its `OutputFile`, in order."""

    def add(self, block: pl.DataFrame) -> None:
        """Encode the rows of `block` (possibly none, columns the file's schema)."""

    def finish(self) -> None:
        """Write whatever the format ends a file with; the file is then complete."""

    def abort(self) -> None:
        """Stop, leaving the file unfinished (the writer removes it)."""


# Makes the encoder of one file of a format, given the file and the rows' schema.
EncoderFactory = Callable[[OutputFile, pl.Schema], Encoder]


def _compress(text: bytes) -> bytes:
    return gzip.compress(text, compresslevel=GZIP_LEVEL, mtime=0)


class _GzipEncoder:
    """One gzip member per block, compressed on a pool while the next block is encoded."""

    def __init__(self, out: OutputFile, text: Callable[[pl.DataFrame, bool], bytes]) -> None:
        self._out = out
        self._text = text
        self._first = True
        self._workers = min(_MAX_COMPRESSORS, usable_cpus())
        self._pool = ThreadPoolExecutor(self._workers)
        self._pending: deque[Future[bytes]] = deque()

    def add(self, block: pl.DataFrame) -> None:
        self._pending.append(self._pool.submit(_compress, self._text(block, self._first)))
        self._first = False
        while len(self._pending) > self._workers:
            self._out.write(self._pending.popleft().result())

    def finish(self) -> None:
        while self._pending:
            self._out.write(self._pending.popleft().result())
        self._pool.shutdown()

    def abort(self) -> None:
        self._pool.shutdown(cancel_futures=True)


class _ParquetEncoder:
    """One row group per block; every writer option fixed so the bytes are reproducible."""

    def __init__(self, out: OutputFile, schema: pl.Schema) -> None:
        self._schema = parquet_schema(schema)
        self._writer = pq.ParquetWriter(
            out,
            self._schema,
            version="2.6",
            compression="zstd",
            compression_level=ZSTD_LEVEL,
            use_dictionary=True,
            write_statistics=True,
            data_page_version="1.0",
            data_page_size=1024 * 1024,
            dictionary_pagesize_limit=1024 * 1024,
            write_batch_size=1024,
            store_schema=False,
            write_page_index=False,
            write_page_checksum=False,
        )

    def add(self, block: pl.DataFrame) -> None:
        if block.height:
            table = block.to_arrow().cast(self._schema)
            self._writer.write_table(table, row_group_size=block.height)

    def finish(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.close()


def _gzip_of(text: Callable[[pl.DataFrame, bool], bytes]) -> EncoderFactory:
    """Files of one gzip member per block of `text(block, first)`, whatever the schema."""
    return lambda out, schema: _GzipEncoder(out, text)


# The encoder of each format of the registry (`formats.FILE_FORMATS`): one entry a format.
ENCODERS: Mapping[ExportFormat, EncoderFactory] = {
    ExportFormat.NDJSON: _gzip_of(_ndjson_text),
    ExportFormat.CSV: _gzip_of(_csv_text),
    ExportFormat.PARQUET: _ParquetEncoder,
}


class ExportFileWriter:
    """A file of one export format being written at `path`, fed frames of any size.

    `write` regroups the rows into blocks of `block_rows`; `close` finishes the file and
    returns what was written. A file closed with no rows is still a valid file of its format
    (an empty gzip stream, a CSV header, a Parquet schema with no row group). On an error
    inside a `with` block the file is closed unfinished and removed. Writes in place: the
    caller publishes the file atomically.
    """

    def __init__(
        self,
        path: Path,
        *,
        schema: Mapping[str, pl.DataType],
        format: ExportFormat = DEFAULT_FORMAT,
        block_rows: int = BLOCK_ROWS,
    ) -> None:
        if block_rows < 1:
            raise ValueError(f"block_rows must be at least 1, not {block_rows}")
        self.format = file_format(format)
        encoder = ENCODERS[self.format.name]
        self.path = path
        self._schema = pl.Schema(schema)
        self._block_rows = block_rows
        self._held: list[pl.DataFrame] = []
        self._held_rows = 0
        self._rows = 0
        self._out = OutputFile(path)
        try:
            self._encoder = encoder(self._out, self._schema)
        except BaseException:
            self._out.close()
            path.unlink(missing_ok=True)
            raise

    def write(self, block: pl.DataFrame) -> None:
        """Add the rows of `block` (columns and types exactly the writer's schema)."""
        if block.schema != self._schema:
            raise ValueError(
                f"rows with columns {dict(block.schema)} do not match the export's "
                f"columns {dict(self._schema)}"
            )
        if block.height == 0:
            return
        self._held.append(block)
        self._held_rows += block.height
        while self._held_rows >= self._block_rows:
            # rechunk=False: the frames' chunks are shared, never copied.
            joined = self._held[0] if len(self._held) == 1 else pl.concat(self._held, rechunk=False)
            self._emit(joined.slice(0, self._block_rows))
            rest = joined.slice(self._block_rows)
            self._held = [rest] if rest.height else []
            self._held_rows = rest.height

    def _emit(self, block: pl.DataFrame) -> None:
        self._encoder.add(block)
        self._rows += block.height

    def close(self) -> WriteResult:
        """Finish the file; what was written."""
        if self._held_rows:
            self._emit(pl.concat(self._held, rechunk=False))
        elif self._rows == 0:
            self._emit(self._schema.to_frame())
        self._held, self._held_rows = [], 0
        self._encoder.finish()
        self._out.close()
        return self._out.result(self._rows)

    def abort(self) -> None:
        """Stop writing and remove the unfinished file."""
        try:
            self._encoder.abort()
        finally:
            self._out.close()
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> ExportFileWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is not None:
            self.abort()


def write_blocks(
    blocks: Iterable[pl.DataFrame],
    path: Path,
    *,
    schema: Mapping[str, pl.DataType],
    format: ExportFormat = DEFAULT_FORMAT,
    block_rows: int = BLOCK_ROWS,
) -> WriteResult:
    """Write the rows of `blocks` (in order) as one file of `format` at `path`.

    The bytes depend only on the rows, `format` and `block_rows`, not on the sizes of the
    frames in `blocks`. On an error nothing is left at `path`.
    """
    with ExportFileWriter(path, schema=schema, format=format, block_rows=block_rows) as writer:
        for block in blocks:
            writer.write(block)
        return writer.close()


def write_export(
    rows: pl.DataFrame,
    path: Path,
    *,
    block_rows: int = BLOCK_ROWS,
    format: ExportFormat = DEFAULT_FORMAT,
) -> WriteResult:
    """Write `rows` as one file of `format` (gzip NDJSON by default) to `path`, in place:
    the caller publishes atomically.

    One gzip member (or Parquet row group) per `block_rows` rows; an empty frame gives a
    valid file of no rows.
    """
    return write_blocks(
        rows.iter_slices(block_rows),
        path,
        schema=rows.schema,
        format=format,
        block_rows=block_rows,
    )

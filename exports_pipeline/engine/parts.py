"""Exports split into parts of at most `max_rows_per_file` rows, and their manifest (SPEC 6.6).

Parts are consecutive runs of the export's rows in file order: part 1 holds rows
1..max, part 2 the next max, and so on; each is a complete file of its format (a gzip part
is its own gzip stream, a Parquet part a whole Parquet file), written by the same writer as
a single-file export, so a part's bytes depend only on its rows. Parts are named
`part-00001<extension>` (five digits, more past 99,999) in the directory given. An export of
no rows is one part of no rows (a valid empty file of its format); an export of at most
`max_rows_per_file` rows is one part, byte-identical to the export written as one file.
Rows stream through: at most one block of rows is held, and a part boundary may fall
inside a block of the input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from exports_pipeline.engine.write import BLOCK_ROWS, ExportFileWriter
from exports_pipeline.formats import DEFAULT_FORMAT, ExportFormat, file_format


@dataclass(frozen=True)
class WrittenPart:
    """One part written: its number (from 1), file name and path, rows, size and sha256."""

    part: int
    file_name: str
    path: Path
    row_count: int
    file_size_bytes: int
    sha256: str


def part_file_name(part: int, format: ExportFormat) -> str:
    """`part-00001.csv.gz`: the file name of part `part` (from 1) of a `format` export."""
    if part < 1:
        raise ValueError(f"part numbers start at 1, not {part}")
    return f"part-{part:05d}{file_format(format).extension}"


def write_parts(
    blocks: Iterable[pl.DataFrame],
    directory: Path,
    *,
    schema: Mapping[str, pl.DataType],
    format: ExportFormat = DEFAULT_FORMAT,
    max_rows_per_file: int,
    block_rows: int = BLOCK_ROWS,
) -> list[WrittenPart]:
    """Write the rows of `blocks` (in order) into `directory` as parts of at most
    `max_rows_per_file` rows each, and return the parts in order.

    The bytes of every part depend only on its rows, `format` and `block_rows`, never on
    the sizes of the frames in `blocks`. On an error every part this call wrote is removed.
    """
    if max_rows_per_file < 1:
        raise ValueError(f"max_rows_per_file must be at least 1, not {max_rows_per_file}")

    def open_part(part: int) -> ExportFileWriter:
        path = directory / part_file_name(part, format)
        return ExportFileWriter(path, schema=schema, format=format, block_rows=block_rows)

    written: list[WrittenPart] = []
    writer: ExportFileWriter | None = None
    try:
        writer = open_part(1)
        for opens_part, rows in _cut_at_parts(blocks, max_rows_per_file):
            if opens_part:
                written.append(_finished_part(writer, len(written) + 1))
                writer = None
                writer = open_part(len(written) + 1)
            writer.write(rows)
        written.append(_finished_part(writer, len(written) + 1))
        writer = None
    except BaseException:
        if writer is not None:
            writer.abort()
        for part in written:
            part.path.unlink(missing_ok=True)
        raise
    return written


def _cut_at_parts(
    blocks: Iterable[pl.DataFrame], max_rows_per_file: int
) -> Iterator[tuple[bool, pl.DataFrame]]:
    """The rows of `blocks` in order, cut where a part of `max_rows_per_file` rows ends:
    (whether these rows open the next part, the rows). A part is opened only for rows that
    need it, never after the last row; an empty block is passed on as is (to the current
    part, which checks its columns all the same)."""
    room = max_rows_per_file
    for block in blocks:
        offset = 0
        while offset < block.height:
            opens_part = room == 0
            if opens_part:
                room = max_rows_per_file
            take = min(room, block.height - offset)
            yield opens_part, block.slice(offset, take)
            offset += take
            room -= take
        if block.height == 0:
            yield False, block


def _finished_part(writer: ExportFileWriter, part: int) -> WrittenPart:
    """Close the file of part `part` (from 1) and say what was written."""
    result = writer.close()
    return WrittenPart(
        part=part,
        file_name=writer.path.name,
        path=writer.path,
        row_count=result.row_count,
        file_size_bytes=result.file_size_bytes,
        sha256=result.sha256,
    )


def manifest_bytes(
    *,
    export_id: int | str,
    format: ExportFormat,
    request: Mapping[str, Any],
    parts: Sequence[WrittenPart],
    keys: Sequence[str] | None = None,
) -> bytes:
    """The JSON manifest of an export written in `parts`: deterministic bytes (keys sorted,
    two-space indent, UTF-8, a final newline; nothing that depends on time).

    Holds `export_id`, `format`, `request` (as given, JSON-ready), the totals `row_count`
    and `file_size_bytes`, and `parts`: per part `part`, `file_name`, `row_count`,
    `file_size_bytes`, `sha256`, and `key` (where it is stored) when `keys` is given, one
    per part in order.
    """
    if keys is not None and len(keys) != len(parts):
        raise ValueError(f"{len(keys)} storage keys for {len(parts)} parts")
    listed = []
    for index, part in enumerate(parts):
        entry: dict[str, Any] = {
            "part": part.part,
            "file_name": part.file_name,
            "row_count": part.row_count,
            "file_size_bytes": part.file_size_bytes,
            "sha256": part.sha256,
        }
        if keys is not None:
            entry["key"] = keys[index]
        listed.append(entry)
    manifest = {
        "export_id": export_id,
        "format": format,
        "request": dict(request),
        "row_count": sum(part.row_count for part in parts),
        "file_size_bytes": sum(part.file_size_bytes for part in parts),
        "parts": listed,
    }
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode()

"""Writing an export's rows in its format and storing the result: one file, or parts and a
manifest (SPEC 2, 6.6). Plain functions: the pipeline's `publish_export` op calls them and
then records the result; the rows arrive as an iterable of frames, however they were made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from exports_pipeline.engine.parts import manifest_bytes, write_parts
from exports_pipeline.engine.write import write_blocks
from exports_pipeline.formats import DEFAULT_FORMAT, ExportFormat, file_format
from exports_pipeline.storage.base import ExportStorage


@dataclass(frozen=True)
class PublishedExport:
    """What was stored for an export, as `store.exports.mark_completed` records it.

    One file: its key, rows, size and sha256, `files` None. In parts: `storage_key` and
    `sha256` are the manifest's, `row_count` and `file_size_bytes` the parts' totals, and
    `files` lists the parts (`part`, `key`, `file_name`, `row_count`, `file_size_bytes`,
    `sha256`) in order.
    """

    storage_key: str
    row_count: int
    file_size_bytes: int
    sha256: str
    format: ExportFormat
    files: list[dict[str, Any]] | None = None

    @property
    def keys(self) -> list[str]:
        """Every object stored: the parts, then the manifest or the one file."""
        return [*(str(f["key"]) for f in self.files or ()), self.storage_key]


def write_and_publish(
    blocks: Iterable[pl.DataFrame],
    *,
    schema: Mapping[str, pl.DataType],
    storage: ExportStorage,
    workdir: Path,
    export_id: int,
    space_id: str,
    date: dt.date,
    format: ExportFormat = DEFAULT_FORMAT,
    max_rows_per_file: int | None = None,
    request: Mapping[str, Any] | None = None,
    before_publish: Callable[[], None] = lambda: None,
) -> PublishedExport:
    """Write the rows of `blocks` (in order, columns `schema`) as a `format` export in
    `workdir` and store it: without `max_rows_per_file` one file under a new key (exactly
    the single file of SPEC 2); with it, always parts and a manifest (one part when the rows
    fit in one), the manifest stored last (`ExportStorage.publish_parts`).

    `request` is the request as the manifest lists it. `before_publish` runs once the
    files are written, right before the first is stored: raising there (the export was
    cancelled meanwhile) stores nothing. Atomic: on an error nothing of the export is left
    under a final name.
    """
    if max_rows_per_file is None:
        path = workdir / f"export-{export_id}{file_format(format).extension}"
        written = write_blocks(blocks, path, schema=schema, format=format)
        before_publish()
        key = storage.publish(
            path, space_id=space_id, date=date, sha256=written.sha256, format=format
        )
        return PublishedExport(
            storage_key=key,
            row_count=written.row_count,
            file_size_bytes=written.file_size_bytes,
            sha256=written.sha256,
            format=format,
        )
    folder = workdir / f"export-{export_id}-parts"
    folder.mkdir()
    parts = write_parts(
        blocks, folder, schema=schema, format=format, max_rows_per_file=max_rows_per_file
    )
    before_publish()
    published = storage.publish_parts(
        parts,
        space_id=space_id,
        date=date,
        format=format,
        manifest=lambda keys: manifest_bytes(
            export_id=export_id, format=format, request=request or {}, parts=parts, keys=keys
        ),
    )
    files = [
        {
            "part": part.part,
            "key": key,
            "file_name": part.file_name,
            "row_count": part.row_count,
            "file_size_bytes": part.file_size_bytes,
            "sha256": part.sha256,
        }
        for part, key in zip(parts, published.part_keys, strict=True)
    ]
    return PublishedExport(
        storage_key=published.manifest_key,
        row_count=sum(part.row_count for part in parts),
        file_size_bytes=sum(part.file_size_bytes for part in parts),
        sha256=published.manifest_sha256,
        format=format,
        files=files,
    )

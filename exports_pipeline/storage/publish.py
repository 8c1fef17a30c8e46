"""Writing an export's rows in its format and storing the result: one file, or parts and a
manifest (SPEC 2, 6.6). Plain functions: the pipeline's `publish_export` op calls them and
then records the result; the rows arrive as an iterable of frames, however they were made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from exports_pipeline.engine.parts import WrittenPart, manifest_bytes, write_parts
from exports_pipeline.engine.write import write_blocks
from exports_pipeline.formats import DEFAULT_FORMAT, ExportFormat, file_format
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.store.exports import StoredPart


@dataclass(frozen=True)
class PublishedExport:
    """What was stored for an export, as `store.exports.mark_completed` records it.

    One file: its key, rows, size and sha256, `files` None. In parts: `storage_key` and
    `sha256` are the manifest's, `row_count` and `file_size_bytes` the parts' totals, and
    `files` lists the parts in order.
    """

    storage_key: str
    row_count: int
    file_size_bytes: int
    sha256: str
    format: ExportFormat
    files: list[StoredPart] | None = None

    @property
    def keys(self) -> list[str]:
        """Every object stored: the parts, then the manifest or the one file."""
        return [*(part.key for part in self.files or ()), self.storage_key]


@dataclass(frozen=True)
class _Target:
    """Where an export's files are stored, and for which export (its id, space, day and
    format)."""

    storage: ExportStorage
    export_id: int
    space_id: str
    date: dt.date
    format: ExportFormat


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
    target = _Target(storage, export_id, space_id, date, format)
    if max_rows_per_file is None:
        path = workdir / f"export-{export_id}{file_format(format).extension}"
        return _publish_one_file(blocks, path, schema, target, before_publish)
    folder = workdir / f"export-{export_id}-parts"
    return _publish_in_parts(
        blocks, folder, schema, target, before_publish, max_rows_per_file, request or {}
    )


def _publish_one_file(
    blocks: Iterable[pl.DataFrame],
    path: Path,
    schema: Mapping[str, pl.DataType],
    target: _Target,
    before_publish: Callable[[], None],
) -> PublishedExport:
    """The rows written as one file at `path`, then stored under a new key."""
    written = write_blocks(blocks, path, schema=schema, format=target.format)
    before_publish()
    key = target.storage.publish(
        path,
        space_id=target.space_id,
        date=target.date,
        sha256=written.sha256,
        format=target.format,
    )
    return PublishedExport(
        storage_key=key,
        row_count=written.row_count,
        file_size_bytes=written.file_size_bytes,
        sha256=written.sha256,
        format=target.format,
    )


def _publish_in_parts(
    blocks: Iterable[pl.DataFrame],
    folder: Path,
    schema: Mapping[str, pl.DataType],
    target: _Target,
    before_publish: Callable[[], None],
    max_rows_per_file: int,
    request: Mapping[str, Any],
) -> PublishedExport:
    """The rows written as parts in `folder` (made here), then the parts stored and the
    manifest listing them stored last."""
    folder.mkdir()
    parts = write_parts(
        blocks, folder, schema=schema, format=target.format, max_rows_per_file=max_rows_per_file
    )
    before_publish()
    published = target.storage.publish_parts(
        parts,
        space_id=target.space_id,
        date=target.date,
        format=target.format,
        manifest=lambda keys: manifest_bytes(
            export_id=target.export_id,
            format=target.format,
            request=request,
            parts=parts,
            keys=keys,
        ),
    )
    return PublishedExport(
        storage_key=published.manifest_key,
        row_count=sum(part.row_count for part in parts),
        file_size_bytes=sum(part.file_size_bytes for part in parts),
        sha256=published.manifest_sha256,
        format=target.format,
        files=stored_parts(parts, published.part_keys),
    )


def stored_parts(parts: Sequence[WrittenPart], keys: Sequence[str]) -> list[StoredPart]:
    """The parts as the store keeps them: each written part with the key it is stored under
    (`keys` in part order)."""
    return [
        StoredPart(
            part=part.part,
            key=key,
            file_name=part.file_name,
            row_count=part.row_count,
            file_size_bytes=part.file_size_bytes,
            sha256=part.sha256,
        )
        for part, key in zip(parts, keys, strict=True)
    ]

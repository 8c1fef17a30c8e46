"""Destinations (SPEC 7.3): somewhere else an export's files go once they are published as
usual, the customer's S3 bucket or PostgreSQL table.

A `Destination` is given the export's published files and the storage they are read from;
it pushes them idempotently (the same export pushed twice leaves the destination as one
push did: an S3 destination writes the same keys with the manifest last, a PostgreSQL
destination replaces that day's rows in one transaction). `destination_for` finds an
export's destination; no export names one yet, so it finds none and nothing is pushed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.store.exports import ExportRecord


@dataclass(frozen=True)
class PublishedFiles:
    """An export's files as published: which export, of which space and date, in which
    format, and the keys of its objects in the export storage (its parts then its
    manifest, or its one file)."""

    export_id: int
    space_id: str
    date: dt.date
    format: str
    keys: tuple[str, ...]

    @classmethod
    def of(cls, export: ExportRecord) -> PublishedFiles:
        """The published files of the completed export `export`."""
        return cls(
            export_id=export.id,
            space_id=export.space_id,
            date=export.date,
            format=export.file_format,
            keys=tuple(export.file_keys),
        )


class Destination(Protocol):
    """Where an export's published files are pushed after publishing."""

    def push(self, published: PublishedFiles, source: ExportStorage) -> None:
        """Push the files of `published`, read from `source`, to the destination;
        idempotent: pushing the same export again changes nothing. Raises when the push
        failed."""
        ...


def destination_for(export: ExportRecord) -> Destination | None:
    """The destination `export` is delivered to, None when it has none (SPEC 7.3: one
    named by its subscription or by its create body; no export names one yet)."""
    return None

"""The export storage interface shared by the pipeline (publish) and the API (download)."""

from __future__ import annotations

import datetime as dt
import uuid
from abc import ABC, abstractmethod
from pathlib import Path


def new_object_key(prefix: str, space_id: str, date: dt.date) -> str:
    """`<prefix>/<space>/<date>/<uuid>.ndjson.gz`: random, never guessable from an export id."""
    parts = [p for p in (prefix.strip("/"), space_id, date.isoformat()) if p]
    return "/".join([*parts, f"{uuid.uuid4()}.ndjson.gz"])


def download_file_name(export_id: int, date: dt.date) -> str:
    return f"events-{date.isoformat()}-{export_id}.ndjson.gz"


class ExportStorage(ABC):
    """Stores finished export files and mints time-limited download URLs for them."""

    @abstractmethod
    def publish(self, local_path: Path, *, space_id: str, date: dt.date, sha256: str) -> str:
        """Store the finished file and return its key.

        Atomic: the object appears under its key only when fully stored; on error nothing
        is left under that key.
        """

    @abstractmethod
    def download_url(
        self, key: str, *, export_id: int, date: dt.date, expires_in_seconds: int
    ) -> str:
        """A URL that serves the file for `expires_in_seconds`, then stops working (403);
        it may be a path on the API, which the API resolves against the request's URL."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True when an object is stored under `key`."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object under `key` (no error when absent)."""

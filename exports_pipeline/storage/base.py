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


class DownloadRefused(Exception):
    """A download URL the storage does not honour: not one it minted, or past its expiry."""

    def __init__(self, *, expired: bool) -> None:
        self.expired = expired
        super().__init__("download link expired" if expired else "download link invalid")


class ExportStorage(ABC):
    """Stores finished export files and mints time-limited download URLs for them."""

    # True when the URLs of `download_url` are served by the API through `signed_file`.
    serves_downloads: bool = False

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

    def signed_file(
        self, key: str, *, export_id: int, expires: int, signature: str, now: int
    ) -> Path:
        """The file a download URL of `download_url` stands for, when the URL is exactly one
        this storage minted for (`export_id`, `key`, `expires`) and `now` (epoch s) is
        before `expires`; raises `DownloadRefused` otherwise (an altered URL is refused as
        invalid even when it has also expired). The file may have been removed since.
        """
        raise DownloadRefused(expired=False)

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True when an object is stored under `key`."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object under `key` (no error when absent)."""

"""The export storage interface shared by the pipeline (publish) and the API (download)."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from exports_pipeline.formats import (
    DEFAULT_FORMAT,
    FILE_FORMATS,
    MANIFEST_CONTENT_TYPE,
    MANIFEST_NAME,
    ExportFormat,
    file_format,
)

_PART_RE = re.compile(r"part-([0-9]{5,})(\..+)")


def _folder(prefix: str, space_id: str, date: dt.date) -> list[str]:
    return [p for p in (prefix.strip("/"), space_id, date.isoformat()) if p]


def new_object_key(prefix: str, space_id: str, date: dt.date, extension: str) -> str:
    """`<prefix>/<space>/<date>/<uuid><extension>`: random, never guessable from an export id."""
    return "/".join([*_folder(prefix, space_id, date), f"{uuid.uuid4()}{extension}"])


def new_parts_folder(prefix: str, space_id: str, date: dt.date) -> str:
    """`<prefix>/<space>/<date>/<uuid>`: the folder of one export's parts and manifest."""
    return "/".join([*_folder(prefix, space_id, date), str(uuid.uuid4())])


@dataclass(frozen=True)
class ServedAs:
    """How a stored object is downloaded: file name and Content-Type; `part` when a part."""

    file_name: str
    content_type: str
    part: int | None = None


def served_as(key: str, *, export_id: int, date: dt.date) -> ServedAs:
    """The download name and type of the object `key`, read off the key's own name:

    `<uuid>.ndjson.gz` -> `events-<date>-<id>.ndjson.gz` (likewise `.csv.gz`, `.parquet`),
    `<uuid>/part-00002.csv.gz` -> `events-<date>-<id>-part-00002.csv.gz`,
    `<uuid>/manifest.json` -> `events-<date>-<id>-manifest.json` (`application/json`).
    """
    base = f"events-{date.isoformat()}-{export_id}"
    name = key.rsplit("/", 1)[-1]
    if name == MANIFEST_NAME:
        return ServedAs(f"{base}-manifest.json", MANIFEST_CONTENT_TYPE)
    for fmt in FILE_FORMATS.values():
        if name.endswith(fmt.extension):
            part = _PART_RE.fullmatch(name)
            if part is not None and part.group(2) == fmt.extension:
                return ServedAs(f"{base}-{name}", fmt.content_type, int(part.group(1)))
            return ServedAs(f"{base}{fmt.extension}", fmt.content_type)
    default = FILE_FORMATS[DEFAULT_FORMAT]
    return ServedAs(f"{base}{default.extension}", default.content_type)


@dataclass(frozen=True)
class PublishedParts:
    """An export stored in parts: each part's key (in part order) and the manifest's."""

    part_keys: list[str]
    manifest_key: str
    manifest_sha256: str
    manifest_size_bytes: int

    @property
    def keys(self) -> list[str]:
        return [*self.part_keys, self.manifest_key]


class PartFile(Protocol):
    """What storing a part needs of it (`engine.parts.WrittenPart`): name, path, sha256."""

    @property
    def file_name(self) -> str: ...

    @property
    def path(self) -> Path: ...

    @property
    def sha256(self) -> str: ...


class StoredFiles(Protocol):
    """What an export record tells of its stored objects (`store.exports.ExportRecord`)."""

    @property
    def file_keys(self) -> list[str]: ...


class DownloadRefused(Exception):
    """A download URL the storage does not honour: not one it minted, or past its expiry."""

    def __init__(self, *, expired: bool) -> None:
        self.expired = expired
        super().__init__("download link expired" if expired else "download link invalid")


class ExportStorage(ABC):
    """Stores finished export files and mints time-limited download URLs for them."""

    # True when the URLs of `download_url` are served by the API through `signed_file`.
    serves_downloads: bool = False

    # Prefix of every key this storage makes ("" for none).
    key_prefix: str = ""

    @abstractmethod
    def put(self, local_path: Path, key: str, *, content_type: str, sha256: str) -> None:
        """Store the file `local_path` under `key`, served as `content_type`.

        Atomic: the object appears under its key only when fully stored; on error nothing
        is left under that key.
        """

    def publish(
        self,
        local_path: Path,
        *,
        space_id: str,
        date: dt.date,
        sha256: str,
        format: ExportFormat = DEFAULT_FORMAT,
    ) -> str:
        """Store the finished file of a `format` export under a new key and return the key
        (`<prefix>/<space>/<date>/<uuid><extension>`); atomic as `put`."""
        file = file_format(format)
        key = new_object_key(self.key_prefix, space_id, date, file.extension)
        self.put(local_path, key, content_type=file.content_type, sha256=sha256)
        return key

    def publish_parts(
        self,
        parts: Sequence[PartFile],
        *,
        space_id: str,
        date: dt.date,
        format: ExportFormat,
        manifest: Callable[[list[str]], bytes],
    ) -> PublishedParts:
        """Store `parts` and then their manifest under a new folder
        `<prefix>/<space>/<date>/<uuid>/` (`part-00001<extension>`, …, `manifest.json`).

        `manifest(part_keys)` gives the manifest's bytes. Each object is stored atomically,
        the manifest last, only once every part is stored. On any error the parts already
        stored are deleted, so nothing is left under a final name.
        """
        content_type = file_format(format).content_type
        folder = new_parts_folder(self.key_prefix, space_id, date)
        keys = [f"{folder}/{part.file_name}" for part in parts]
        stored: list[str] = []
        try:
            for part, key in zip(parts, keys, strict=True):
                self.put(part.path, key, content_type=content_type, sha256=part.sha256)
                stored.append(key)
            data = manifest(keys)
            digest = hashlib.sha256(data).hexdigest()
            manifest_key = f"{folder}/{MANIFEST_NAME}"
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / MANIFEST_NAME
                path.write_bytes(data)
                self.put(path, manifest_key, content_type=MANIFEST_CONTENT_TYPE, sha256=digest)
        except BaseException:
            # The error that stopped the publish is the one to report, not a cleanup's.
            with contextlib.suppress(Exception):
                self.delete_keys(stored)
            raise
        return PublishedParts(keys, manifest_key, digest, len(data))

    def delete_keys(self, keys: Iterable[str]) -> None:
        """Delete every object of `keys`, trying each even when one fails (no error when
        absent); the first error is raised once all were tried."""
        errors: list[BaseException] = []
        for key in keys:
            try:
                self.delete(key)
            except Exception as exc:  # raised below, once every key was tried
                errors.append(exc)
        if errors:
            raise errors[0]

    def delete_export_files(self, record: StoredFiles) -> None:
        """Delete every object of an export: its file, or all its parts and its manifest."""
        self.delete_keys(record.file_keys)

    @abstractmethod
    def download_url(
        self, key: str, *, export_id: int, date: dt.date, expires_in_seconds: int
    ) -> str:
        """A URL that serves the object `key` for `expires_in_seconds`, then stops working
        (403), with the name and type of `served_as`; it may be a path on the API, which the
        API resolves against the request's URL."""

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

"""Export files on local disk, served by the API through signed, expiring URLs."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

from exports_pipeline.storage.base import DownloadRefused, ExportStorage, served_as
from exports_pipeline.storage.signing import sign, signature_matches

PARTIAL_PREFIX = ".partial-"


def _partial_prefix(pid: int | None = None) -> str:
    """`.partial-<host>-<pid>-`: who writes a temporary file, to tell an orphan from a live one."""
    return f"{PARTIAL_PREFIX}{socket.gethostname()}-{os.getpid() if pid is None else pid}-"


def _is_uuid(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphan_partials(folder: Path) -> list[Path]:
    """Delete this host's temporary files whose writer process is gone (killed mid-write).

    A partial file is never under a key, so no download can reach it; this only frees
    the space. Files of other hosts (a shared volume) and of live processes stay.
    """
    removed = []
    host_prefix = f"{PARTIAL_PREFIX}{socket.gethostname()}-"
    for path in folder.glob(f"{host_prefix}*"):
        pid_text = path.name[len(host_prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


class LocalExportStorage(ExportStorage):
    """Files under `root`; `put` copies to a temporary name, fsyncs, then renames.

    A writer killed mid-write leaves its `.partial-<host>-<pid>-*` file behind (never under
    a key, so never downloadable); the next publish into the same folder removes it.
    """

    serves_downloads = True

    def __init__(self, root: Path, *, public_base_url: str | None, signing_secret: str) -> None:
        self.root = root
        # Without a base URL, download URLs are paths on the API (the API makes them
        # absolute with the URL each request came to).
        self.public_base_url = (public_base_url or "").rstrip("/")
        self.signing_secret = signing_secret

    def path_of(self, key: str) -> Path:
        """The file of `key`; keys are made by this service, but refuse any that escape root."""
        root = self.root.resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root) or path == root:
            raise ValueError(f"storage key {key!r} is outside the storage root")
        return path

    def put(self, local_path: Path, key: str, *, content_type: str, sha256: str) -> None:
        final = self.path_of(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_orphan_partials(final.parent)
        fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=_partial_prefix(), suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out, local_path.open("rb") as src:
                shutil.copyfileobj(src, out, length=1 << 20)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, final)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def download_url(
        self, key: str, *, export_id: int, date: dt.date, expires_in_seconds: int
    ) -> str:
        expires = int(time.time()) + expires_in_seconds
        signature = sign(self.signing_secret, export_id=export_id, key=key, expires=expires)
        part = served_as(key, export_id=export_id, date=date).part
        # A part names its number (the route finds its key in the record); the file or
        # the manifest of an export is the record's `storage_key`.
        query = urlencode(
            {
                **({"part": part} if part is not None else {}),
                "expires": expires,
                "signature": signature,
            }
        )
        return f"{self.public_base_url}/public-api/v1/events/exports/{export_id}/download?{query}"

    def signed_file(
        self, key: str, *, export_id: int, expires: int, signature: str, now: int
    ) -> Path:
        signed = signature_matches(
            self.signing_secret, export_id=export_id, key=key, expires=expires, signature=signature
        )
        if not signed:
            raise DownloadRefused(expired=False)
        if now >= expires:
            raise DownloadRefused(expired=True)
        try:
            return self.path_of(key)
        except ValueError:
            raise DownloadRefused(expired=False) from None

    def exists(self, key: str) -> bool:
        return self.path_of(key).is_file()

    def delete(self, key: str) -> None:
        path = self.path_of(key)
        path.unlink(missing_ok=True)
        if _is_uuid(path.parent.name):
            # The folder of an export's parts goes with its last object (a date folder stays).
            with contextlib.suppress(OSError):
                path.parent.rmdir()

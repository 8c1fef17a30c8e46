"""Local storage: atomic publish to a random key inside root; signatures bind id, key, expiry."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.storage.signing import sign, verify

DATE = dt.date(2024, 1, 15)


@pytest.fixture
def storage(tmp_path: Path) -> LocalExportStorage:
    return LocalExportStorage(
        tmp_path / "files", public_base_url="http://api.test/", signing_secret="s3cret"
    )


def test_publish_copies_the_file_under_a_random_key(
    storage: LocalExportStorage, tmp_path: Path
) -> None:
    source = tmp_path / "out.ndjson.gz"
    source.write_bytes(b"gzip bytes")
    first = storage.publish(source, space_id="acme", date=DATE, sha256="x")
    second = storage.publish(source, space_id="acme", date=DATE, sha256="x")
    assert re.fullmatch(r"acme/2024-01-15/[0-9a-f-]{36}\.ndjson\.gz", first)
    assert first != second
    assert storage.path_of(first).read_bytes() == b"gzip bytes"
    assert [p.name for p in storage.path_of(first).parent.iterdir() if p.name.startswith(".")] == []


def test_failed_publish_leaves_nothing(storage: LocalExportStorage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        storage.publish(tmp_path / "missing.gz", space_id="acme", date=DATE, sha256="x")
    folder = storage.root / "acme" / "2024-01-15"
    assert not folder.exists() or list(folder.iterdir()) == []


@pytest.mark.parametrize(
    "key", ["../outside.gz", "acme/../../outside.gz", "/etc/passwd", "", ".", "acme/.."]
)
def test_keys_outside_the_root_are_refused(storage: LocalExportStorage, key: str) -> None:
    with pytest.raises(ValueError, match="outside the storage root"):
        storage.path_of(key)


def test_download_url_is_signed_for_id_key_and_expiry(storage: LocalExportStorage) -> None:
    url = storage.download_url("acme/k.ndjson.gz", export_id=7, date=DATE, expires_in_seconds=900)
    match = re.fullmatch(
        r"http://api\.test/public-api/v1/events/exports/7/download\?expires=(\d+)&signature=(\w+)",
        url,
    )
    assert match
    expires, signature = int(match[1]), match[2]
    ok = {"export_id": 7, "key": "acme/k.ndjson.gz", "expires": expires, "signature": signature}
    assert verify("s3cret", **ok, now=expires - 1)
    assert not verify("s3cret", **ok, now=expires)
    assert not verify("other", **ok, now=0)
    assert not verify("s3cret", **{**ok, "export_id": 8}, now=0)
    assert not verify("s3cret", **{**ok, "key": "acme/j.ndjson.gz"}, now=0)
    assert not verify("s3cret", **{**ok, "expires": expires + 1}, now=0)
    assert sign("s3cret", export_id=7, key="acme/k.ndjson.gz", expires=expires) == signature


def test_publish_removes_partial_files_of_dead_writers_only(
    storage: LocalExportStorage, tmp_path: Path
) -> None:
    """A writer SIGKILLed mid-write leaves `.partial-<host>-<pid>-*`; the next publish into
    the folder removes it, never a live writer's file nor another host's."""
    folder = storage.root / "acme" / "2024-01-15"
    folder.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    orphan = folder / f".partial-{host}-{dead.pid}-abc123.tmp"
    live = folder / f".partial-{host}-{os.getpid()}-def456.tmp"
    elsewhere = folder / f".partial-other-host-{dead.pid}-ghi789.tmp"
    for path in (orphan, live, elsewhere):
        path.write_bytes(b"half a file")
    source = tmp_path / "out.ndjson.gz"
    source.write_bytes(b"gzip bytes")
    key = storage.publish(source, space_id="acme", date=DATE, sha256="x")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [live.name, elsewhere.name, Path(key).name]
    )

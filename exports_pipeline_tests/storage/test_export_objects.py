"""Objects of an export in its format, on local disk and S3: keys and download names carry
the format's extension, parts are stored before their manifest, a failure leaves nothing
under a final name, and every object of an export is deleted together."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from exports_pipeline.engine.parts import WrittenPart
from exports_pipeline.storage.base import ExportStorage, ServedAs, served_as
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.storage.s3 import S3ExportStorage
from exports_pipeline_tests.support.s3 import BUCKET

DATE = dt.date(2024, 1, 15)
UUID = "0b7e8d8e-4a0f-4d7e-9a51-1b2c3d4e5f60"
PARQUET = "application/vnd.apache.parquet"
NAMES = [
    (
        f"a/2024-01-15/{UUID}.ndjson.gz",
        ServedAs("events-2024-01-15-7.ndjson.gz", "application/gzip"),
    ),
    (f"a/2024-01-15/{UUID}.csv.gz", ServedAs("events-2024-01-15-7.csv.gz", "application/gzip")),
    (f"p/a/2024-01-15/{UUID}.parquet", ServedAs("events-2024-01-15-7.parquet", PARQUET)),
    (
        f"a/2024-01-15/{UUID}/part-00002.csv.gz",
        ServedAs("events-2024-01-15-7-part-00002.csv.gz", "application/gzip", 2),
    ),
    (
        f"a/2024-01-15/{UUID}/part-00010.parquet",
        ServedAs("events-2024-01-15-7-part-00010.parquet", PARQUET, 10),
    ),
    (
        f"a/2024-01-15/{UUID}/manifest.json",
        ServedAs("events-2024-01-15-7-manifest.json", "application/json"),
    ),
]
KEY_PATTERNS = {
    "ndjson": r"acme/2024-01-15/[0-9a-f-]{36}\.ndjson\.gz",
    "csv": r"acme/2024-01-15/[0-9a-f-]{36}\.csv\.gz",
    "parquet": r"acme/2024-01-15/[0-9a-f-]{36}\.parquet",
}


@pytest.mark.parametrize(("key", "served"), NAMES, ids=[n[0].rsplit("/", 1)[1] for n in NAMES])
def test_an_object_is_served_under_the_name_and_type_of_its_key(key: str, served: ServedAs):
    assert served_as(key, export_id=7, date=DATE) == served


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> ExportStorage:
    if request.param == "local":
        return LocalExportStorage(tmp_path / "files", public_base_url="", signing_secret="s")
    client = request.getfixturevalue("s3_client")
    for listed in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=listed["Key"])
    return S3ExportStorage(client, bucket=BUCKET, prefix="")


def _objects(storage: ExportStorage) -> list[str]:
    if isinstance(storage, LocalExportStorage):
        return sorted(
            str(p.relative_to(storage.root)) for p in storage.root.rglob("*") if p.is_file()
        )
    assert isinstance(storage, S3ExportStorage)
    listed = storage.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def _read(storage: ExportStorage, key: str) -> bytes:
    if isinstance(storage, LocalExportStorage):
        return storage.path_of(key).read_bytes()
    assert isinstance(storage, S3ExportStorage)
    return storage.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def _parts(tmp_path: Path, count: int, extension: str = ".csv.gz") -> list[WrittenPart]:
    parts = []
    for number in range(1, count + 1):
        path = tmp_path / f"part-{number:05d}{extension}"
        path.write_bytes(f"part {number}".encode())
        parts.append(
            WrittenPart(
                part=number,
                file_name=path.name,
                path=path,
                row_count=number,
                file_size_bytes=path.stat().st_size,
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            )
        )
    return parts


@pytest.mark.parametrize("fmt", list(KEY_PATTERNS))
def test_a_single_file_gets_the_extension_of_its_format(
    storage: ExportStorage, tmp_path: Path, fmt: str
):
    source = tmp_path / "file"
    source.write_bytes(b"bytes")
    key = storage.publish(source, space_id="acme", date=DATE, sha256="x", format=fmt)
    assert re.fullmatch(KEY_PATTERNS[fmt], key)
    assert _objects(storage) == [key] and _read(storage, key) == b"bytes"


def test_parts_then_manifest_under_one_folder(storage: ExportStorage, tmp_path: Path) -> None:
    seen: list[list[str]] = []

    def manifest(keys: list[str]) -> bytes:
        seen.append(_objects(storage))  # every part is stored before the manifest is made
        return json.dumps({"keys": keys}).encode()

    parts = _parts(tmp_path, 3)
    published = storage.publish_parts(
        parts, space_id="acme", date=DATE, format="csv", manifest=manifest
    )
    folder = published.manifest_key.removesuffix("/manifest.json")
    assert re.fullmatch(r"acme/2024-01-15/[0-9a-f-]{36}", folder)
    assert published.part_keys == [f"{folder}/part-0000{n}.csv.gz" for n in (1, 2, 3)]
    assert seen == [sorted(published.part_keys)]
    assert _objects(storage) == sorted(published.keys)
    data = _read(storage, published.manifest_key)
    assert json.loads(data) == {"keys": published.part_keys}
    assert published.manifest_sha256 == hashlib.sha256(data).hexdigest()
    assert published.manifest_size_bytes == len(data)
    assert [_read(storage, k) for k in published.part_keys] == [b"part 1", b"part 2", b"part 3"]


def test_a_part_failing_leaves_no_part_and_no_manifest(
    storage: ExportStorage, tmp_path: Path
) -> None:
    parts = _parts(tmp_path, 3)
    # Part 2's file is gone (a real failure of the disk read, part 1 already stored).
    parts[1].path.unlink()
    with pytest.raises(FileNotFoundError):
        storage.publish_parts(
            parts, space_id="acme", date=DATE, format="csv", manifest=lambda keys: b"{}"
        )
    assert _objects(storage) == []


def test_a_failing_manifest_leaves_no_part(storage: ExportStorage, tmp_path: Path) -> None:
    def manifest(keys: list[str]) -> bytes:
        raise RuntimeError("no manifest")

    with pytest.raises(RuntimeError, match="no manifest"):
        storage.publish_parts(
            _parts(tmp_path, 2), space_id="acme", date=DATE, format="csv", manifest=manifest
        )
    assert _objects(storage) == []


class _Record:
    def __init__(self, keys: list[str]) -> None:
        self.file_keys = keys


def test_every_object_of_an_export_is_deleted_together(
    storage: ExportStorage, tmp_path: Path
) -> None:
    source = tmp_path / "file"
    source.write_bytes(b"other export")
    other = storage.publish(source, space_id="acme", date=DATE, sha256="x")
    published = storage.publish_parts(
        _parts(tmp_path, 3), space_id="acme", date=DATE, format="csv", manifest=lambda k: b"{}"
    )
    storage.delete_export_files(_Record(published.keys))
    assert _objects(storage) == [other]
    storage.delete_export_files(_Record(published.keys))  # again: nothing left to delete
    if isinstance(storage, LocalExportStorage):
        assert sorted(p.name for p in (storage.root / "acme" / "2024-01-15").iterdir()) == [
            other.rsplit("/", 1)[1]
        ]


def test_local_part_urls_name_their_part(tmp_path: Path) -> None:
    storage = LocalExportStorage(tmp_path, public_base_url="http://api.test", signing_secret="s")
    urls: dict[str, Any] = {
        key: storage.download_url(key, export_id=7, date=DATE, expires_in_seconds=900)
        for key, _ in NAMES
    }
    assert ["part=" in url for url in urls.values()] == [
        served.part is not None for _, served in NAMES
    ]
    assert "?part=2&expires=" in urls[NAMES[3][0]]

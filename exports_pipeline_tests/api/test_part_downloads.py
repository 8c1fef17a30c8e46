"""An export in parts: the status lists each part with its own signed URL and the manifest;
a part URL serves only its part, and any altered part number or signature is a 403."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from exports_pipeline.engine.parts import WrittenPart
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.storage.publish import stored_parts
from exports_pipeline.store.exports import create_export, mark_completed, mark_processing
from exports_pipeline_tests.support.api import EXPORTS, Keys, StoredFile, bearer

DATE = dt.date(2024, 1, 15)


@pytest.fixture
def parts_export(
    store_engine: sa.Engine, storage: LocalExportStorage, tmp_path: Path, keys: Keys
) -> tuple[int, list[bytes], bytes]:
    """A completed parquet export of acme in 3 parts: its id, the parts' and manifest's bytes."""
    contents = [f"parquet part {n}".encode() for n in (1, 2, 3)]
    parts = []
    for number, content in enumerate(contents, start=1):
        path = tmp_path / f"part-{number:05d}.parquet"
        path.write_bytes(content)
        digest = hashlib.sha256(content).hexdigest()
        parts.append(WrittenPart(number, path.name, path, 1000, len(content), digest))
    manifest = b'{"parts": 3}\n'
    published = storage.publish_parts(
        parts, space_id="acme", date=DATE, format="parquet", manifest=lambda keys: manifest
    )
    files = stored_parts(parts, published.part_keys)
    request = ExportRequest(date=DATE, format="parquet", max_rows_per_file=1000)
    with store_engine.begin() as conn:
        export_id = create_export(conn, space_id="acme", request=request, trigger="api")
        mark_processing(conn, export_id, run_id="run-1")
        mark_completed(
            conn,
            export_id,
            storage_key=published.manifest_key,
            row_count=3000,
            file_size_bytes=sum(len(c) for c in contents),
            sha256=published.manifest_sha256,
            format="parquet",
            files=files,
        )
    return export_id, contents, manifest


def _path_and_query(url: str, **changes: str | None) -> str:
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return f"{split.path}?{urlencode(query)}"


def test_status_lists_every_part_and_the_manifest(
    client: TestClient, keys: Keys, parts_export: tuple[int, list[bytes], bytes]
) -> None:
    export_id, contents, manifest = parts_export
    status = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme)).json()
    assert (status["row_count"], status["file_size_bytes"]) == (3000, sum(map(len, contents)))
    assert status["sha256"] == hashlib.sha256(manifest).hexdigest()
    assert [
        (f["part"], f["row_count"], f["file_size_bytes"], f["sha256"]) for f in status["files"]
    ] == [(n, 1000, len(c), hashlib.sha256(c).hexdigest()) for n, c in enumerate(contents, 1)]
    for entry, content in zip(status["files"], contents, strict=True):
        assert parse_qs(urlsplit(entry["download_url"]).query)["part"] == [str(entry["part"])]
        response = client.get(entry["download_url"])
        assert response.status_code == 200 and response.content == content
        assert response.headers["content-type"] == "application/vnd.apache.parquet"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="events-2024-01-15-{export_id}-part-{entry["part"]:05d}.parquet"'
        )
    for url in (status["manifest_url"], status["download_url"]):
        assert "part" not in parse_qs(urlsplit(url).query)
        response = client.get(url)
        assert response.status_code == 200 and response.content == manifest
        assert response.headers["content-type"] == "application/json"
    # Fresh URLs on every call.
    again = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme)).json()
    assert [f["part"] for f in again["files"]] == [1, 2, 3]


@pytest.mark.parametrize(
    ("part_of", "changes"),
    [
        ("part 2", {"part": "3"}),
        ("part 2", {"part": "1"}),
        ("part 2", {"part": None}),  # the manifest's key is not part 2's
        ("part 2", {"part": "02"}),
        ("part 2", {"part": "two"}),
        ("part 2", {"part": "-2"}),
        ("part 2", {"part": "9" * 40}),
        ("part 2", {"signature": "0" * 64}),
        ("manifest", {"part": "1"}),
        ("manifest", {"part": "0"}),
    ],
    ids=lambda value: str(value),
)
def test_an_altered_part_url_is_refused(
    client: TestClient,
    keys: Keys,
    parts_export: tuple[int, list[bytes], bytes],
    part_of: str,
    changes: dict[str, str | None],
) -> None:
    export_id = parts_export[0]
    status = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme)).json()
    url = status["files"][1]["download_url"] if part_of == "part 2" else status["manifest_url"]
    response = client.get(_path_and_query(url, **changes))
    assert response.status_code == 403, response.text
    assert "invalid" in response.json()["message"]


def test_a_single_file_export_has_no_parts(
    client: TestClient, keys: Keys, stored: StoredFile
) -> None:
    status = client.get(f"{EXPORTS}/{stored.export_id}", headers=bearer(keys.acme)).json()
    assert "files" not in status and "manifest_url" not in status
    assert client.get(status["download_url"]).status_code == 200
    assert client.get(_path_and_query(status["download_url"], part="1")).status_code == 403

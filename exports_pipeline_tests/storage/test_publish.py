"""write_and_publish: one file without `max_rows_per_file`, else parts then a manifest, each
part returned as the `StoredPart` the store records; nothing is stored when `before_publish`
raises."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.storage.publish import PublishedExport, write_and_publish

DATE = dt.date(2024, 1, 15)
SCHEMA = {"id": pl.Int64()}


def _publish(
    tmp_path: Path,
    rows: int,
    max_rows_per_file: int | None = None,
    before_publish: Callable[[], None] = lambda: None,
) -> PublishedExport:
    storage = LocalExportStorage(tmp_path / "files", public_base_url="", signing_secret="s")
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    blocks = [pl.DataFrame({"id": list(range(rows))}, schema=SCHEMA)]
    return write_and_publish(
        blocks,
        schema=SCHEMA,
        storage=storage,
        workdir=workdir,
        export_id=7,
        space_id="acme",
        date=DATE,
        format="csv",
        max_rows_per_file=max_rows_per_file,
        request={"date": DATE.isoformat()},
        before_publish=before_publish,
    )


def _stored(tmp_path: Path) -> list[str]:
    root = tmp_path / "files"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_without_a_row_limit_one_file_is_stored(tmp_path: Path) -> None:
    published = _publish(tmp_path, 5)
    assert (published.row_count, published.format, published.files) == (5, "csv", None)
    assert published.keys == [published.storage_key] == _stored(tmp_path)
    assert published.storage_key.endswith(".csv.gz")


def test_with_a_row_limit_parts_then_the_manifest(tmp_path: Path) -> None:
    published = _publish(tmp_path, 5, max_rows_per_file=2)
    assert published.files is not None
    parts = [(p.part, p.file_name, p.row_count) for p in published.files]
    assert parts == [
        (1, "part-00001.csv.gz", 2),
        (2, "part-00002.csv.gz", 2),
        (3, "part-00003.csv.gz", 1),
    ]
    assert published.keys == [*(p.key for p in published.files), published.storage_key]
    assert sorted(published.keys) == _stored(tmp_path)
    assert published.row_count == 5
    files = tmp_path / "files"
    assert published.file_size_bytes == sum((files / p.key).stat().st_size for p in published.files)
    manifest = json.loads((files / published.storage_key).read_bytes())
    assert [p["key"] for p in manifest["parts"]] == [p.key for p in published.files]
    assert [p["sha256"] for p in manifest["parts"]] == [p.sha256 for p in published.files]


@pytest.mark.parametrize("max_rows_per_file", [None, 2])
def test_nothing_is_stored_when_before_publish_raises(
    tmp_path: Path, max_rows_per_file: int | None
) -> None:
    def cancelled() -> None:
        raise RuntimeError("cancelled")

    with pytest.raises(RuntimeError, match="cancelled"):
        _publish(tmp_path, 5, max_rows_per_file=max_rows_per_file, before_publish=cancelled)
    assert _stored(tmp_path) == []

"""Exports split into complete files of at most max_rows_per_file rows, listed by a manifest."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from exports_pipeline.engine.parts import manifest_bytes, part_file_name, write_parts
from exports_pipeline.engine.write import write_export
from exports_pipeline.formats import ExportFormat

FORMATS = tuple(ExportFormat)


def _rows(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": list(range(n)), "name": [f"n,{i}" for i in range(n)]},
        schema={"id": pl.Int64, "name": pl.String},
    )


def _read(path: Path, fmt: str) -> pl.DataFrame:
    if fmt == "parquet":
        return pl.read_parquet(path)
    text = gzip.decompress(path.read_bytes())
    if fmt == "csv":
        return pl.read_csv(io.BytesIO(text), schema={"id": pl.Int64, "name": pl.String})
    if not text:
        return _rows(0)
    return pl.read_ndjson(io.BytesIO(text), schema={"id": pl.Int64, "name": pl.String})


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("total", "max_rows", "counts"),
    [
        (0, 3, [0]),
        (1, 3, [1]),
        (9, 3, [3, 3, 3]),
        (10, 3, [3, 3, 3, 1]),
        (10, 10, [10]),
        (25, 1000, [25]),
    ],
)
@pytest.mark.parametrize("chunk", [1, 4, 1000])
def test_parts_are_consecutive_complete_files(
    tmp_path: Path, fmt: str, total: int, max_rows: int, counts: list[int], chunk: int
) -> None:
    rows = _rows(total)
    parts = write_parts(
        rows.iter_slices(chunk),
        tmp_path,
        schema=rows.schema,
        format=fmt,
        max_rows_per_file=max_rows,
        block_rows=2,
    )
    assert [p.row_count for p in parts] == counts
    assert [p.part for p in parts] == list(range(1, len(counts) + 1))
    assert [p.file_name for p in parts] == [part_file_name(p.part, fmt) for p in parts]
    assert sorted(f.name for f in tmp_path.iterdir()) == [p.file_name for p in parts]
    read = [_read(p.path, fmt) for p in parts]
    assert [frame.height for frame in read] == counts
    assert pl.concat(read).equals(rows)
    for part in parts:
        data = part.path.read_bytes()
        assert part.sha256 == hashlib.sha256(data).hexdigest()
        assert part.file_size_bytes == len(data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_part_bytes_do_not_depend_on_input_chunks(tmp_path: Path, fmt: str) -> None:
    rows = _rows(2500)
    hashes = []
    for chunk in (1, 333, 1000, 2500):
        directory = tmp_path / str(chunk)
        directory.mkdir()
        parts = write_parts(
            rows.iter_slices(chunk),
            directory,
            schema=rows.schema,
            format=fmt,
            max_rows_per_file=1000,
            block_rows=300,
        )
        hashes.append([p.sha256 for p in parts])
    assert all(h == hashes[0] for h in hashes) and len(hashes[0]) == 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_single_part_is_the_file_written_whole(tmp_path: Path, fmt: str) -> None:
    rows = _rows(1500)
    (part,) = write_parts(
        rows.iter_slices(100),
        tmp_path,
        schema=rows.schema,
        format=fmt,
        max_rows_per_file=1500,
        block_rows=400,
    )
    whole = write_export(rows, tmp_path / "whole", format=fmt, block_rows=400)
    assert part.path.read_bytes() == (tmp_path / "whole").read_bytes()
    assert part.sha256 == whole.sha256


@pytest.mark.parametrize(
    ("part", "fmt", "name"),
    [
        (1, "ndjson", "part-00001.ndjson.gz"),
        (42, "csv", "part-00042.csv.gz"),
        (99999, "parquet", "part-99999.parquet"),
        (123456, "parquet", "part-123456.parquet"),
    ],
)
def test_part_names(part: int, fmt: str, name: str) -> None:
    assert part_file_name(part, fmt) == name


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failure_midway_leaves_no_part(tmp_path: Path, fmt: str) -> None:
    def blocks() -> Iterator[pl.DataFrame]:
        yield _rows(25)
        raise RuntimeError("the extract broke")

    with pytest.raises(RuntimeError, match="extract broke"):
        write_parts(blocks(), tmp_path, schema=_rows(0).schema, format=fmt, max_rows_per_file=10)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("max_rows", [0, -5])
def test_max_rows_per_file_must_be_positive(tmp_path: Path, max_rows: int) -> None:
    with pytest.raises(ValueError, match="max_rows_per_file"):
        write_parts([], tmp_path, schema={"id": pl.Int64}, max_rows_per_file=max_rows)


def test_the_manifest_lists_the_parts_with_totals(tmp_path: Path) -> None:
    rows = _rows(2500)
    parts = write_parts([rows], tmp_path, schema=rows.schema, format="csv", max_rows_per_file=1000)
    request = {"date": "2024-05-01", "format": "csv", "max_rows_per_file": 1000}
    keys = ["k/1.csv.gz", "k/2.csv.gz", "k/3.csv.gz"]
    data = manifest_bytes(export_id=7, format="csv", request=request, parts=parts, keys=keys)
    assert data == manifest_bytes(
        export_id=7, format="csv", request=request, parts=parts, keys=keys
    )
    assert data.endswith(b"\n")
    manifest = json.loads(data)
    assert list(manifest) == sorted(manifest)
    assert manifest == {
        "export_id": 7,
        "file_size_bytes": sum(p.file_size_bytes for p in parts),
        "format": "csv",
        "parts": [
            {
                "file_name": f"part-0000{i}.csv.gz",
                "file_size_bytes": p.file_size_bytes,
                "key": keys[i - 1],
                "part": i,
                "row_count": count,
                "sha256": p.sha256,
            }
            for i, (p, count) in enumerate(zip(parts, [1000, 1000, 500], strict=True), start=1)
        ],
        "request": request,
        "row_count": 2500,
    }
    unkeyed = json.loads(manifest_bytes(export_id=7, format="csv", request=request, parts=parts))
    assert all("key" not in p for p in unkeyed["parts"])


def test_the_manifest_needs_one_key_per_part(tmp_path: Path) -> None:
    parts = write_parts([_rows(5)], tmp_path, schema=_rows(0).schema, max_rows_per_file=2)
    with pytest.raises(ValueError, match="2 storage keys for 3 parts"):
        manifest_bytes(export_id=1, format="ndjson", request={}, parts=parts, keys=["a", "b"])

"""CSV and Parquet files hold exactly the NDJSON rows, typed as SPEC 6.6 says, byte-stable."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exports_pipeline.engine.write import (
    ENCODERS,
    ExportFileWriter,
    parquet_schema,
    write_blocks,
    write_export,
)
from exports_pipeline.formats import FILE_FORMATS, ExportFormat, file_format
from exports_pipeline_tests.support.delivery import gzip_members

FORMATS = ("ndjson", "csv", "parquet")


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [1, 2, 3],
            "event_time_utc": [
                dt.datetime(2024, 3, 10, 8, 15),
                dt.datetime(2024, 3, 10, 8, 15, 0, 250000),
                dt.datetime(2024, 3, 10, 23, 59, 59, 1),
            ],
            "touchpoint_id": [11, 12, 13],
            "amount": [Decimal("12.50"), None, Decimal("-0.07")],
            "is_upsell": [True, False, None],
            "order_name": ['a,"b"\r\nc é ✓', None, ""],
        },
        schema_overrides={"amount": pl.Decimal(38, 2), "event_time_utc": pl.Datetime("us")},
    )


def test_csv_encoding_quotes_only_where_rfc_4180_needs_it(tmp_path: Path) -> None:
    write_export(_frame(), tmp_path / "x.csv.gz", format="csv")
    text = gzip.decompress((tmp_path / "x.csv.gz").read_bytes()).decode()
    assert text == (
        "id,event_time_utc,touchpoint_id,amount,is_upsell,order_name\r\n"
        '1,2024-03-10T08:15:00Z,11,12.50,true,"a,""b""\r\nc é ✓"\r\n'
        "2,2024-03-10T08:15:00.250000Z,12,,false,\r\n"
        '3,2024-03-10T23:59:59.000001Z,13,-0.07,,""\r\n'
    )


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("plain", "plain"),
        ("with space ", "with space "),
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("line\nbreak", '"line\nbreak"'),
        ("carriage\rreturn", '"carriage\rreturn"'),
        ("", '""'),
        (None, ""),
        ("tab\there; semi", "tab\there; semi"),
    ],
)
def test_csv_field_quoting(tmp_path: Path, value: str | None, field: str) -> None:
    rows = pl.DataFrame({"id": [1], "s": [value]}, schema={"id": pl.Int64, "s": pl.String})
    write_export(rows, tmp_path / "x.csv.gz", format="csv")
    text = gzip.decompress((tmp_path / "x.csv.gz").read_bytes()).decode()
    assert text == f"id,s\r\n1,{field}\r\n"


def test_parquet_schema_is_spec_6_6(tmp_path: Path) -> None:
    write_export(_frame(), tmp_path / "x.parquet", format="parquet")
    schema = pq.read_schema(tmp_path / "x.parquet")
    assert [(f.name, f.type) for f in schema] == [
        ("id", pa.int64()),
        ("event_time_utc", pa.timestamp("us", tz="UTC")),
        ("touchpoint_id", pa.int64()),
        ("amount", pa.decimal128(14, 2)),
        ("is_upsell", pa.bool_()),
        ("order_name", pa.string()),
    ]
    metadata = pq.ParquetFile(tmp_path / "x.parquet").metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert metadata.metadata is None  # no key-value metadata: nothing run-dependent
    assert pq.read_table(tmp_path / "x.parquet").to_pylist()[0] == {
        "id": 1,
        "event_time_utc": dt.datetime(2024, 3, 10, 8, 15, tzinfo=dt.UTC),
        "touchpoint_id": 11,
        "amount": Decimal("12.50"),
        "is_upsell": True,
        "order_name": 'a,"b"\r\nc é ✓',
    }


def test_parquet_refuses_an_amount_beyond_decimal_14_2(tmp_path: Path) -> None:
    rows = pl.DataFrame(
        {"amount": [Decimal("1234567890123.45")]}, schema={"amount": pl.Decimal(38, 2)}
    )
    with pytest.raises(pa.ArrowInvalid):
        write_export(rows, tmp_path / "x.parquet", format="parquet")
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.parametrize(
    ("column", "dtype"),
    [("id", pl.String), ("amount", pl.Float64), ("event_time_utc", pl.Date), ("x", pl.Int64)],
)
def test_parquet_schema_refuses_other_types(column: str, dtype: pl.DataType) -> None:
    with pytest.raises(TypeError, match=column):
        parquet_schema({column: dtype})


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("chunk", [1, 7, 100, 999, 5000])
def test_bytes_depend_on_rows_not_on_input_chunks(tmp_path: Path, fmt: str, chunk: int) -> None:
    rows = pl.concat([_frame()] * 1000)
    whole = write_export(rows, tmp_path / "whole", format=fmt, block_rows=256)
    chunked = write_blocks(
        rows.iter_slices(chunk),
        tmp_path / "chunked",
        schema=rows.schema,
        format=fmt,
        block_rows=256,
    )
    again = write_export(rows, tmp_path / "again", format=fmt, block_rows=256)
    data = (tmp_path / "whole").read_bytes()
    assert (tmp_path / "chunked").read_bytes() == data
    assert (tmp_path / "again").read_bytes() == data
    assert whole == chunked == again
    assert whole.sha256 == hashlib.sha256(data).hexdigest()
    assert whole.file_size_bytes == len(data)
    assert whole.row_count == 3000


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_gzip_formats_have_one_member_per_block(tmp_path: Path, fmt: str) -> None:
    rows = pl.concat([_frame()] * 4)  # 12 rows, blocks of 5: 5 + 5 + 2
    write_export(rows, tmp_path / "x", format=fmt, block_rows=5)
    assert gzip_members((tmp_path / "x").read_bytes()) == 3


def test_parquet_has_one_row_group_per_block(tmp_path: Path) -> None:
    rows = pl.concat([_frame()] * 4)
    write_blocks(
        rows.iter_slices(3), tmp_path / "x", schema=rows.schema, format="parquet", block_rows=5
    )
    metadata = pq.ParquetFile(tmp_path / "x").metadata
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [5, 5, 2]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("ndjson", ""),
        ("csv", "id,event_time_utc,touchpoint_id,amount,is_upsell,order_name\r\n"),
    ],
)
def test_no_rows_gzip(tmp_path: Path, fmt: str, expected: str) -> None:
    result = write_export(_frame().clear(), tmp_path / "x", format=fmt)
    assert gzip.decompress((tmp_path / "x").read_bytes()).decode() == expected
    assert result.row_count == 0


def test_no_rows_parquet_keeps_the_schema(tmp_path: Path) -> None:
    result = write_export(_frame().clear(), tmp_path / "x", format="parquet")
    read = pl.read_parquet(tmp_path / "x")
    assert read.height == 0 and result.row_count == 0
    assert read.schema["amount"] == pl.Decimal(14, 2)
    assert pq.ParquetFile(tmp_path / "x").metadata.num_row_groups == 0


def test_blocks_of_other_columns_are_refused_and_nothing_is_left(tmp_path: Path) -> None:
    rows = _frame()
    blocks = [rows.slice(0, 1), rows.slice(1).drop("amount")]
    with pytest.raises(ValueError, match="do not match"):
        write_blocks(blocks, tmp_path / "x", schema=rows.schema, format="csv")
    assert not (tmp_path / "x").exists()


def test_an_unknown_format_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'xml'.*ndjson, csv, parquet"):
        ExportFileWriter(tmp_path / "x", schema={"id": pl.Int64}, format="xml")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("fmt", "extension", "content_type"),
    [
        ("ndjson", ".ndjson.gz", "application/gzip"),
        ("csv", ".csv.gz", "application/gzip"),
        ("parquet", ".parquet", "application/vnd.apache.parquet"),
    ],
)
def test_names_and_content_types(fmt: str, extension: str, content_type: str) -> None:
    assert file_format(fmt).extension == extension
    assert file_format(fmt).content_type == content_type
    assert set(FILE_FORMATS) == set(FORMATS)


def test_every_format_of_the_registry_has_its_encoder() -> None:
    assert list(ENCODERS) == list(ExportFormat) == list(FILE_FORMATS)


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_a_format_member_and_its_name_write_the_same_bytes(
    tmp_path: Path, fmt: ExportFormat
) -> None:
    rows = pl.concat([_frame()] * 3)
    by_member = write_export(rows, tmp_path / "member", format=fmt, block_rows=4)
    by_name = write_export(rows, tmp_path / "name", format=fmt.value, block_rows=4)
    assert by_member == by_name
    assert (tmp_path / "member").read_bytes() == (tmp_path / "name").read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_blocks_reach_the_file_before_the_input_ends(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "x"
    sizes = []

    def blocks() -> Iterator[pl.DataFrame]:
        for b in range(8):
            sizes.append(path.stat().st_size if path.exists() else 0)
            digits = [hashlib.sha256(f"{b}-{i}".encode()).hexdigest() for i in range(1000)]
            yield pl.DataFrame({"id": range(b * 1000, (b + 1) * 1000), "s": digits})

    schema = {"id": pl.Int64, "s": pl.String}
    result = write_blocks(blocks(), path, schema=schema, format=fmt, block_rows=1000)
    assert result.row_count == 8000
    # Blocks were written while later ones were still being produced, not all at the end.
    assert sizes[0] == 0 and 0 < sizes[4] < sizes[7] < result.file_size_bytes

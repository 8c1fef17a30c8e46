"""Export files are gzip NDJSON with SPEC's encoding, streamed, byte-identical per input."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from decimal import Decimal
from pathlib import Path

import polars as pl

from exports_pipeline.engine.write import write_export
from exports_pipeline_tests.support.delivery import gzip_members


def test_encoding_of_every_column_type(tmp_path: Path) -> None:
    rows = pl.DataFrame(
        {
            "id": [1, 2],
            "event_time_utc": [
                dt.datetime(2024, 3, 10, 8, 15),
                dt.datetime(2024, 3, 10, 8, 15, 0, 250000),
            ],
            "amount": [Decimal("12.50"), None],
            "is_upsell": [True, None],
            "order_name": ['say "hi"\\\n\t\x01 é ✓', None],
        },
        schema_overrides={"amount": pl.Decimal(38, 2), "event_time_utc": pl.Datetime("us")},
    )
    result = write_export(rows, tmp_path / "x.ndjson.gz")
    text = gzip.decompress((tmp_path / "x.ndjson.gz").read_bytes()).decode()
    assert text == (
        '{"id":1,"event_time_utc":"2024-03-10T08:15:00Z","amount":12.50,"is_upsell":true,'
        '"order_name":"say \\"hi\\"\\\\\\n\\t\\u0001 é ✓"}\n'
        '{"id":2,"event_time_utc":"2024-03-10T08:15:00.250000Z","amount":null,'
        '"is_upsell":null,"order_name":null}\n'
    )
    first = json.loads(text.splitlines()[0], parse_float=Decimal)
    assert first["order_name"] == 'say "hi"\\\n\t\x01 é ✓'
    assert first["amount"] == Decimal("12.5")
    assert result.row_count == 2


def test_negative_and_small_amounts_keep_two_decimals(tmp_path: Path) -> None:
    rows = pl.DataFrame(
        {"amount": [Decimal("-0.07"), Decimal("0.00"), Decimal("-1234567890123.45")]},
        schema={"amount": pl.Decimal(38, 2)},
    )
    write_export(rows, tmp_path / "x.gz")
    lines = gzip.decompress((tmp_path / "x.gz").read_bytes()).decode().splitlines()
    assert lines == ['{"amount":-0.07}', '{"amount":0.00}', '{"amount":-1234567890123.45}']


def test_blocks_become_gzip_members_in_order(tmp_path: Path) -> None:
    rows = pl.DataFrame({"id": list(range(10))})
    result = write_export(rows, tmp_path / "x.gz", block_rows=3)
    data = (tmp_path / "x.gz").read_bytes()
    assert gzip_members(data) == 4
    assert gzip.decompress(data).decode() == "".join(f'{{"id":{i}}}\n' for i in range(10))
    assert result.file_size_bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.row_count == 10


def test_same_rows_same_bytes(tmp_path: Path) -> None:
    rows = pl.DataFrame({"id": list(range(1000)), "name": [f"n{i}" for i in range(1000)]})
    first = write_export(rows, tmp_path / "a.gz", block_rows=100)
    second = write_export(rows, tmp_path / "b.gz", block_rows=100)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()
    assert first == second


def test_no_rows_is_an_empty_valid_gzip(tmp_path: Path) -> None:
    result = write_export(pl.DataFrame(schema={"id": pl.Int64}), tmp_path / "x.gz")
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == b""
    assert result.row_count == 0
    assert result.file_size_bytes == (tmp_path / "x.gz").stat().st_size

"""Real exports read back with Polars, pyarrow and DuckDB give exactly the NDJSON rows."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from exports_pipeline.engine.attribution import split_attribution
from exports_pipeline.engine.extract import extract_events
from exports_pipeline.engine.hierarchy import resolve_ad_hierarchy
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.engine.write import write_export
from exports_pipeline.store import schema
from exports_pipeline_tests.support.stores import event, insert, random_store, space, touchpoint

DATE = dt.date(2024, 5, 1)
FIELDS = [
    "profile_id",
    "company_id",
    "event_name",
    "configured_name",
    "amount",
    "is_upsell",
    "order_id",
    "order_name",
    "event_url",
]
REQUESTS = {
    "no sources": {"fields": FIELDS},
    "profile linear": {
        "sources": ["google_ads", "email", "direct"],
        "attribution_model": "linear",
        "attribution_window": 30,
        "fields": [*FIELDS, "ad_id", "ad_name", "adset_id", "campaign_name", "account_name"],
    },
    "company u_shaped": {
        "query_mode": "company",
        "sources": ["google_ads", "facebook_ads", "email"],
        "attribution_model": "u_shaped",
        "attribution_window": 0,
        "fields": ["company_id", "amount", "order_name", "source", "campaign_id"],
    },
    "no fields": {"sources": ["email"], "attribution_model": "last_touch", "attribution_window": 7},
}
DUCK_TYPES = {
    "id": "BIGINT",
    "touchpoint_id": "BIGINT",
    "event_time_utc": "TIMESTAMPTZ",
    "amount": "DECIMAL(14,2)",
    "is_upsell": "BOOLEAN",
}
EXTENSIONS = {"ndjson": ".ndjson.gz", "csv": ".csv.gz", "parquet": ".parquet"}


def _rows(engine: sa.Engine, space_id: str, timezone: str, params: dict) -> pl.DataFrame:
    request = parse_export_request({"date": DATE.isoformat(), **params})
    extracted = extract_events(engine, space_id=space_id, timezone=timezone, request=request)
    touchpoints = resolve_ad_hierarchy(
        engine, space_id=space_id, touchpoints=extracted.touchpoints, request=request
    )
    return split_attribution(extracted.events, touchpoints, request)


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """A row as typed Python values: what every reader must agree on."""
    out = dict(row)
    time = out["event_time_utc"]
    if isinstance(time, str):
        time = dt.datetime.fromisoformat(time)
    out["event_time_utc"] = time.astimezone(dt.UTC)
    return out


def _ndjson(path: Path) -> list[dict[str, Any]]:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    return [json.loads(line, parse_float=Decimal) for line in lines]


def _as_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _ndjson_text(path: Path) -> list[dict[str, str | None]]:
    """The NDJSON rows with every value as its JSON text (strings decoded): CSV's fields."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    rows = [json.loads(line, parse_float=str, parse_int=str) for line in lines]
    return [{key: _as_text(value) for key, value in row.items()} for row in rows]


def _duck_columns(columns: list[str]) -> str:
    pairs = ", ".join(f"'{c}': '{DUCK_TYPES.get(c, 'VARCHAR')}'" for c in columns)
    return "{" + pairs + "}"


def _check_every_reader(rows: pl.DataFrame, tmp_path: Path) -> None:
    paths = {}
    for fmt, extension in EXTENSIONS.items():
        paths[fmt] = tmp_path / f"export{extension}"
        written = write_export(rows, paths[fmt], format=fmt, block_rows=97)
        assert written.row_count == rows.height
    columns = rows.columns
    expected = [_typed(r) for r in _ndjson(paths["ndjson"])]
    assert len(expected) == rows.height

    # Polars
    csv_text = pl.read_csv(paths["csv"], infer_schema=False)
    assert csv_text.columns == columns
    assert csv_text.to_dicts() == _ndjson_text(paths["ndjson"])
    parquet = pl.read_parquet(paths["parquet"])
    assert [_typed(r) for r in parquet.to_dicts()] == expected
    want = {
        "id": pl.Int64,
        "touchpoint_id": pl.Int64,
        "event_time_utc": pl.Datetime("us", "UTC"),
        "amount": pl.Decimal(14, 2),
        "is_upsell": pl.Boolean,
    }
    assert dict(parquet.schema) == {c: want.get(c, pl.String) for c in columns}

    # pyarrow
    table = pq.read_table(paths["parquet"])
    arrow_want = {
        "id": pa.int64(),
        "touchpoint_id": pa.int64(),
        "event_time_utc": pa.timestamp("us", tz="UTC"),
        "amount": pa.decimal128(14, 2),
        "is_upsell": pa.bool_(),
    }
    assert [(f.name, f.type) for f in table.schema] == [
        (c, arrow_want.get(c, pa.string())) for c in columns
    ]
    assert [_typed(r) for r in table.to_pylist()] == expected

    # DuckDB, each format with its typed reader
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    typed = _duck_columns(columns)
    queries = {
        "ndjson": f"SELECT * FROM read_ndjson('{paths['ndjson']}', columns = {typed})",
        # A quoted empty field is an empty string, not null (DuckDB's default differs).
        "csv": f"SELECT * FROM read_csv('{paths['csv']}', header = true, "
        f"allow_quoted_nulls = false, columns = {typed})",
        "parquet": f"SELECT * FROM read_parquet('{paths['parquet']}')",
    }
    for fmt, query in queries.items():
        result = conn.sql(query)
        assert result.columns == columns, fmt
        got = [_typed(dict(zip(columns, r, strict=True))) for r in result.fetchall()]
        assert got == expected, fmt
    parquet_types = conn.sql(f"DESCRIBE SELECT * FROM read_parquet('{paths['parquet']}')")
    described = {name: kind for name, kind, *_ in parquet_types.fetchall()}
    assert described == {
        c: {
            "id": "BIGINT",
            "touchpoint_id": "BIGINT",
            "event_time_utc": "TIMESTAMP WITH TIME ZONE",
            "amount": "DECIMAL(14,2)",
            "is_upsell": "BOOLEAN",
        }.get(c, "VARCHAR")
        for c in columns
    }
    conn.close()


@pytest.mark.parametrize("scenario", list(REQUESTS))
def test_random_store_exports_read_back_the_same(
    store_engine: sa.Engine, tmp_path: Path, scenario: str
) -> None:
    random_store(store_engine, seed=13, events=600, date=DATE)
    rows = _rows(store_engine, "space-1", "America/New_York", REQUESTS[scenario])
    assert rows.height > 10
    _check_every_reader(rows, tmp_path)


def test_awkward_strings_and_amounts_read_back_the_same(
    store_engine: sa.Engine, tmp_path: Path
) -> None:
    space(store_engine)
    T = dt.datetime
    names = ["a,b", 'say "hi"', "two\r\nlines", "lf\nonly", "", None, "é ✓ 日本", " pad "]
    insert(
        store_engine,
        schema.events,
        [
            event(
                i + 1,
                T(2024, 5, 1, 10, 0, i, 1000 * i),
                amount=amount,
                order_name=name,
                event_url=name,
                is_upsell=i % 2 == 0,
            )
            for i, (name, amount) in enumerate(
                zip(
                    names,
                    ["-0.07", None, "0.00", "-1234.56", "0.01", "99999999.99", "1.10", "-0.01"],
                    strict=True,
                )
            )
        ],
    )
    insert(store_engine, schema.touchpoints, [touchpoint(1, T(2024, 4, 30), "email")])
    for params in (
        {"fields": ["amount", "order_name", "event_url", "is_upsell"]},
        {
            "sources": ["email"],
            "attribution_model": "linear",
            "attribution_window": 7,
            "fields": ["amount", "order_name"],
        },
    ):
        rows = _rows(store_engine, "space-1", "UTC", params)
        assert rows.height == len(names)
        _check_every_reader(rows, tmp_path)

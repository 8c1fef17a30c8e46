"""`run_export` composes the stages into the exact file SPEC describes, the same every time."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from pathlib import Path

import sqlalchemy as sa

from exports_pipeline.engine.export import run_export
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.store import schema
from exports_pipeline_tests.support.stores import event, insert, space, touchpoint

T = dt.datetime


def test_an_attributed_export_end_to_end(store_engine: sa.Engine, tmp_path: Path) -> None:
    space(store_engine, timezone="Asia/Kolkata")
    insert(
        store_engine,
        schema.ads,
        [{"space_id": "space-1", "ad_id": "ad1", "adset_id": "set1", "ad_name": 'Spring "sale"'}],
    )
    insert(
        store_engine,
        schema.events,
        [
            event(2, T(2024, 5, 1, 3, 0, 0, 500000), amount="10.00", order_id="o-2"),
            event(1, T(2024, 5, 1, 3), amount="-0.05", profile_id="p2"),
            event(3, T(2024, 5, 1, 19), amount="1.00"),  # 00:30 on May 2nd in Kolkata
        ],
    )
    insert(
        store_engine,
        schema.touchpoints,
        [
            touchpoint(11, T(2024, 4, 30), "google_ads", ad_id="ad1"),
            touchpoint(12, T(2024, 4, 30, 12), "email"),
            touchpoint(13, T(2024, 5, 1, 3), "direct"),
            touchpoint(21, T(2024, 4, 29), "email", profile_id="p2"),
            touchpoint(22, T(2024, 4, 29), "google_ads", profile_id="p2"),
        ],
    )
    request = parse_export_request(
        {
            "date": "2024-05-01",
            "sources": ["google_ads", "email"],
            "attribution_model": "linear",
            "attribution_window": 7,
            "fields": ["amount", "ad_name", "order_id"],
        }
    )
    path = tmp_path / "export.ndjson.gz"
    result = run_export(
        store_engine, space_id="space-1", timezone="Asia/Kolkata", request=request, path=path
    )
    data = path.read_bytes()
    assert gzip.decompress(data).decode() == (
        '{"id":1,"event_time_utc":"2024-05-01T03:00:00Z","touchpoint_id":21,'
        '"source":"email","amount":-0.03,"ad_name":null,"order_id":null}\n'
        '{"id":1,"event_time_utc":"2024-05-01T03:00:00Z","touchpoint_id":22,'
        '"source":"google_ads","amount":-0.02,"ad_name":null,"order_id":null}\n'
        '{"id":2,"event_time_utc":"2024-05-01T03:00:00.500000Z","touchpoint_id":11,'
        '"source":"google_ads","amount":3.34,"ad_name":"Spring \\"sale\\"","order_id":"o-2"}\n'
        '{"id":2,"event_time_utc":"2024-05-01T03:00:00.500000Z","touchpoint_id":12,'
        '"source":"email","amount":3.33,"ad_name":null,"order_id":"o-2"}\n'
    )
    assert result.row_count == 4
    assert result.file_size_bytes == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()

    again = run_export(
        store_engine,
        space_id="space-1",
        timezone="Asia/Kolkata",
        request=request,
        path=tmp_path / "again.ndjson.gz",
    )
    assert again == result
    assert (tmp_path / "again.ndjson.gz").read_bytes() == data

"""Ad hierarchy columns follow the chain ad → ad set → campaign → account, reading only
the levels the requested fields need."""

from __future__ import annotations

import datetime as dt

import polars as pl
import sqlalchemy as sa

from exports_pipeline.engine import hierarchy
from exports_pipeline.engine.hierarchy import hierarchy_levels, resolve_ad_hierarchy
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.store import schema
from exports_pipeline_tests.support.frames import touchpoints_frame
from exports_pipeline_tests.support.stores import SPACE, insert

ALL_LEVELS = [
    "ad_id",
    "ad_name",
    "adset_id",
    "adset_name",
    "campaign_id",
    "campaign_name",
    "account_id",
    "account_name",
]
AT = dt.datetime(2024, 5, 1)


def _request(fields: list[str]):  # type: ignore[no-untyped-def]
    return parse_export_request(
        {
            "date": "2024-05-01",
            "sources": ["google_ads", "google_organic"],
            "attribution_model": "linear",
            "attribution_window": 0,
            "fields": fields,
        }
    )


def _hierarchy_store(engine: sa.Engine) -> None:
    def rows(*values: tuple) -> list[dict]:
        return [dict(zip(("space_id", *keys), (SPACE, *v), strict=True)) for v in values]

    keys = ("account_id", "source", "account_name")
    insert(engine, schema.ad_accounts, rows(("acc1", "google_ads", "Account 1")))
    keys = ("campaign_id", "account_id", "campaign_name")
    insert(engine, schema.campaigns, rows(("cmp1", "acc1", "Camp 1"), ("cmp2", "gone", "Camp 2")))
    keys = ("adset_id", "campaign_id", "adset_name")
    insert(engine, schema.adsets, rows(("set1", "cmp1", "Set 1"), ("set2", "cmp2", "Set 2")))
    keys = ("ad_id", "adset_id", "ad_name")
    insert(
        engine,
        schema.ads,
        [
            *rows(("ad1", "set1", "Ad 1"), ("ad2", "set2", "Ad 2"), ("ad3", "set9", "Ad 3")),
            {"space_id": "other", "ad_id": "ad4", "adset_id": "set1", "ad_name": "Elsewhere"},
        ],
    )


# touchpoint ad_id → expected values of ALL_LEVELS
EXPECTED = {
    "ad1": ["ad1", "Ad 1", "set1", "Set 1", "cmp1", "Camp 1", "acc1", "Account 1"],
    "ad2": ["ad2", "Ad 2", "set2", "Set 2", "cmp2", "Camp 2", "gone", None],
    "ad3": ["ad3", "Ad 3", "set9", None, None, None, None, None],
    "ad4": ["ad4", None, None, None, None, None, None, None],  # an ad of another space
    None: [None] * 8,  # organic
}


def _touchpoints() -> pl.DataFrame:
    return touchpoints_frame(
        [
            {"id": i, "profile_id": "p1", "source": "google_ads", "touch_time_utc": AT, "ad_id": ad}
            for i, ad in enumerate(EXPECTED, start=1)
        ]
    )


def test_full_chain_and_where_it_breaks(store_engine: sa.Engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _hierarchy_store(store_engine)
    # Both ways of reading a level: by the ids at hand, and the whole space's level when
    # there are too many ids for one query.
    for max_links in (10_000, 0):
        monkeypatch.setattr(hierarchy, "_MAX_LINKS_BY_ID", max_links)
        resolved = resolve_ad_hierarchy(
            store_engine, space_id=SPACE, touchpoints=_touchpoints(), request=_request(ALL_LEVELS)
        )
        actual = {r["ad_id"]: [r[f] for f in ALL_LEVELS] for r in resolved.iter_rows(named=True)}
        assert actual == EXPECTED, max_links
        assert resolved["id"].to_list() == [1, 2, 3, 4, 5]


def test_lower_fields_do_not_read_higher_levels(store_engine: sa.Engine) -> None:
    _hierarchy_store(store_engine)
    with store_engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE campaigns"))
        conn.execute(sa.text("DROP TABLE ad_accounts"))
    resolved = resolve_ad_hierarchy(
        store_engine,
        space_id=SPACE,
        touchpoints=_touchpoints(),
        request=_request(["ad_name", "adset_name", "campaign_id"]),
    )
    assert resolved.columns == [
        *_touchpoints().columns,
        "ad_name",
        "adset_id",
        "adset_name",
        "campaign_id",
    ]
    assert resolved.row(0, named=True)["campaign_id"] == "cmp1"


def test_no_hierarchy_field_reads_nothing_and_adds_nothing(store_engine: sa.Engine) -> None:
    for table in ("ads", "adsets", "campaigns", "ad_accounts"):
        with store_engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE {table}"))
    touchpoints = _touchpoints()
    for fields in (["amount"], ["ad_id", "source"]):
        resolved = resolve_ad_hierarchy(
            store_engine, space_id=SPACE, touchpoints=touchpoints, request=_request(fields)
        )
        assert resolved.equals(touchpoints)


def test_levels_needed() -> None:
    assert hierarchy_levels(None) == 0
    assert hierarchy_levels(["ad_id", "amount"]) == 0
    assert hierarchy_levels(["ad_name"]) == 1
    assert hierarchy_levels(["adset_id"]) == 1
    assert hierarchy_levels(["adset_name", "ad_name"]) == 2
    assert hierarchy_levels(["campaign_name"]) == 3
    assert hierarchy_levels(["account_id"]) == 3
    assert hierarchy_levels(["account_name", "ad_id"]) == 4

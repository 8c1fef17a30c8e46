"""`seed-demo` data is deterministic by seed and has the shape exports must cope with."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from exports_pipeline.cli import app
from exports_pipeline.demo.generate import demo_tables, seed_demo
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.migrate import upgrade
from exports_pipeline.store.schema import metadata
from exports_pipeline.store.table_files import LoadError
from exports_pipeline.vocabulary import (
    AI_SOURCES,
    EVENT_NAMES,
    ORGANIC_SOURCES,
    PAID_SOURCES,
    SOURCES,
)
from exports_pipeline_tests.support.loading import counts, snapshot

# Around the European DST change (2026-03-29); the US one is already past.
END = dt.date(2026, 3, 31)
SMALL = {"events": 3_000, "days": 7, "spaces": 5, "end_date": END}


def read(engine: sa.Engine, name: str) -> pl.DataFrame:
    table = metadata.tables[name]
    with engine.connect() as conn:
        rows = [row._asdict() for row in conn.execute(sa.select(table))]
    return pl.DataFrame(rows, schema=[c.name for c in table.columns], orient="row",
                        infer_schema_length=None)  # fmt: skip


def test_same_seed_same_rows_on_every_backend(store_engine: sa.Engine, tmp_path: Path) -> None:
    reference = make_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    upgrade(reference)
    seed_demo(store_engine, seed=7, **SMALL)
    seed_demo(reference, seed=7, **SMALL)
    assert snapshot(store_engine) == snapshot(reference)
    reference.dispose()


@pytest.mark.parametrize("table", ["events", "touchpoints", "profiles", "ads", "adsets"])
def test_seed_decides_the_rows(table: str) -> None:
    arguments = {"events": 500, "days": 3, "spaces": 3, "end_date": END}
    first = demo_tables(seed=1, **arguments)[table]
    again = demo_tables(seed=1, **arguments)[table]
    other = demo_tables(seed=2, **arguments)[table]
    assert first.equals(again)
    assert not first.equals(other)


def test_demo_uses_only_sources_and_event_names_of_the_spec() -> None:
    tables = demo_tables(events=2_000, days=2, spaces=10, seed=0, end_date=END)
    assert set(tables["touchpoints"]["source"]) <= set(SOURCES)
    assert set(tables["ad_accounts"]["source"]) <= set(PAID_SOURCES)
    assert set(tables["events"]["event_name"]) <= EVENT_NAMES


@pytest.mark.parametrize("events", [0, 1, 10])
def test_tiny_sizes_work(events: int) -> None:
    tables = demo_tables(events=events, days=1, spaces=2, seed=0, end_date=END)
    assert tables["events"].height == events
    assert tables["spaces"].height == 2


def _utc_offsets(zone: str) -> set[dt.timedelta]:
    tz = zoneinfo.ZoneInfo(zone)
    return {dt.datetime(2026, month, 15, tzinfo=tz).utcoffset() for month in (1, 7)}  # type: ignore[misc]


def test_demo_shape(store_engine: sa.Engine) -> None:
    summary = seed_demo(store_engine, seed=3, **SMALL)
    spaces = read(store_engine, "spaces")
    events = read(store_engine, "events")
    touches = read(store_engine, "touchpoints")
    profiles = read(store_engine, "profiles")
    ads, adsets = read(store_engine, "ads"), read(store_engine, "adsets")
    campaigns, accounts = read(store_engine, "campaigns"), read(store_engine, "ad_accounts")
    configs = read(store_engine, "event_configs")

    assert summary.rows == counts(store_engine)
    assert summary.rows["events"] == 3_000
    # Timezones: several, one observing DST, one at +05:30; the last space is inactive.
    zones = spaces["timezone"].to_list()
    assert len(set(zones)) == 5
    assert any(len(_utc_offsets(zone)) == 2 for zone in zones)
    assert any(_utc_offsets(zone) == {dt.timedelta(hours=5, minutes=30)} for zone in zones)
    assert spaces.filter(~pl.col("subscription_active"))["id"].to_list() == ["demo-5"]
    # Event times cover the UTC days asked for.
    assert events["event_time_utc"].min() >= dt.datetime(2026, 3, 25)
    assert events["event_time_utc"].max() < dt.datetime(2026, 4, 1)
    assert events["event_time_utc"].dt.date().n_unique() == 7

    # Journeys: 0-15 touches per profile, within 180 days, most events have one before them.
    per_profile = touches.group_by("profile_id").len()["len"]
    assert per_profile.max() <= 15
    assert per_profile.max() >= 10
    assert touches["touch_time_utc"].min() >= dt.datetime(2026, 3, 25) - dt.timedelta(days=180)
    earliest = touches.group_by("profile_id").agg(pl.col("touch_time_utc").min().alias("first"))
    attributable = events.join(earliest, on="profile_id", how="left").select(
        (pl.col("first") <= pl.col("event_time_utc")).fill_null(False).mean()
    )
    assert 0.5 < attributable.item() < 0.99
    at_event_time = touches.join(
        events.select("profile_id", pl.col("event_time_utc").alias("touch_time_utc")),
        on=["profile_id", "touch_time_utc"],
    )
    assert at_event_time.height > 0
    assert touches.select(pl.struct("profile_id", "touch_time_utc").is_duplicated().any()).item()

    # Sources: every family present; paid touches point at ads, others never do.
    sources = set(touches["source"])
    for family in (PAID_SOURCES, ORGANIC_SOURCES, AI_SOURCES, ("email",), ("sms",),
                   ("referral",), ("direct",)):  # fmt: skip
        assert sources & set(family), family
    paid = touches.filter(pl.col("source").str.ends_with("_ads"))
    assert paid["ad_id"].is_not_null().mean() > 0.85
    assert touches.filter(~pl.col("source").str.ends_with("_ads"))["ad_id"].null_count() == (
        touches.height - paid.height
    )
    # Every paid platform used has its ad accounts; some chains are broken.
    assert set(paid["source"]) <= set(accounts["source"])
    unknown_ads = paid.filter(pl.col("ad_id").is_not_null()).join(
        ads, on=["space_id", "ad_id"], how="anti"
    )
    assert unknown_ads.height > 0
    assert adsets.join(campaigns, on=["space_id", "campaign_id"], how="anti").height > 0
    assert ads.join(adsets, on=["space_id", "adset_id"], how="anti").height > 0
    assert campaigns.join(accounts, on=["space_id", "account_id"], how="anti").height == 0

    # Companies: about half the profiles; an event's company is its profile's.
    assert 0.4 < profiles["company_id"].is_not_null().mean() < 0.6
    joined = events.join(profiles.rename({"id": "profile_id", "company_id": "profile_company"}),
                         on=["space_id", "profile_id"])  # fmt: skip
    assert joined.height == events.height
    assert joined.filter(pl.col("company_id").ne_missing(pl.col("profile_company"))).is_empty()

    # Amounts: null for non-monetary events, a few refunds, purchases always priced.
    assert events.filter(pl.col("event_name") == "view_content")["amount"].null_count() > 0
    assert events.filter(pl.col("event_name") == "view_content")["amount"].is_null().all()
    assert events.filter(pl.col("event_name") == "purchase")["amount"].is_not_null().all()
    assert 0 < events.filter(pl.col("amount") < 0).height < 0.05 * events.height
    assert events.filter(pl.col("is_upsell")).height > 0

    # Configured names for some custom events, and custom events without one.
    configured = set(configs.filter(pl.col("space_id") == "demo-2")["event_name"])
    assert {"custom_event_1", "custom_event_2"} <= configured
    used_custom = set(events.filter(pl.col("event_name").str.starts_with("custom_"))["event_name"])
    assert used_custom - configured


def test_seeding_twice_keeps_the_first_seed_alone(store_engine: sa.Engine) -> None:
    seed_demo(store_engine, seed=0, **{**SMALL, "events": 200})
    before = snapshot(store_engine)
    with pytest.raises(LoadError, match="demo-1"):
        seed_demo(store_engine, seed=1, **{**SMALL, "events": 200})
    assert snapshot(store_engine) == before


def test_cli_seed_demo(
    store_engine: sa.Engine, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTS_DATABASE_URL", store_url)
    arguments = ["seed-demo", "--events", "300", "--days", "2", "--spaces", "4", "--seed", "5",
                 "--no-progress"]  # fmt: skip

    first = CliRunner().invoke(app, arguments)
    second = CliRunner().invoke(app, arguments)

    assert first.exit_code == 0, first.output
    assert "Asia/Kolkata" in first.stdout
    assert "inactive" in first.stdout
    assert counts(store_engine)["events"] == 300
    assert second.exit_code == 1
    assert "nothing was kept" in second.stderr
    assert counts(store_engine)["events"] == 300

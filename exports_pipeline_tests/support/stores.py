"""Writing test rows into a store with SQLAlchemy Core (the canonical timestamp format)."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from exports_pipeline.store import schema
from exports_pipeline.vocabulary import STANDARD_EVENT_NAMES

SPACE = "space-1"


def insert(engine: sa.Engine, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    if rows:
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)


def space(engine: sa.Engine, space_id: str = SPACE, timezone: str = "UTC") -> None:
    insert(
        engine,
        schema.spaces,
        [{"id": space_id, "name": space_id, "timezone": timezone, "subscription_active": True}],
    )


def event(
    id: int,
    time: dt.datetime,
    *,
    profile_id: str = "p1",
    company_id: str | None = None,
    event_name: str = "purchase",
    amount: str | None = "10.00",
    space_id: str = SPACE,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": id,
        "space_id": space_id,
        "profile_id": profile_id,
        "company_id": company_id,
        "event_name": event_name,
        "amount": None if amount is None else Decimal(amount),
        "is_upsell": extra.pop("is_upsell", False),
        "event_time_utc": time,
        "order_id": extra.pop("order_id", None),
        "order_name": extra.pop("order_name", None),
        "event_url": extra.pop("event_url", None),
    }


def touchpoint(
    id: int,
    time: dt.datetime,
    source: str,
    *,
    profile_id: str = "p1",
    ad_id: str | None = None,
    space_id: str = SPACE,
) -> dict[str, Any]:
    return {
        "id": id,
        "space_id": space_id,
        "profile_id": profile_id,
        "source": source,
        "touch_time_utc": time,
        "ad_id": ad_id,
    }


# A small pool of sources: paid, organic, direct and others, so every model has work to do.
RANDOM_SOURCES = (
    "google_ads",
    "facebook_ads",
    "tiktok_ads",
    "google_organic",
    "direct",
    "direct",
    "email",
    "referral",
)


def random_store(engine: sa.Engine, *, seed: int, events: int, date: dt.date) -> None:
    """A store of two spaces with events around `date` and touchpoints over the 100 days
    before, full of ties: shared touch times, touches exactly at event times and at the
    edges of every window, null and negative amounts, broken ad chains."""
    rng = random.Random(seed)
    spaces = [("space-1", "America/New_York"), ("space-2", "Asia/Kolkata")]
    for space_id, timezone in spaces:
        space(engine, space_id, timezone)
    profiles, companies, configs = [], [], []
    for space_id, _ in spaces:
        for c in range(15):
            companies.append({"id": f"{space_id}-c{c}", "space_id": space_id, "name": f"C{c}"})
        for p in range(120):
            company = f"{space_id}-c{rng.randrange(15)}" if rng.random() < 0.8 else None
            profiles.append({"id": f"{space_id}-p{p}", "space_id": space_id, "company_id": company})
        configs.append(
            {"space_id": space_id, "event_name": "custom_event_3", "configured_name": "Demo"}
        )
        # A configuration of a standard event must be ignored.
        configs.append(
            {"space_id": space_id, "event_name": "purchase", "configured_name": "Ignored"}
        )
    insert(engine, schema.companies, companies)
    insert(engine, schema.profiles, profiles)
    insert(engine, schema.event_configs, configs)

    hierarchy: dict[str, list[dict[str, Any]]] = {"ads": [], "adsets": [], "campaigns": []}
    accounts = []
    for space_id, _ in spaces:
        accounts.append(
            {
                "space_id": space_id,
                "account_id": "acc1",
                "source": "google_ads",
                "account_name": "A1",
            }
        )
        for i in range(3):
            # campaign cmp2 points at an account that does not exist
            hierarchy["campaigns"].append(
                {
                    "space_id": space_id,
                    "campaign_id": f"cmp{i}",
                    "account_id": "acc1" if i < 2 else "acc-missing",
                    "campaign_name": f'Campaign {i} ✓ "q"',
                }
            )
        for i in range(4):
            hierarchy["adsets"].append(
                {
                    "space_id": space_id,
                    "adset_id": f"set{i}",
                    "campaign_id": f"cmp{i}",  # set3 → a campaign that does not exist
                    "adset_name": f"Set {i}",
                }
            )
        for i in range(6):
            hierarchy["ads"].append(
                {
                    "space_id": space_id,
                    "ad_id": f"ad{i}",
                    "adset_id": f"set{i % 5}",  # set4 does not exist
                    "ad_name": f"Ad {i}",
                }
            )
    insert(engine, schema.ad_accounts, accounts)
    insert(engine, schema.campaigns, hierarchy["campaigns"])
    insert(engine, schema.adsets, hierarchy["adsets"])
    insert(engine, schema.ads, hierarchy["ads"])

    base = dt.datetime.combine(date, dt.time()) - dt.timedelta(hours=12)
    event_rows, touch_rows = [], []
    event_times = []
    names = ("purchase", "sign_up", "custom_event_3", "custom_event_7", STANDARD_EVENT_NAMES[0])
    for i in range(events):
        space_id = spaces[rng.randrange(2)][0]
        profile = rng.choice([p for p in profiles if p["space_id"] == space_id][:60])
        time = base + dt.timedelta(seconds=rng.randrange(0, 60 * 60 * 48))
        if rng.random() < 0.3:
            time += dt.timedelta(microseconds=rng.randrange(1, 1_000_000))
        if event_times and rng.random() < 0.1:
            time = rng.choice(event_times)  # same time as another event: order by id
        event_times.append(time)
        amount = rng.choice(
            [None, "0.00", "0.01", "-7.35", "100.00", "33.33", "1234567.89", "0.07"]
            + [f"{rng.randrange(-500, 100000) / 100:.2f}"] * 4
        )
        event_rows.append(
            event(
                i + 1,
                time,
                profile_id=profile["id"],
                company_id=profile["company_id"] if rng.random() < 0.9 else None,
                event_name=rng.choice(names),
                amount=amount,
                space_id=space_id,
                is_upsell=rng.random() < 0.2,
                order_id=f"o{i}" if rng.random() < 0.5 else None,
                order_name='Order "x"\n\\é' if rng.random() < 0.1 else None,
                event_url=f"https://x.test/p?i={i}" if rng.random() < 0.5 else None,
            )
        )
    touch_id = 1
    for p in profiles:
        count = rng.choice([0, 1, 2, 3, 5, 8, 12])
        own_events = [e["event_time_utc"] for e in event_rows if e["profile_id"] == p["id"]]
        for _ in range(count):
            r = rng.random()
            if own_events and r < 0.15:
                time = rng.choice(own_events)  # exactly at an event
            elif own_events and r < 0.3:
                days = rng.choice([1, 7, 14, 30, 60, 90])
                time = rng.choice(own_events) - dt.timedelta(days=days)  # at a window edge
            else:
                time = (
                    base
                    - dt.timedelta(days=rng.randrange(0, 100), seconds=rng.randrange(0, 86400))
                    + dt.timedelta(hours=rng.randrange(0, 48))
                )
            for _ in range(2 if rng.random() < 0.15 else 1):  # a tie on the time
                source = rng.choice(RANDOM_SOURCES)
                ad = rng.choice([None, "ad0", "ad1", "ad2", "ad3", "ad4", "ad5", "ad-unknown"])
                touch_rows.append(
                    touchpoint(
                        touch_id,
                        time,
                        source,
                        profile_id=p["id"],
                        ad_id=ad if source.endswith("_ads") or rng.random() < 0.1 else None,
                        space_id=p["space_id"],
                    )
                )
                touch_id += rng.choice([1, 1, 1, 7])
    rng.shuffle(touch_rows)
    insert(engine, schema.events, event_rows)
    insert(engine, schema.touchpoints, touch_rows)

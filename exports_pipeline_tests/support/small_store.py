"""A small store a hand can check: one Berlin space with three events (two on
2026-03-10 local time), touchpoints and an ad hierarchy; two more spaces elsewhere."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from exports_pipeline.store import schema

SPACE = "space-berlin"
EXPORT_DATE = dt.date(2026, 3, 10)
ATTRIBUTED = {
    "sources": ["facebook_ads", "email"],
    "attribution_model": "linear",
    "attribution_window": 30,
    "fields": ["event_name", "amount", "source", "ad_name", "campaign_name"],
}


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def seed_small_store(engine: sa.Engine) -> None:
    """One Berlin space; three events of which two fall on 2026-03-10 local time."""
    with engine.begin() as conn:
        conn.execute(
            sa.insert(schema.spaces),
            [
                {
                    "id": SPACE,
                    "name": "Berlin",
                    "timezone": "Europe/Berlin",
                    "subscription_active": True,
                },
                {
                    "id": "space-pago",
                    "name": "Pago Pago",
                    "timezone": "Pacific/Pago_Pago",
                    "subscription_active": True,
                },
                {
                    "id": "space-ny",
                    "name": "New York",
                    "timezone": "America/New_York",
                    "subscription_active": True,
                },
            ],
        )
        conn.execute(sa.insert(schema.companies), [{"id": "c1", "space_id": SPACE, "name": "C"}])
        conn.execute(
            sa.insert(schema.profiles),
            [
                {"id": "p1", "space_id": SPACE, "company_id": "c1"},
                {"id": "p2", "space_id": SPACE, "company_id": None},
            ],
        )
        conn.execute(
            sa.insert(schema.events),
            [
                {
                    "id": 1,
                    "space_id": SPACE,
                    "profile_id": "p1",
                    "company_id": "c1",
                    "event_name": "purchase",
                    "amount": 100,
                    "is_upsell": False,
                    "event_time_utc": _ts("2026-03-10 09:00:00"),
                    "order_id": "o1",
                    "order_name": None,
                    "event_url": None,
                },
                # 23:30 in Berlin: still 2026-03-10 there.
                {
                    "id": 2,
                    "space_id": SPACE,
                    "profile_id": "p2",
                    "company_id": None,
                    "event_name": "sign_up",
                    "amount": None,
                    "is_upsell": False,
                    "event_time_utc": _ts("2026-03-10 22:30:00"),
                    "order_id": None,
                    "order_name": None,
                    "event_url": None,
                },
                # 00:30 on 2026-03-11 in Berlin: not in the export.
                {
                    "id": 3,
                    "space_id": SPACE,
                    "profile_id": "p1",
                    "company_id": "c1",
                    "event_name": "purchase",
                    "amount": 50,
                    "is_upsell": False,
                    "event_time_utc": _ts("2026-03-10 23:30:00"),
                    "order_id": "o2",
                    "order_name": None,
                    "event_url": None,
                },
            ],
        )
        conn.execute(
            sa.insert(schema.touchpoints),
            [
                {
                    "id": 10,
                    "space_id": SPACE,
                    "profile_id": "p1",
                    "source": "facebook_ads",
                    "touch_time_utc": _ts("2026-03-09 10:00:00"),
                    "ad_id": "ad1",
                },
                {
                    "id": 11,
                    "space_id": SPACE,
                    "profile_id": "p1",
                    "source": "email",
                    "touch_time_utc": _ts("2026-03-10 08:00:00"),
                    "ad_id": None,
                },
                {
                    "id": 12,
                    "space_id": SPACE,
                    "profile_id": "p2",
                    "source": "email",
                    "touch_time_utc": _ts("2026-03-10 20:00:00"),
                    "ad_id": None,
                },
            ],
        )
        conn.execute(
            sa.insert(schema.ad_accounts),
            [
                {
                    "space_id": SPACE,
                    "account_id": "acc1",
                    "source": "facebook_ads",
                    "account_name": "Account",
                }
            ],
        )
        conn.execute(
            sa.insert(schema.campaigns),
            [
                {
                    "space_id": SPACE,
                    "campaign_id": "cmp1",
                    "account_id": "acc1",
                    "campaign_name": "Spring",
                }
            ],
        )
        conn.execute(
            sa.insert(schema.adsets),
            [{"space_id": SPACE, "adset_id": "as1", "campaign_id": "cmp1", "adset_name": "Set"}],
        )
        conn.execute(
            sa.insert(schema.ads),
            [{"space_id": SPACE, "ad_id": "ad1", "adset_id": "as1", "ad_name": "Ad One"}],
        )

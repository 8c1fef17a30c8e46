"""A deliberately simple, loop-by-loop implementation of SPEC section 4, to check the engine.

It reads whole tables with plain SQLAlchemy, walks every event and its journey in Python,
splits money with `Fraction`s, and writes each line by hand. It shares no code with the
engine beyond the vocabulary and the request model.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.store import schema

HIERARCHY = (
    "ad_id",
    "ad_name",
    "adset_id",
    "adset_name",
    "campaign_id",
    "campaign_name",
    "account_id",
    "account_name",
)


@dataclass
class Store:
    """Plain rows of every table of the events store (dicts keyed by column name)."""

    events: list[dict[str, Any]]
    touchpoints: list[dict[str, Any]]
    profiles: list[dict[str, Any]]
    event_configs: list[dict[str, Any]]
    ads: list[dict[str, Any]]
    adsets: list[dict[str, Any]]
    campaigns: list[dict[str, Any]]
    ad_accounts: list[dict[str, Any]]

    def __post_init__(self) -> None:
        # Plain look-up tables, so that walking every event stays quick.
        self.touches_of: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for t in self.touchpoints:
            self.touches_of.setdefault((t["space_id"], t["profile_id"]), []).append(t)
        self.members_of: dict[tuple[str, str | None], set[str]] = {}
        for p in self.profiles:
            self.members_of.setdefault((p["space_id"], p["company_id"]), set()).add(p["id"])
        self.level: dict[tuple[str, str, Any], dict[str, Any]] = {}
        for name, key in (
            ("ads", "ad_id"),
            ("adsets", "adset_id"),
            ("campaigns", "campaign_id"),
            ("ad_accounts", "account_id"),
        ):
            for row in getattr(self, name):
                self.level[(name, row["space_id"], row[key])] = row


def read_store(engine: sa.Engine) -> Store:
    tables = {}
    with engine.connect() as conn:
        for name in Store.__dataclass_fields__:
            table = schema.metadata.tables[name]
            tables[name] = [dict(r._mapping) for r in conn.execute(sa.select(table))]
    for event in tables["events"]:
        if event["amount"] is not None:
            # SQLite hands NUMERIC back as float; two decimals are what the store holds.
            event["amount"] = Decimal(str(event["amount"])).quantize(Decimal("0.01"))
        event["is_upsell"] = bool(event["is_upsell"])
    return Store(**tables)


def day_bounds(date: dt.date, timezone: str) -> tuple[dt.datetime, dt.datetime]:
    zone = ZoneInfo(timezone)

    def midnight(d: dt.date) -> dt.datetime:
        return dt.datetime(d.year, d.month, d.day, tzinfo=zone).astimezone(dt.UTC)

    return (
        midnight(date).replace(tzinfo=None),
        midnight(date + dt.timedelta(days=1)).replace(tzinfo=None),
    )


def decay_weight(event_time: dt.datetime, touch_time: dt.datetime, half_life_days: int) -> int:
    """SPEC 6.7: floor(2^32 · 2^(-Δ/h)) in float64, Δ in whole seconds, h in seconds."""
    delta = (event_time - touch_time) // dt.timedelta(seconds=1)
    return math.floor(2**32 * 2.0 ** -(delta / (half_life_days * 86400)))


Journey = list[dict[str, Any]]
# The credit of each touchpoint of a journey of at least one touch, from the SPEC tables.
Credit = Callable[[ExportRequest, Journey, dt.datetime], list[Fraction]]


def _only(n: int, i: int | None) -> list[Fraction]:
    """Position `i` (None: none) of n takes all."""
    return [Fraction(int(j == i)) for j in range(n)]


def _platform(request: ExportRequest, journey: Journey) -> list[int]:
    """Positions of paid touches of requested sources."""
    sources = request.sources or []
    return [i for i, t in enumerate(journey) if _paid(t) and t["source"] in sources]


def _paid(touch: dict[str, Any]) -> bool:
    return bool(touch["source"].endswith("_ads"))


def _first_touch(request: ExportRequest, journey: Journey, _: dt.datetime) -> list[Fraction]:
    return _only(len(journey), 0)


def _last_touch(request: ExportRequest, journey: Journey, _: dt.datetime) -> list[Fraction]:
    return _only(len(journey), len(journey) - 1)


def _last_non_direct_touch(
    request: ExportRequest, journey: Journey, _: dt.datetime
) -> list[Fraction]:
    non_direct = [i for i, t in enumerate(journey) if t["source"] != "direct"]
    return _only(len(journey), non_direct[-1] if non_direct else len(journey) - 1)


def _linear(request: ExportRequest, journey: Journey, _: dt.datetime) -> list[Fraction]:
    return [Fraction(1, len(journey))] * len(journey)


def _u_shaped(request: ExportRequest, journey: Journey, _: dt.datetime) -> list[Fraction]:
    n = len(journey)
    if n <= 2:
        return [Fraction(1, n)] * n
    return [Fraction(2, 5)] + [Fraction(1, 5 * (n - 2))] * (n - 2) + [Fraction(2, 5)]


def _first_platform_touch(
    request: ExportRequest, journey: Journey, _: dt.datetime
) -> list[Fraction]:
    platform = _platform(request, journey)
    return _only(len(journey), platform[0] if platform else None)


def _last_platform_touch(
    request: ExportRequest, journey: Journey, _: dt.datetime
) -> list[Fraction]:
    platform = _platform(request, journey)
    return _only(len(journey), platform[-1] if platform else None)


def _linear_paid(request: ExportRequest, journey: Journey, _: dt.datetime) -> list[Fraction]:
    paid = sum(map(_paid, journey))
    return [Fraction(1, paid) if _paid(t) else Fraction(0) for t in journey]


def _time_decay(
    request: ExportRequest, journey: Journey, event_time: dt.datetime
) -> list[Fraction]:
    half_life = request.attribution_half_life_days or 7
    weights = [decay_weight(event_time, t["touch_time_utc"], half_life) for t in journey]
    if sum(weights) == 0:
        weights[-1] = 1
    return [Fraction(w, sum(weights)) for w in weights]


def _position_based(request: ExportRequest, journey: Journey, _: dt.datetime) -> list[Fraction]:
    assert request.position_weights is not None
    first, last = request.position_weights
    n = len(journey)
    if n == 1:
        return [Fraction(1)]
    if n == 2:
        if first + last:
            return [Fraction(first, first + last), Fraction(last, first + last)]
        return [Fraction(1, 2)] * 2
    middle = Fraction(100 - first - last, 100 * (n - 2))
    return [Fraction(first, 100)] + [middle] * (n - 2) + [Fraction(last, 100)]


# One entry per model of the vocabulary (a test checks it), by its name.
CREDITS: dict[str, Credit] = {
    "first_touch": _first_touch,
    "last_touch": _last_touch,
    "linear": _linear,
    "first_platform_touch": _first_platform_touch,
    "last_platform_touch": _last_platform_touch,
    "linear_paid": _linear_paid,
    "u_shaped": _u_shaped,
    "last_non_direct_touch": _last_non_direct_touch,
    "time_decay": _time_decay,
    "position_based": _position_based,
}


def credits(request: ExportRequest, journey: Journey, event_time: dt.datetime) -> list[Fraction]:
    """The credit of each touchpoint of the journey, straight from the SPEC tables."""
    if not journey:
        return []
    assert request.attribution_model is not None
    return CREDITS[request.attribution_model](request, journey, event_time)


def split_cents(cents: int, credit: list[Fraction]) -> list[int]:
    """Largest remainder over the credited touchpoints, ties to the earlier one."""
    sign = -1 if cents < 0 else 1
    shares = [abs(cents) * c for c in credit]
    floors = [s.numerator // s.denominator for s in shares]
    left = abs(cents) - sum(floors)
    credited = [i for i, c in enumerate(credit) if c > 0]
    by_remainder = sorted(credited, key=lambda i: (-(shares[i] - floors[i]), i))
    for i in by_remainder[:left]:
        floors[i] += 1
    return [sign * f for f in floors]


def _hierarchy(store: Store, space_id: str, ad_id: str | None) -> dict[str, Any]:
    values: dict[str, Any] = dict.fromkeys(HIERARCHY)
    values["ad_id"] = ad_id
    ad = store.level.get(("ads", space_id, ad_id))
    if ad is None:
        return values
    values["ad_name"], values["adset_id"] = ad["ad_name"], ad["adset_id"]
    adset = store.level.get(("adsets", space_id, ad["adset_id"]))
    if adset is None:
        return values
    values["adset_name"], values["campaign_id"] = adset["adset_name"], adset["campaign_id"]
    campaign = store.level.get(("campaigns", space_id, adset["campaign_id"]))
    if campaign is None:
        return values
    values["campaign_name"] = campaign["campaign_name"]
    values["account_id"] = campaign["account_id"]
    account = store.level.get(("ad_accounts", space_id, campaign["account_id"]))
    if account is not None:
        values["account_name"] = account["account_name"]
    return values


def _configured_name(store: Store, event: dict[str, Any]) -> str:
    if event["event_name"].startswith("custom_event_"):
        for config in store.event_configs:
            if (config["space_id"], config["event_name"]) == (
                event["space_id"],
                event["event_name"],
            ):
                return config["configured_name"]
    return event["event_name"]


def export_rows(
    store: Store, space_id: str, timezone: str, request: ExportRequest
) -> list[list[tuple[str, Any]]]:
    """Every export row as (key, value) pairs in key order; amounts are `Decimal`s."""
    start, end = day_bounds(request.date, timezone)
    selected = [
        e
        for e in store.events
        if e["space_id"] == space_id
        and start <= e["event_time_utc"] < end
        and (request.event_names is None or e["event_name"] in request.event_names)
        and (request.query_mode == "profile" or e["company_id"] is not None)
    ]
    selected.sort(key=lambda e: (e["event_time_utc"], e["id"]))
    fields = request.fields or []
    keys = ["id", "event_time_utc"]
    if request.sources is not None:
        keys.append("touchpoint_id")
    if any(f in HIERARCHY for f in fields):
        keys.append("source")
    keys += [f for f in fields if f not in keys]

    rows = []
    for event in selected:
        if request.sources is None:
            rows.append(_row(store, keys, event, None, event["amount"]))
            continue
        if request.query_mode == "profile":
            members = {event["profile_id"]}
        else:
            members = store.members_of.get((space_id, event["company_id"]), set())
        window = dt.timedelta(days=request.attribution_window or 0)
        journey = [
            t
            for profile_id in members
            for t in store.touches_of.get((space_id, profile_id), [])
            if t["touch_time_utc"] <= event["event_time_utc"]
            and (not window or t["touch_time_utc"] >= event["event_time_utc"] - window)
        ]
        journey.sort(key=lambda t: (t["touch_time_utc"], t["id"]))
        assert request.attribution_model is not None
        credit = credits(request, journey, event["event_time_utc"])
        if event["amount"] is None:
            amounts: list[Decimal | None] = [None] * len(journey)
        else:
            cents = split_cents(int(event["amount"] * 100), credit)
            amounts = [Decimal(c) / 100 for c in cents]
        for touch, c, amount in zip(journey, credit, amounts, strict=True):
            if c > 0 and touch["source"] in request.sources:
                rows.append(_row(store, keys, event, touch, amount))
    return rows


def _row(
    store: Store,
    keys: list[str],
    event: dict[str, Any],
    touch: dict[str, Any] | None,
    amount: Decimal | None,
) -> list[tuple[str, Any]]:
    row = []
    for key in keys:
        if key == "touchpoint_id":
            value = touch["id"] if touch else None
        elif key == "source":
            value = touch["source"] if touch else None
        elif key in HIERARCHY:
            value = _hierarchy(store, event["space_id"], touch["ad_id"] if touch else None)[key]
        elif key == "amount":
            value = amount
        elif key == "configured_name":
            value = _configured_name(store, event)
        else:
            value = event[key]
        row.append((key, value))
    return row


def _json(value: Any) -> str:
    if isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond:06d}"
        return f'"{text}Z"'
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return json.dumps(value, ensure_ascii=False)


def ndjson(rows: list[list[tuple[str, Any]]]) -> str:
    """The rows as the text of an export file."""
    return "".join(
        "{" + ",".join(f"{json.dumps(k)}:{_json(v)}" for k, v in row) + "}\n" for row in rows
    )

"""Synthetic but realistic demo data for the events store (`exports-pipeline seed-demo`).

The same seed and end date always give the same rows (on a store holding no earlier
events or touchpoints: new ids continue after the largest ones already stored). The data
is shaped to exercise what exports must get right:
- spaces in DST-observing and odd-offset timezones (New York, Kolkata +05:30, Adelaide
  +09:30/+10:30, Berlin, Kiritimati +14, St. John's -03:30, Kathmandu +05:45, …);
- per profile a journey of 0-15 touchpoints up to 180 days before its last conversion,
  a few touchpoints at exactly an event's time and a few equal touch times (ties);
- paid (`*_ads`), organic, AI, email/SMS, referral, direct and other sources; each paid
  platform of a space has a full ad hierarchy (accounts → campaigns → ad sets → ads), with
  broken chains: an ad set whose campaign is missing, an ad whose ad set is missing,
  paid touchpoints with an unknown ad id or none;
- about half the profiles belong to a company (an event's `company_id` is its profile's);
- configured names for some custom events (and one for a standard event, which exports
  must ignore), null amounts for non-monetary events and a few negative refunds;
- event times spread uniformly over the `days` UTC days ending with `end_date`
  (default: yesterday, UTC), with millisecond precision.
Rows are written through the store's bulk insert, in one transaction.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import sqlalchemy as sa

from exports_pipeline.store import schema
from exports_pipeline.store.bulk_insert import LoadProgress, insert_tables
from exports_pipeline.store.columns import AMOUNT, TIMESTAMP
from exports_pipeline.store.table_files import LoadError, validate_frame
from exports_pipeline.vocabulary import AI_SOURCES, ORGANIC_SOURCES, OTHER_SOURCES, PLATFORMS

# (timezone, city): DST-observing and odd-offset zones first, so that even 3 spaces cover
# a DST zone, a +05:30 zone and a half-hour DST zone of the southern hemisphere.
SPACE_ZONES: tuple[tuple[str, str], ...] = (
    ("America/New_York", "New York"),
    ("Asia/Kolkata", "Kolkata"),
    ("Australia/Adelaide", "Adelaide"),
    ("Europe/Berlin", "Berlin"),
    ("Pacific/Kiritimati", "Kiritimati"),
    ("America/St_Johns", "St. John's"),
    ("Asia/Kathmandu", "Kathmandu"),
    ("America/Los_Angeles", "Los Angeles"),
    ("Pacific/Chatham", "Chatham"),
    ("UTC", "Greenwich"),
)

# (event name, share of events, monetary?)
EVENT_MIX: tuple[tuple[str, float, bool], ...] = (
    ("purchase", 0.22, True),
    ("add_to_cart", 0.14, False),
    ("view_content", 0.12, False),
    ("sign_up", 0.07, False),
    ("initiate_checkout", 0.06, False),
    ("lead_generated", 0.05, False),
    ("add_payment_info", 0.04, False),
    ("complete_registration", 0.04, False),
    ("subscribe", 0.04, True),
    ("start_trial", 0.03, False),
    ("upsell_purchase", 0.03, True),
    ("contact", 0.02, False),
    ("schedule", 0.02, False),
    ("submit_application", 0.015, False),
    ("webinar_registration", 0.015, False),
    ("custom_event_1", 0.03, True),
    ("custom_event_2", 0.02, False),
    ("custom_event_3", 0.015, False),
    ("custom_event_4", 0.01, False),
    ("custom_event_5", 0.01, False),
)
CONFIGURED_NAMES: dict[str, str] = {
    "custom_event_1": "Demo booked",
    "custom_event_2": 'Quote requested "B2B"',
    "custom_event_3": "Newsletter confirmed",
}
EVENT_URLS: dict[str, str] = {
    "purchase": "https://shop.example.com/checkout/thank-you",
    "upsell_purchase": "https://shop.example.com/checkout/upsell",
    "subscribe": "https://shop.example.com/subscribe/done",
    "add_to_cart": "https://shop.example.com/cart",
    "view_content": "https://shop.example.com/products/trail-runner?utm_source=demo",
    "sign_up": "https://app.example.com/signup",
}
ORDERED_EVENTS = frozenset({"purchase", "upsell_purchase", "subscribe"})

# Touchpoint source families and their shares.
FAMILY_SHARES: tuple[tuple[str, float], ...] = (
    ("paid", 0.40),
    ("organic", 0.17),
    ("ai", 0.06),
    ("email", 0.07),
    ("sms", 0.03),
    ("referral", 0.06),
    ("direct", 0.15),
    ("other", 0.06),
)
# The named sources of the "other" family; email, sms, referral and direct are families
# of their own.
OTHER_NAMED_SOURCES: tuple[str, ...] = tuple(
    source for source in OTHER_SOURCES if source not in ("email", "sms", "referral", "direct")
)
ALWAYS_PAID: tuple[str, ...] = ("facebook", "google")

CAMPAIGN_THEMES: tuple[str, ...] = (
    "Prospecting",
    'Retargeting "Cart", EU',
    "Brand search",
    "Black Friday",
    "Été 🌞 Summer sale",
    "Lookalike 1%",
    "Spring launch",
    "Always-on",
)
AUDIENCES: tuple[str, ...] = ("Women 25-34", "Men 35-44", "Interest: running", "All, US+CA")
CREATIVES: tuple[str, ...] = ("Video 15s", "Carousel", "Static, blue", "UGC testimonial")
COMPANY_WORDS: tuple[str, ...] = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Hooli",
)
COMPANY_SUFFIXES: tuple[str, ...] = ("Inc.", "GmbH", "Pvt Ltd", "Pty Ltd", "LLC", "& Söhne")

MAX_JOURNEY = 15
JOURNEY_DAYS = 180


@dataclass(frozen=True)
class DemoSpace:
    id: str
    name: str
    timezone: str
    subscription_active: bool


@dataclass
class DemoSummary:
    """What `seed_demo` wrote: its spaces, rows per table, the event window, the time taken."""

    spaces: list[DemoSpace]
    rows: dict[str, int] = field(default_factory=dict)
    first_day: dt.date | None = None
    last_day: dt.date | None = None
    seconds: float = 0.0


def seed_demo(
    engine: sa.Engine,
    *,
    events: int = 20_000,
    days: int = 7,
    spaces: int = 3,
    seed: int = 0,
    progress: LoadProgress | None = None,
    end_date: dt.date | None = None,
) -> DemoSummary:
    """Write `events` demo events of `spaces` spaces over the `days` UTC days ending
    `end_date` (default yesterday, UTC), with their profiles, companies, touchpoints,
    ad hierarchies and event configs, in one transaction. Deterministic by `seed`.

    Space ids are `demo-1` … `demo-K`; seeding a store that already holds them raises
    `LoadError` and writes nothing.
    """
    started = time.perf_counter()
    last_day = end_date or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    demo_spaces = _spaces(spaces)
    with engine.begin() as conn:
        taken = conn.execute(
            sa.select(schema.spaces.c.id).where(schema.spaces.c.id.in_([s.id for s in demo_spaces]))
        ).scalars()
        if clash := sorted(taken):
            raise LoadError(
                "demo spaces",
                f"the store already holds {', '.join(clash)}; seed demo data into a store "
                "without them",
            )
        tables = demo_tables(
            events=events,
            days=days,
            spaces=spaces,
            seed=seed,
            end_date=last_day,
            first_event_id=_next_id(conn, schema.events),
            first_touchpoint_id=_next_id(conn, schema.touchpoints),
            progress=progress,
        )
        frames = [(schema.metadata.tables[name], frame, name) for name, frame in tables.items()]
        rows = insert_tables(conn, frames, progress=progress)
    return DemoSummary(
        spaces=demo_spaces,
        rows=rows,
        first_day=last_day - dt.timedelta(days=days - 1),
        last_day=last_day,
        seconds=time.perf_counter() - started,
    )


def _next_id(conn: sa.Connection, table: sa.Table) -> int:
    return (conn.execute(sa.select(sa.func.max(table.c.id))).scalar() or 0) + 1


def demo_tables(
    *,
    events: int,
    days: int,
    spaces: int,
    seed: int,
    end_date: dt.date,
    first_event_id: int = 1,
    first_touchpoint_id: int = 1,
    progress: LoadProgress | None = None,
) -> dict[str, pl.DataFrame]:
    """The demo rows of every SPEC section 3 table, validated and in the loader's types.

    A pure function of its arguments: the same arguments give the same frames.
    """
    if events < 0 or days < 1 or spaces < 1:
        raise ValueError("events must be >= 0, days >= 1 and spaces >= 1")
    first_day = end_date - dt.timedelta(days=days - 1)
    rng = np.random.default_rng(seed)
    demo_spaces = _spaces(spaces)
    weights = np.array([1 / (k + 1) for k in range(spaces)])
    per_space = rng.multinomial(events, weights / weights.sum())
    task = progress.add_task("generating", total=spaces) if progress is not None else None
    parts: dict[str, list[pl.DataFrame]] = {table.name: [] for table in schema.EVENTS_STORE_TABLES}
    for number, (space, count) in enumerate(zip(demo_spaces, per_space, strict=True)):
        generated = _generate_space(rng, number, space, int(count), first_day, days)
        for name, frame in generated.items():
            parts[name].append(frame)
        if progress is not None and task is not None:
            progress.advance(task)
    tables = {}
    for table in schema.EVENTS_STORE_TABLES:
        frame = pl.concat(parts[table.name], how="vertical")
        if table is schema.events:
            frame = _with_ids(frame, "event_time_utc", first_event_id)
        elif table is schema.touchpoints:
            frame = _with_ids(frame, "touch_time_utc", first_touchpoint_id)
        tables[table.name] = validate_frame(table, frame, f"demo {table.name}")
    return tables


def _spaces(count: int) -> list[DemoSpace]:
    result = []
    for k in range(count):
        timezone, city = SPACE_ZONES[k % len(SPACE_ZONES)]
        lap = k // len(SPACE_ZONES)
        name = f"Demo {city}" + (f" {lap + 1}" if lap else "")
        # With four spaces or more, the last one has no active subscription (403 paths).
        active = not (count >= 4 and k == count - 1)
        result.append(DemoSpace(f"demo-{k + 1}", name, timezone, active))
    return result


def _with_ids(frame: pl.DataFrame, time_column: str, first_id: int) -> pl.DataFrame:
    """Ids that grow with time, as a tracker would hand them out."""
    return (
        frame.sort(time_column, "space_id", "profile_id", "_seq")
        .with_columns((pl.int_range(0, pl.len(), dtype=pl.Int64) + first_id).alias("id"))
        .drop("_seq")
    )


def _generate_space(
    rng: np.random.Generator,
    number: int,
    space: DemoSpace,
    event_count: int,
    first_day: dt.date,
    days: int,
) -> dict[str, pl.DataFrame]:
    window_start = dt.datetime.combine(first_day, dt.time())
    platforms = _paid_platforms(rng)
    hierarchy = _ad_hierarchy(rng, space, platforms)
    profile_count = max(1, math.ceil(event_count * 0.7))
    company_count = max(1, profile_count // 6)

    companies = pl.DataFrame(
        {
            "id": [f"{space.id}-c{i}" for i in range(company_count)],
            "space_id": space.id,
            "name": [
                f"{COMPANY_WORDS[i % len(COMPANY_WORDS)]} {i} "
                f"{COMPANY_SUFFIXES[i % len(COMPANY_SUFFIXES)]}"
                for i in range(company_count)
            ],
        }
    )
    in_company = rng.random(profile_count) < 0.5
    company_of = rng.integers(0, company_count, profile_count)
    profiles = pl.DataFrame(
        {
            "_index": np.arange(profile_count),
            "_company": np.where(in_company, company_of, -1),
        }
    ).select(
        pl.format("{}-p{}", pl.lit(space.id), pl.col("_index")).alias("id"),
        pl.lit(space.id).alias("space_id"),
        pl.when(pl.col("_company") >= 0)
        .then(pl.format("{}-c{}", pl.lit(space.id), pl.col("_company")))
        .alias("company_id"),
    )

    events = _events(rng, number, space, event_count, profile_count, window_start, days)
    events = events.join(
        profiles.select(pl.col("id").alias("profile_id"), "company_id"),
        on="profile_id",
        maintain_order="left",
    )
    touchpoints = _touchpoints(
        rng, space, profiles, events, platforms, hierarchy, window_start, days
    )
    event_configs = pl.DataFrame(
        {
            "space_id": space.id,
            "event_name": list(CONFIGURED_NAMES) + (["purchase"] if number == 0 else []),
            "configured_name": list(CONFIGURED_NAMES.values())
            + (["Order placed"] if number == 0 else []),
        }
    )
    spaces = pl.DataFrame(
        [
            {
                "id": space.id,
                "name": space.name,
                "timezone": space.timezone,
                "subscription_active": space.subscription_active,
            }
        ]
    )
    return {
        "spaces": spaces,
        "companies": companies,
        "profiles": profiles,
        "event_configs": event_configs,
        "events": events,
        "touchpoints": touchpoints,
        **hierarchy,
    }


def _paid_platforms(rng: np.random.Generator) -> list[str]:
    others = [p for p in PLATFORMS if p not in ALWAYS_PAID]
    extra = rng.choice(len(others), size=int(rng.integers(2, 5)), replace=False)
    return [*ALWAYS_PAID, *(others[i] for i in sorted(extra))]


def _ad_hierarchy(
    rng: np.random.Generator, space: DemoSpace, platforms: list[str]
) -> dict[str, pl.DataFrame]:
    accounts, campaigns, adsets, ads = [], [], [], []
    for platform in platforms:
        label = platform.capitalize()
        for a in range(int(rng.integers(1, 3))):
            account_id = f"{platform}-act-{a + 1}"
            accounts.append(
                (space.id, account_id, f"{platform}_ads", f"{space.name} · {label} {a + 1}")
            )
            for c in range(int(rng.integers(2, 5))):
                campaign_id = f"{account_id}-cmp-{c + 1}"
                theme = CAMPAIGN_THEMES[int(rng.integers(len(CAMPAIGN_THEMES)))]
                campaigns.append((space.id, campaign_id, account_id, f"{theme} {c + 1}"))
                for s in range(int(rng.integers(2, 4))):
                    adset_id = f"{campaign_id}-set-{s + 1}"
                    audience = AUDIENCES[int(rng.integers(len(AUDIENCES)))]
                    adsets.append((space.id, adset_id, campaign_id, audience))
                    for d in range(int(rng.integers(2, 4))):
                        creative = CREATIVES[int(rng.integers(len(CREATIVES)))]
                        ads.append(
                            (space.id, f"{adset_id}-ad-{d + 1}", adset_id, f"{creative} v{d + 1}")
                        )
        # Broken chains: an ad set of a deleted campaign, an ad of a deleted ad set.
        orphan_set = f"{platform}-set-orphan"
        adsets.append((space.id, orphan_set, f"{platform}-cmp-deleted", "Orphaned ad set"))
        ads.append((space.id, f"{orphan_set}-ad-1", orphan_set, "Ad of an orphaned ad set"))
        ads.append((space.id, f"{platform}-ad-orphan", f"{platform}-set-deleted", "Orphaned ad"))
    return {
        "ad_accounts": pl.DataFrame(
            accounts, schema=["space_id", "account_id", "source", "account_name"], orient="row"
        ),
        "campaigns": pl.DataFrame(
            campaigns,
            schema=["space_id", "campaign_id", "account_id", "campaign_name"],
            orient="row",
        ),
        "adsets": pl.DataFrame(
            adsets, schema=["space_id", "adset_id", "campaign_id", "adset_name"], orient="row"
        ),
        "ads": pl.DataFrame(ads, schema=["space_id", "ad_id", "adset_id", "ad_name"], orient="row"),
    }


def _events(
    rng: np.random.Generator,
    number: int,
    space: DemoSpace,
    count: int,
    profile_count: int,
    window_start: dt.datetime,
    days: int,
) -> pl.DataFrame:
    names = [name for name, _, _ in EVENT_MIX]
    shares = np.array([share for _, share, _ in EVENT_MIX])
    name_index = rng.choice(len(names), size=count, p=shares / shares.sum())
    monetary = np.array([money for _, _, money in EVENT_MIX])[name_index]
    # A few profiles convert often, most once or twice.
    profile_index = np.floor(profile_count * rng.random(count) ** 1.4).astype(np.int64)
    offset_ms = rng.integers(0, days * 86_400_000, count)
    cents = np.round(np.exp(rng.normal(math.log(6_000), 0.9, count))).astype(np.int64) + 100
    refund = rng.random(count) < 0.02
    cents = np.where(refund, -cents, cents)
    upsell_purchase = rng.random(count) < 0.08
    has_url = rng.random(count) < 0.8
    order_number = rng.permutation(count) + 1001
    frame = pl.DataFrame(
        {
            "_seq": np.arange(count),
            "_name": name_index,
            "_monetary": monetary,
            "_profile": profile_index,
            "_offset_ms": offset_ms,
            "_cents": cents,
            "_upsell": upsell_purchase,
            "_has_url": has_url,
            "_order": order_number,
        },
        schema_overrides={"_name": pl.UInt32},
    )
    event_name = pl.col("_name").replace_strict(
        list(range(len(names))), names, return_dtype=pl.String
    )
    url = event_name.replace_strict(EVENT_URLS, default=None, return_dtype=pl.String)
    ordered = event_name.is_in(sorted(ORDERED_EVENTS))
    return frame.with_columns(event_name.alias("event_name")).select(
        "_seq",
        pl.lit(space.id).alias("space_id"),
        pl.format("{}-p{}", pl.lit(space.id), pl.col("_profile")).alias("profile_id"),
        "event_name",
        pl.when(pl.col("_monetary"))
        .then((pl.col("_cents").cast(pl.Decimal(16, 2)) / 100).cast(AMOUNT))
        .alias("amount"),
        (
            (pl.col("event_name") == "upsell_purchase")
            | ((pl.col("event_name") == "purchase") & pl.col("_upsell"))
        ).alias("is_upsell"),
        (
            pl.lit(window_start).cast(TIMESTAMP) + pl.duration(milliseconds=pl.col("_offset_ms"))
        ).alias("event_time_utc"),
        pl.when(ordered)
        .then(pl.format("ord-{}-{}", pl.lit(number + 1), pl.col("_order")))
        .alias("order_id"),
        pl.when(ordered).then(pl.format("#{}", pl.col("_order"))).alias("order_name"),
        pl.when(pl.col("_has_url")).then(url).alias("event_url"),
    )


def _source_table(rng: np.random.Generator, platforms: list[str]) -> tuple[list[str], np.ndarray]:
    """Every source a space's touchpoints use, with its probability."""
    sources: list[str] = []
    probabilities: list[float] = []
    family_share = dict(FAMILY_SHARES)

    def spread(names: list[str], share: float, skew: float) -> None:
        weights = np.array([skew**-i for i in range(len(names))])
        sources.extend(names)
        probabilities.extend(share * weights / weights.sum())

    spread([f"{p}_ads" for p in platforms], family_share["paid"], 1.6)
    organic = list(ORGANIC_SOURCES)
    rng.shuffle(organic)
    spread(
        [
            "google_organic",
            "facebook_organic",
            *[s for s in organic if s not in ("google_organic", "facebook_organic")],
        ],
        family_share["organic"],
        1.4,
    )
    spread(list(AI_SOURCES), family_share["ai"], 1.5)
    spread(["email"], family_share["email"], 1)
    spread(["sms"], family_share["sms"], 1)
    spread(["referral"], family_share["referral"], 1)
    spread(["direct"], family_share["direct"], 1)
    spread(list(OTHER_NAMED_SOURCES), family_share["other"], 1.3)
    p = np.array(probabilities)
    return sources, p / p.sum()


def _touchpoints(
    rng: np.random.Generator,
    space: DemoSpace,
    profiles: pl.DataFrame,
    events: pl.DataFrame,
    platforms: list[str],
    hierarchy: dict[str, pl.DataFrame],
    window_start: dt.datetime,
    days: int,
) -> pl.DataFrame:
    profile_count = profiles.height
    start = pl.lit(window_start).cast(TIMESTAMP)
    # The profile's last conversion anchors its journey; visitors who never converted
    # get an anchor somewhere in the window.
    anchor = (
        profiles.select(pl.col("id").alias("profile_id"))
        .with_columns(pl.Series("_fallback_ms", rng.integers(0, days * 86_400_000, profile_count)))
        .join(
            events.group_by("profile_id").agg(pl.col("event_time_utc").max().alias("_last")),
            on="profile_id",
            how="left",
            maintain_order="left",
        )
        .select(
            pl.coalesce("_last", start + pl.duration(milliseconds=pl.col("_fallback_ms")))
            .dt.truncate("1s")
            .alias("_anchor")
        )["_anchor"]
    )
    journey = rng.binomial(MAX_JOURNEY, 0.38, profile_count)
    journey = np.where(rng.random(profile_count) < 0.12, 0, journey)
    owner = np.repeat(np.arange(profile_count), journey)
    total = int(owner.size)
    # Skewed towards the conversion: most touches in the last weeks, a tail to 180 days.
    before_s = np.floor(JOURNEY_DAYS * 86_400 * rng.random(total) ** 2.5).astype(np.int64)

    sources, probabilities = _source_table(rng, platforms)
    source_index = rng.choice(len(sources), size=total, p=probabilities)
    roll = rng.random(total)
    pick = rng.random(total)

    # Paid touches point at a random ad of their platform, a few at none or an unknown one.
    ads = hierarchy["ads"]["ad_id"]
    ad_platform = ads.str.extract(r"^([a-z]+)-", 1)
    ad_start = {p: int(ad_platform.eq(p).arg_true()[0]) for p in platforms}
    ad_count = {p: int(ad_platform.eq(p).sum()) for p in platforms}
    platform_of = np.array(
        [platforms.index(s.removesuffix("_ads")) if s.endswith("_ads") else -1 for s in sources]
    )[source_index]
    paid = platform_of >= 0
    first = np.array([ad_start[p] for p in platforms] + [0])[platform_of]
    length = np.array([ad_count[p] for p in platforms] + [1])[platform_of]
    chosen = first + np.floor(pick * length).astype(np.int64)
    platform_names = pl.Series([*platforms, ""]).gather(platform_of)
    ad_id = (
        pl.DataFrame(
            {
                "_paid": paid,
                "_roll": roll,
                "_chosen": ads.gather(chosen),
                "_platform": platform_names,
                "_unknown": np.floor(pick * 1000).astype(np.int64),
            }
        )
        .select(
            pl.when(~pl.col("_paid") | (pl.col("_roll") < 0.03))
            .then(None)
            .when(pl.col("_roll") < 0.06)
            .then(pl.format("{}-ad-unknown-{}", "_platform", "_unknown"))
            .otherwise(pl.col("_chosen"))
            .alias("ad_id")
        )
        .to_series()
    )
    touches = pl.DataFrame(
        {"_seq": np.arange(total), "_owner": owner, "_before_s": before_s}
    ).select(
        "_seq",
        pl.lit(space.id).alias("space_id"),
        pl.format("{}-p{}", pl.lit(space.id), pl.col("_owner")).alias("profile_id"),
        pl.Series("source", sources).gather(source_index),
        (anchor.gather(owner) - pl.duration(seconds=pl.col("_before_s"))).alias("touch_time_utc"),
        ad_id,
    )
    # Ties: some touches share the time of the profile's previous touch.
    touches = touches.sort("profile_id", "touch_time_utc", "_seq").with_columns(
        pl.when(
            (pl.Series(rng.random(total)) < 0.02)
            & (pl.col("profile_id") == pl.col("profile_id").shift(1))
        )
        .then(pl.col("touch_time_utc").shift(1))
        .otherwise(pl.col("touch_time_utc"))
        .alias("touch_time_utc")
    )
    # Touches at exactly an event's time (the `<=` boundary of a journey).
    exact = (
        events.sort("_seq")
        .filter(pl.Series(rng.random(events.height)) < 0.01)
        .select(
            pl.col("_seq") + total,
            "space_id",
            "profile_id",
            pl.lit("direct").alias("source"),
            pl.col("event_time_utc").alias("touch_time_utc"),
            pl.lit(None, dtype=pl.String).alias("ad_id"),
        )
    )
    # Keep every journey within MAX_JOURNEY touches, also with the exact-time ones added.
    return (
        pl.concat([touches, exact])
        .sort("profile_id", "touch_time_utc", "_seq")
        .filter(pl.int_range(0, pl.len()).over("profile_id") < MAX_JOURNEY)
    )

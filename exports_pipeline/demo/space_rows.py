"""The rows of one demo space: companies, profiles, ad hierarchies, events, touchpoints,
event configs, drawn from one random generator."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

from exports_pipeline.demo.catalog import (
    ALWAYS_PAID,
    AUDIENCES,
    CAMPAIGN_THEMES,
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    CONFIGURED_NAMES,
    CREATIVES,
    EVENT_MIX,
    EVENT_URLS,
    FAMILY_SHARES,
    JOURNEY_DAYS,
    MAX_JOURNEY,
    ORDERED_EVENTS,
    OTHER_NAMED_SOURCES,
    DemoSpace,
)
from exports_pipeline.store.columns import AMOUNT, TIMESTAMP
from exports_pipeline.vocabulary import AI_SOURCES, ORGANIC_SOURCES, PLATFORMS


def space_tables(
    rng: np.random.Generator,
    number: int,
    space: DemoSpace,
    event_count: int,
    first_day: dt.date,
    days: int,
) -> dict[str, pl.DataFrame]:
    """The rows of demo space `number` (`event_count` events over `days` days from
    `first_day`), table by table; events and touchpoints keep their `_seq` column."""
    window_start = dt.datetime.combine(first_day, dt.time())
    platforms = _paid_platforms(rng)
    hierarchy = _ad_hierarchy(rng, space, platforms)
    profile_count = max(1, math.ceil(event_count * 0.7))
    company_count = max(1, profile_count // 6)
    profiles = _profiles(rng, space, profile_count, company_count)
    events = _events(rng, number, space, event_count, profile_count, window_start, days)
    events = events.join(
        profiles.select(pl.col("id").alias("profile_id"), "company_id"),
        on="profile_id",
        maintain_order="left",
    )
    touchpoints = _touchpoints(
        rng, space, profiles, events, platforms, hierarchy, window_start, days
    )
    return {
        "spaces": _space_row(space),
        "companies": _companies(space, company_count),
        "profiles": profiles,
        "event_configs": _event_configs(space, number),
        "events": events,
        "touchpoints": touchpoints,
        **hierarchy,
    }


def _space_row(space: DemoSpace) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "id": space.id,
                "name": space.name,
                "timezone": space.timezone,
                "subscription_active": space.subscription_active,
            }
        ]
    )


def _companies(space: DemoSpace, company_count: int) -> pl.DataFrame:
    return pl.DataFrame(
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


def _profiles(
    rng: np.random.Generator, space: DemoSpace, profile_count: int, company_count: int
) -> pl.DataFrame:
    """About half the profiles belong to a company."""
    in_company = rng.random(profile_count) < 0.5
    company_of = rng.integers(0, company_count, profile_count)
    return pl.DataFrame(
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


def _event_configs(space: DemoSpace, number: int) -> pl.DataFrame:
    """The configured names of custom events; the first space also names a standard event."""
    return pl.DataFrame(
        {
            "space_id": space.id,
            "event_name": list(CONFIGURED_NAMES) + (["purchase"] if number == 0 else []),
            "configured_name": list(CONFIGURED_NAMES.values())
            + (["Order placed"] if number == 0 else []),
        }
    )


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
    frame = _event_draws(rng, names, count, profile_count, days)
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


def _event_draws(
    rng: np.random.Generator, names: list[str], count: int, profile_count: int, days: int
) -> pl.DataFrame:
    """The random parts of `count` events, one row each: the index of its name in `names`
    (drawn by `EVENT_MIX`'s shares), its profile, time offset, amount and flags."""
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
    return pl.DataFrame(
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
    """Each profile's journey of touchpoints before its anchor, with ties and touches at
    exactly an event's time, at most `MAX_JOURNEY` a profile."""
    anchor = _journey_anchors(rng, profiles, events, window_start, days)
    owner = _journey_owners(rng, profiles.height)
    total = int(owner.size)
    # Skewed towards the conversion: most touches in the last weeks, a tail to 180 days.
    before_s = np.floor(JOURNEY_DAYS * 86_400 * rng.random(total) ** 2.5).astype(np.int64)

    sources, probabilities = _source_table(rng, platforms)
    source_index = rng.choice(len(sources), size=total, p=probabilities)
    ad_id = _touch_ad_ids(rng, hierarchy["ads"]["ad_id"], platforms, sources, source_index)
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
    touches = _with_ties(rng, touches)
    exact = _exact_time_touches(rng, events, first_seq=total)
    # Keep every journey within MAX_JOURNEY touches, also with the exact-time ones added.
    return (
        pl.concat([touches, exact])
        .sort("profile_id", "touch_time_utc", "_seq")
        .filter(pl.int_range(0, pl.len()).over("profile_id") < MAX_JOURNEY)
    )


def _journey_anchors(
    rng: np.random.Generator,
    profiles: pl.DataFrame,
    events: pl.DataFrame,
    window_start: dt.datetime,
    days: int,
) -> pl.Series:
    """The time each profile's journey ends, to the second, in the order of `profiles`."""
    start = pl.lit(window_start).cast(TIMESTAMP)
    fallback_ms = rng.integers(0, days * 86_400_000, profiles.height)
    # The profile's last conversion anchors its journey; visitors who never converted
    # get an anchor somewhere in the window.
    return (
        profiles.select(pl.col("id").alias("profile_id"))
        .with_columns(pl.Series("_fallback_ms", fallback_ms))
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


def _journey_owners(rng: np.random.Generator, profile_count: int) -> np.ndarray:
    """The profile index of every touch: each profile repeated its journey's length times
    (0 to `MAX_JOURNEY`; about one profile in eight has none)."""
    journey = rng.binomial(MAX_JOURNEY, 0.38, profile_count)
    journey = np.where(rng.random(profile_count) < 0.12, 0, journey)
    return np.repeat(np.arange(profile_count), journey)


def _touch_ad_ids(
    rng: np.random.Generator,
    ads: pl.Series,
    platforms: list[str],
    sources: list[str],
    source_index: np.ndarray,
) -> pl.Series:
    """The `ad_id` of every touch (its source is `sources[source_index]`)."""
    roll = rng.random(source_index.size)
    pick = rng.random(source_index.size)
    # Paid touches point at a random ad of their platform, a few at none or an unknown one.
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
    return (
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


def _with_ties(rng: np.random.Generator, touches: pl.DataFrame) -> pl.DataFrame:
    """`touches` sorted by profile and time; some share the time of the profile's previous
    touch."""
    return touches.sort("profile_id", "touch_time_utc", "_seq").with_columns(
        pl.when(
            (pl.Series(rng.random(touches.height)) < 0.02)
            & (pl.col("profile_id") == pl.col("profile_id").shift(1))
        )
        .then(pl.col("touch_time_utc").shift(1))
        .otherwise(pl.col("touch_time_utc"))
        .alias("touch_time_utc")
    )


def _exact_time_touches(
    rng: np.random.Generator, events: pl.DataFrame, *, first_seq: int
) -> pl.DataFrame:
    """Direct touches at exactly the time of about 1 % of the events (the `<=` boundary of a
    journey), numbered from `first_seq`."""
    return (
        events.sort("_seq")
        .filter(pl.Series(rng.random(events.height)) < 0.01)
        .select(
            pl.col("_seq") + first_seq,
            "space_id",
            "profile_id",
            pl.lit("direct").alias("source"),
            pl.col("event_time_utc").alias("touch_time_utc"),
            pl.lit(None, dtype=pl.String).alias("ad_id"),
        )
    )

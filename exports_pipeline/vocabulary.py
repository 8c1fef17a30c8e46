"""The closed vocabularies of an export request: event names, sources, models, fields."""

from __future__ import annotations

from typing import Literal, get_args

STANDARD_EVENT_NAMES: tuple[str, ...] = (
    "add_payment_info",
    "add_to_cart",
    "complete_registration",
    "contact",
    "initiate_checkout",
    "lead_generated",
    "purchase",
    "schedule",
    "sign_up",
    "start_trial",
    "submit_application",
    "subscribe",
    "upsell_purchase",
    "view_content",
    "webinar_registration",
)
CUSTOM_EVENT_NAMES: tuple[str, ...] = tuple(f"custom_event_{i}" for i in range(1, 51))
EVENT_NAMES: frozenset[str] = frozenset(STANDARD_EVENT_NAMES + CUSTOM_EVENT_NAMES)

PLATFORMS: tuple[str, ...] = (
    "facebook",
    "google",
    "linkedin",
    "tiktok",
    "youtube",
    "instagram",
    "bing",
    "yahoo",
    "pinterest",
    "reddit",
    "snapchat",
    "telegram",
    "twitch",
    "x",
    "quora",
    "duckduckgo",
)
PAID_SOURCES: tuple[str, ...] = tuple(f"{p}_ads" for p in PLATFORMS)
ORGANIC_SOURCES: tuple[str, ...] = (
    *(f"{p}_organic" for p in PLATFORMS),
    "messenger_organic",
    "brave_organic",
    "threads_organic",
)
AI_SOURCES: tuple[str, ...] = (
    "ai_chat_gpt",
    "ai_perplexity",
    "ai_copilot",
    "ai_claude",
    "ai_grok",
    "ai_gemini",
    "ai_deepseek",
)
OTHER_SOURCES: tuple[str, ...] = (
    "email",
    "sms",
    "referral",
    "direct",
    "shop_app",
    "substack",
    "capterra",
    "trustpilot",
    "g2",
    "yelp",
)
SOURCES: tuple[str, ...] = PAID_SOURCES + ORGANIC_SOURCES + AI_SOURCES + OTHER_SOURCES
SOURCE_SET: frozenset[str] = frozenset(SOURCES)


def is_paid(source: str) -> bool:
    """A paid source is one of the 16 `*_ads` platforms."""
    return source.endswith("_ads")


# The models' names; each is one object of `engine.models.MODELS`, which knows the rest of
# it (its parameters, whether it needs paid sources, its credit).
ATTRIBUTION_MODELS: tuple[str, ...] = (
    "first_touch",
    "last_touch",
    "linear",
    "first_platform_touch",
    "last_platform_touch",
    "linear_paid",
    "u_shaped",
    "last_non_direct_touch",
    "time_decay",
    "position_based",
)
ATTRIBUTION_WINDOWS: tuple[int, ...] = (0, 1, 7, 14, 30, 60, 90)
HALF_LIFE_DAYS = range(1, 31)
DEFAULT_HALF_LIFE_DAYS = 7
QueryMode = Literal["profile", "company"]
QUERY_MODES: tuple[str, ...] = get_args(QueryMode)

AD_HIERARCHY_FIELDS: tuple[str, ...] = (
    "ad_id",
    "ad_name",
    "adset_id",
    "adset_name",
    "campaign_id",
    "campaign_name",
    "account_id",
    "account_name",
)
EXPORT_FIELDS: tuple[str, ...] = (
    "profile_id",
    "company_id",
    "space_id",
    "event_name",
    "configured_name",
    "amount",
    "is_upsell",
    *AD_HIERARCHY_FIELDS,
    "order_id",
    "order_name",
    "event_url",
    "id",
    "event_time_utc",
    "touchpoint_id",
    "source",
)
ATTRIBUTION_ONLY_FIELDS: frozenset[str] = frozenset(
    (*AD_HIERARCHY_FIELDS, "touchpoint_id", "source")
)

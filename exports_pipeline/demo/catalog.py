"""What the demo data is made of: spaces and their timezones, the event mix, source
families, ad and company names, journey bounds."""

from __future__ import annotations

from dataclasses import dataclass

from exports_pipeline.vocabulary import OTHER_SOURCES

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


def make_spaces(count: int) -> list[DemoSpace]:
    result = []
    for k in range(count):
        timezone, city = SPACE_ZONES[k % len(SPACE_ZONES)]
        lap = k // len(SPACE_ZONES)
        name = f"Demo {city}" + (f" {lap + 1}" if lap else "")
        # With four spaces or more, the last one has no active subscription (403 paths).
        active = not (count >= 4 and k == count - 1)
        result.append(DemoSpace(f"demo-{k + 1}", name, timezone, active))
    return result

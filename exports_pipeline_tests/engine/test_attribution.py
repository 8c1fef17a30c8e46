"""Journeys, credit by every model (SPEC 4 and 6.7) and exact-cent splits follow the SPEC."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from exports_pipeline.engine.attribution import split_attribution
from exports_pipeline.engine.plan import output_columns
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline_tests.support import oracle
from exports_pipeline_tests.support.frames import (
    EVENT_TIME,
    events_frame,
    touches,
    touchpoints_frame,
)

D = dt.timedelta(days=1)
H = dt.timedelta(hours=1)
US = dt.timedelta(microseconds=1)
ALL = ["google_ads", "facebook_ads", "tiktok_ads", "google_organic", "email", "direct"]
THREE = touches((1, 3 * D, "google_ads"), (2, 2 * D, "email"), (3, 1 * D, "direct"))

# (case, model, window, sources, amount, touchpoints of p1, expected (touchpoint_id, amount))
CASES = [
    ("first touch", "first_touch", 0, ALL, "10.00", THREE, [(1, "10.00")]),
    ("first touch not requested", "first_touch", 0, ["email"], "10.00", THREE, []),
    (
        "first touch tie on time: lower id first",
        "first_touch",
        0,
        ALL,
        "10.00",
        touches((7, D, "email"), (5, D, "direct")),
        [(5, "10.00")],
    ),
    ("last touch", "last_touch", 0, ALL, "10.00", THREE, [(3, "10.00")]),
    (
        "last touch exactly at the event time counts",
        "last_touch",
        0,
        ALL,
        "10.00",
        touches((1, D, "email"), (2, dt.timedelta(0), "direct")),
        [(2, "10.00")],
    ),
    (
        "a touch after the event is not in J",
        "last_touch",
        0,
        ALL,
        "10.00",
        touches((1, D, "email"), (2, -US, "direct")),
        [(1, "10.00")],
    ),
    (
        "last touch tie on time: higher id last",
        "last_touch",
        0,
        ALL,
        "10.00",
        touches((9, H, "email"), (4, H, "direct")),
        [(9, "10.00")],
    ),
    ("linear", "linear", 0, ALL, "10.00", THREE, [(1, "3.34"), (2, "3.33"), (3, "3.33")]),
    ("linear, one source exported", "linear", 0, ["email"], "10.00", THREE, [(2, "3.33")]),
    ("linear one cent", "linear", 0, ALL, "0.01", THREE, [(1, "0.01"), (2, "0.00"), (3, "0.00")]),
    (
        "linear negative: split on the absolute value",
        "linear",
        0,
        ALL,
        "-10.00",
        THREE,
        [(1, "-3.34"), (2, "-3.33"), (3, "-3.33")],
    ),
    ("linear null amount", "linear", 0, ALL, None, THREE, [(1, None), (2, None), (3, None)]),
    (
        "linear two cents over three: the earlier ones",
        "linear",
        0,
        ALL,
        "0.02",
        THREE,
        [(1, "0.01"), (2, "0.01"), (3, "0.00")],
    ),
    (
        "u_shaped one touch",
        "u_shaped",
        0,
        ALL,
        "10.00",
        touches((1, D, "email")),
        [(1, "10.00")],
    ),
    (
        "u_shaped two touches",
        "u_shaped",
        0,
        ALL,
        "10.01",
        touches((1, 2 * D, "email"), (2, D, "direct")),
        [(1, "5.01"), (2, "5.00")],
    ),
    ("u_shaped three", "u_shaped", 0, ALL, "10.00", THREE, [(1, "4.00"), (2, "2.00"), (3, "4.00")]),
    (
        "u_shaped four",
        "u_shaped",
        0,
        ALL,
        "10.00",
        touches((1, 4 * D, "email"), (2, 3 * D, "direct"), (3, 2 * D, "email"), (4, D, "email")),
        [(1, "4.00"), (2, "1.00"), (3, "1.00"), (4, "4.00")],
    ),
    (
        "u_shaped five: leftover cents to the middles, earlier first",
        "u_shaped",
        0,
        ALL,
        "1.00",
        touches(*((i, (6 - i) * D, "email") for i in range(1, 6))),
        [(1, "0.40"), (2, "0.07"), (3, "0.07"), (4, "0.06"), (5, "0.40")],
    ),
    (
        "u_shaped 3 cents: middle has the largest remainder",
        "u_shaped",
        0,
        ALL,
        "0.03",
        THREE,
        [(1, "0.01"), (2, "0.01"), (3, "0.01")],
    ),
    (
        "u_shaped 4 cents: middle, then the first of the tied ends",
        "u_shaped",
        0,
        ALL,
        "0.04",
        THREE,
        [(1, "0.02"), (2, "0.01"), (3, "0.01")],
    ),
    (
        "u_shaped 2 cents: the ends",
        "u_shaped",
        0,
        ALL,
        "0.02",
        THREE,
        [(1, "0.01"), (2, "0.00"), (3, "0.01")],
    ),
    (
        "u_shaped 3 cents over five: all remainders tie, the first touch wins",
        "u_shaped",
        0,
        ALL,
        "0.03",
        touches(*((i, (6 - i) * D, "email") for i in range(1, 6))),
        [(1, "0.02"), (2, "0.00"), (3, "0.00"), (4, "0.00"), (5, "0.01")],
    ),
    (
        "u_shaped negative",
        "u_shaped",
        0,
        ALL,
        "-0.04",
        THREE,
        [(1, "-0.02"), (2, "-0.01"), (3, "-0.01")],
    ),
    (
        "last non-direct skips a final direct",
        "last_non_direct_touch",
        0,
        ALL,
        "10.00",
        THREE,
        [(2, "10.00")],
    ),
    (
        "last non-direct of an all-direct journey is its last touch",
        "last_non_direct_touch",
        0,
        ALL,
        "10.00",
        touches((1, 2 * D, "direct"), (2, D, "direct")),
        [(2, "10.00")],
    ),
    (
        "all-direct journey, direct not requested",
        "last_non_direct_touch",
        0,
        ["email"],
        "10.00",
        touches((1, 2 * D, "direct"), (2, D, "direct")),
        [],
    ),
    (
        "a non-direct touch outside the window does not count",
        "last_non_direct_touch",
        7,
        ALL,
        "10.00",
        touches((1, 10 * D, "email"), (2, 3 * D, "direct"), (3, D, "direct")),
        [(3, "10.00")],
    ),
    (
        "first platform touch: first paid requested",
        "first_platform_touch",
        0,
        ["google_ads", "tiktok_ads", "google_organic"],
        "10.00",
        touches(
            (1, 4 * D, "google_organic"),
            (2, 3 * D, "facebook_ads"),
            (3, 2 * D, "google_ads"),
            (4, D, "tiktok_ads"),
        ),
        [(3, "10.00")],
    ),
    (
        "last platform touch: last paid requested",
        "last_platform_touch",
        0,
        ["google_ads", "google_organic", "email"],
        "10.00",
        touches((1, 3 * D, "google_ads"), (2, 2 * D, "facebook_ads"), (3, D, "email")),
        [(1, "10.00")],
    ),
    (
        "platform model without a requested paid touch in J",
        "first_platform_touch",
        0,
        ["google_ads", "email"],
        "10.00",
        touches((1, 2 * D, "facebook_ads"), (2, D, "email")),
        [],
    ),
    (
        "linear paid: all paid touches share, requested ones exported",
        "linear_paid",
        0,
        ["google_ads", "tiktok_ads"],
        "10.00",
        touches(
            (1, 4 * D, "google_ads"),
            (2, 3 * D, "email"),
            (3, 2 * D, "facebook_ads"),
            (4, D, "tiktok_ads"),
        ),
        [(1, "3.34"), (4, "3.33")],
    ),
    (
        "linear paid without paid touches",
        "linear_paid",
        0,
        ["google_ads"],
        "10.00",
        touches((1, D, "email")),
        [],
    ),
    (
        "window edge: exactly 7 days before is in, a microsecond more is out",
        "linear",
        7,
        ALL,
        "1.00",
        touches((1, 7 * D + US, "email"), (2, 7 * D, "direct"), (3, D, "email")),
        [(2, "0.50"), (3, "0.50")],
    ),
    (
        "window 0 is the whole history",
        "first_touch",
        0,
        ALL,
        "1.00",
        touches((1, 800 * D, "email"), (2, D, "direct")),
        [(1, "1.00")],
    ),
    (
        "window 1 drops older touches",
        "first_touch",
        1,
        ALL,
        "1.00",
        touches((1, 2 * D, "email"), (2, 23 * H, "direct")),
        [(2, "1.00")],
    ),
    ("no touch in the window: the event is not exported", "last_touch", 1, ALL, "1.00", [], []),
]


@pytest.mark.parametrize(
    ("model", "window", "sources", "amount", "journey", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_one_event(model, window, sources, amount, journey, expected) -> None:  # type: ignore[no-untyped-def]
    request = parse_export_request(
        {
            "date": "2024-05-01",
            "sources": sources,
            "attribution_model": model,
            "attribution_window": window,
            "fields": ["amount"],
        }
    )
    events = events_frame(
        [{"id": 1, "event_time_utc": EVENT_TIME, "profile_id": "p1", "amount": amount}]
    )
    rows = split_attribution(events, touchpoints_frame(journey), request)
    assert rows.columns == ["id", "event_time_utc", "touchpoint_id", "amount"]
    actual = [(r["touchpoint_id"], r["amount"]) for r in rows.iter_rows(named=True)]
    assert actual == [(t, None if a is None else Decimal(a)) for t, a in expected]


MS = dt.timedelta(milliseconds=1)
MAX = "999999999999.99"  # the largest NUMERIC(14,2) amount
# One touch each 2, 1 and 0 days before the event: with a 1-day half-life the weights are
# 2^30, 2^31 and 2^32, shares 1/7, 2/7 and 4/7.
HALVING = touches((1, 2 * D, "google_ads"), (2, D, "email"), (3, dt.timedelta(0), "direct"))
FOUR = touches((1, 4 * D, "email"), (2, 3 * D, "direct"), (3, 2 * D, "email"), (4, D, "email"))
FIVE = touches(*((i, (6 - i) * D, "email") for i in range(1, 6)))


def _decay(days: int | None = None) -> dict:
    body: dict = {"attribution_model": "time_decay"}
    if days is not None:
        body["attribution_half_life_days"] = days
    return body


def _position(first: int, last: int) -> dict:
    return {"attribution_model": "position_based", "position_weights": [first, last]}


# (case, model and its parameters, sources, amount, touchpoints of p1, expected rows)
PARAMETER_CASES = [
    ("decay |J|=1", _decay(), ALL, "10.00", touches((1, 3 * D, "email")), [(1, "10.00")]),
    (
        "decay |J|=2: at the event 2^32, one half-life before 2^31",
        _decay(),
        ALL,
        "10.00",
        touches((1, 7 * D, "email"), (2, dt.timedelta(0), "direct")),
        [(1, "3.33"), (2, "6.67")],
    ),
    (
        "decay |J|=3: 1/7, 2/7, 4/7, leftover to the largest remainder",
        _decay(1),
        ALL,
        "1.00",
        HALVING,
        [(1, "0.14"), (2, "0.29"), (3, "0.57")],
    ),
    (
        "decay, one source exported: the others still share",
        _decay(1),
        ["email"],
        "1.00",
        HALVING,
        [(2, "0.29")],
    ),
    (
        "decay tie on time: equal weights, the lower id first",
        _decay(),
        ALL,
        "0.03",
        touches((7, D, "email"), (5, D, "direct")),
        [(5, "0.02"), (7, "0.01")],
    ),
    (
        "decay Δ in whole seconds: 0.5 s before the event weighs 2^32 too",
        _decay(),
        ALL,
        "0.01",
        touches((1, 500 * MS, "email"), (2, dt.timedelta(0), "direct")),
        [(1, "0.01"), (2, "0.00")],
    ),
    (
        "decay: weight 0 (33 half-lives) gets no row",
        _decay(1),
        ALL,
        "10.00",
        touches((1, 33 * D, "email"), (2, D, "direct")),
        [(2, "10.00")],
    ),
    (
        "decay: weight 1 (32 half-lives) keeps a row of 0.00",
        _decay(1),
        ALL,
        "10.00",
        touches((1, 32 * D, "email"), (2, dt.timedelta(0), "direct")),
        [(1, "0.00"), (2, "10.00")],
    ),
    (
        "decay: every weight 0, J[-1] gets everything",
        _decay(1),
        ALL,
        "10.00",
        touches((1, 40 * D, "email"), (2, 35 * D, "direct")),
        [(2, "10.00")],
    ),
    (
        "decay: every weight 0, J[-1] not requested",
        _decay(1),
        ["email"],
        "10.00",
        touches((1, 40 * D, "email"), (2, 35 * D, "direct")),
        [],
    ),
    (
        "decay 30-day half-life: 2^32·2^(-1/30) for one day",
        _decay(30),
        ALL,
        "100.00",
        touches((1, D, "email"), (2, dt.timedelta(0), "direct")),
        [(1, "49.42"), (2, "50.58")],
    ),
    (
        "decay negative",
        _decay(1),
        ALL,
        "-1.00",
        HALVING,
        [(1, "-0.14"), (2, "-0.29"), (3, "-0.57")],
    ),
    (
        "decay null amount: null rows, none for weight 0",
        _decay(1),
        ALL,
        None,
        touches((1, 40 * D, "email"), (2, D, "direct"), (3, dt.timedelta(0), "email")),
        [(2, None), (3, None)],
    ),
    (
        "decay largest amount",
        _decay(1),
        ALL,
        MAX,
        HALVING,
        [(1, "142857142857.14"), (2, "285714285714.28"), (3, "571428571428.57")],
    ),
    (
        "decay largest negative amount, both at the event (2^32 each)",
        _decay(),
        ALL,
        "-" + MAX,
        touches((1, dt.timedelta(0), "email"), (2, dt.timedelta(0), "direct")),
        [(1, "-500000000000.00"), (2, "-499999999999.99")],
    ),
    ("decay, no touch: the event is not exported", _decay(), ALL, "1.00", [], []),
    (
        "decay, only a touch after the event: not exported",
        _decay(),
        ALL,
        "1.00",
        touches((1, -MS, "email")),
        [],
    ),
    ("position, no touch: the event is not exported", _position(30, 30), ALL, "1.00", [], []),
    ("position |J|=1", _position(30, 30), ALL, "10.00", touches((1, D, "email")), [(1, "10.00")]),
    (
        "position |J|=2: first:last in proportion",
        _position(40, 20),
        ALL,
        "10.00",
        touches((1, 2 * D, "email"), (2, D, "direct")),
        [(1, "6.67"), (2, "3.33")],
    ),
    (
        "position |J|=2 [0, 0]: equal",
        _position(0, 0),
        ALL,
        "10.01",
        touches((1, 2 * D, "email"), (2, D, "direct")),
        [(1, "5.01"), (2, "5.00")],
    ),
    (
        "position |J|=2 [0, 30]: the first has share 0 and no row",
        _position(0, 30),
        ALL,
        "10.00",
        touches((1, 2 * D, "email"), (2, D, "direct")),
        [(2, "10.00")],
    ),
    (
        "position |J|=3 [30, 30]",
        _position(30, 30),
        ALL,
        "10.00",
        THREE,
        [(1, "3.00"), (2, "4.00"), (3, "3.00")],
    ),
    (
        "position |J|=4 [30, 30]",
        _position(30, 30),
        ALL,
        "1.00",
        FOUR,
        [(1, "0.30"), (2, "0.20"), (3, "0.20"), (4, "0.30")],
    ),
    (
        "position |J|=5: the leftover cent to the first middle",
        _position(30, 30),
        ALL,
        "0.10",
        FIVE,
        [(1, "0.03"), (2, "0.02"), (3, "0.01"), (4, "0.01"), (5, "0.03")],
    ),
    (
        "position [50, 50]: the middles get nothing and no row",
        _position(50, 50),
        ALL,
        "0.01",
        FOUR,
        [(1, "0.01"), (4, "0.00")],
    ),
    (
        "position [0, 0] |J|=3: the middle takes all",
        _position(0, 0),
        ALL,
        "10.00",
        THREE,
        [(2, "10.00")],
    ),
    (
        "position [0, 0] |J|=4: the middles share, earlier first",
        _position(0, 0),
        ALL,
        "0.01",
        FOUR,
        [(2, "0.01"), (3, "0.00")],
    ),
    ("position [100, 0]", _position(100, 0), ALL, "10.00", THREE, [(1, "10.00")]),
    (
        "position [40, 40] is u_shaped: middle, then the first of the tied ends",
        _position(40, 40),
        ALL,
        "0.04",
        THREE,
        [(1, "0.02"), (2, "0.01"), (3, "0.01")],
    ),
    (
        "position tie of the ends: the first",
        _position(25, 25),
        ALL,
        "0.02",
        THREE,
        [(1, "0.01"), (2, "0.01"), (3, "0.00")],
    ),
    (
        "position tie of middle and last: the middle",
        _position(20, 40),
        ALL,
        "0.01",
        THREE,
        [(1, "0.00"), (2, "0.01"), (3, "0.00")],
    ),
    (
        "position tie of first and middle: the first",
        _position(40, 20),
        ALL,
        "0.01",
        THREE,
        [(1, "0.01"), (2, "0.00"), (3, "0.00")],
    ),
    (
        "position negative",
        _position(30, 30),
        ALL,
        "-10.00",
        THREE,
        [(1, "-3.00"), (2, "-4.00"), (3, "-3.00")],
    ),
    (
        "position null amount",
        _position(50, 50),
        ALL,
        None,
        THREE,
        [(1, None), (3, None)],
    ),
    (
        "position largest amount",
        _position(30, 30),
        ALL,
        MAX,
        FOUR,
        [
            (1, "300000000000.00"),
            (2, "200000000000.00"),
            (3, "200000000000.00"),
            (4, "299999999999.99"),
        ],
    ),
    (
        "position largest negative amount, |J|=2",
        _position(33, 1),
        ALL,
        "-" + MAX,
        touches((1, 2 * D, "email"), (2, D, "direct")),
        [(1, "-970588235294.11"), (2, "-29411764705.88")],
    ),
]


@pytest.mark.parametrize(
    ("model", "sources", "amount", "journey", "expected"),
    [pytest.param(*case[1:], id=case[0]) for case in PARAMETER_CASES],
)
def test_one_event_with_model_parameters(model, sources, amount, journey, expected) -> None:  # type: ignore[no-untyped-def]
    request = parse_export_request(
        {
            "date": "2024-05-01",
            "sources": sources,
            "attribution_window": 0,
            "fields": ["amount"],
            **model,
        }
    )
    events = events_frame(
        [{"id": 1, "event_time_utc": EVENT_TIME, "profile_id": "p1", "amount": amount}]
    )
    rows = split_attribution(events, touchpoints_frame(journey), request)
    actual = [(r["touchpoint_id"], r["amount"]) for r in rows.iter_rows(named=True)]
    assert actual == [(t, None if a is None else Decimal(a)) for t, a in expected]


@pytest.mark.parametrize(
    "model",
    [_decay(), _decay(30), _position(30, 30), _position(1, 0), _position(0, 0)],
    ids=["decay 7", "decay 30", "position 30 30", "position 1 0", "position 0 0"],
)
@pytest.mark.parametrize("amount", [MAX, "-" + MAX, "0.07"])
def test_long_journeys_split_the_largest_amounts_exactly(model, amount) -> None:  # type: ignore[no-untyped-def]
    # 3,002 touches: with a·first·(|J|-2) or a·w in 64 bits the products would overflow.
    journey = touches(*((i, i * 7 * H, "email" if i % 3 else "direct") for i in range(3002)))
    request = parse_export_request(
        {
            "date": "2024-05-01",
            "sources": ALL,
            "attribution_window": 0,
            "fields": ["amount"],
            **model,
        }
    )
    events = events_frame(
        [{"id": 1, "event_time_utc": EVENT_TIME, "profile_id": "p1", "amount": amount}]
    )
    rows = split_attribution(events, touchpoints_frame(journey), request)
    ordered = sorted(journey, key=lambda t: (t["touch_time_utc"], t["id"]))
    credit = oracle.credits(request, ordered, EVENT_TIME)
    cents = oracle.split_cents(int(Decimal(amount) * 100), credit)
    expected = [
        (t["id"], Decimal(c) / 100)
        for t, c, share in zip(ordered, cents, credit, strict=True)
        if share > 0
    ]
    assert [(r["touchpoint_id"], r["amount"]) for r in rows.iter_rows(named=True)] == expected
    assert sum(a for _, a in expected) == Decimal(amount)


def test_company_journey_merges_the_touchpoints_of_every_profile_of_the_company() -> None:
    request = parse_export_request(
        {
            "date": "2024-05-01",
            "query_mode": "company",
            "sources": ALL,
            "attribution_model": "linear",
            "attribution_window": 0,
            "fields": ["amount", "profile_id"],
        }
    )
    events = events_frame(
        [
            {
                "id": 1,
                "event_time_utc": EVENT_TIME,
                "profile_id": "p1",
                "company_id": "c1",
                "amount": "9.00",
            },
        ]
    )
    journey = (
        [{**t, "company_id": "c1"} for t in touches((1, 3 * D, "email"), profile_id="p1")]
        + [{**t, "company_id": "c1"} for t in touches((2, 2 * D, "direct"), profile_id="p2")]
        + [{**t, "company_id": "c2"} for t in touches((3, D, "email"), profile_id="p3")]
    )
    rows = split_attribution(events, touchpoints_frame(journey), request)
    assert rows.rows() == [
        (1, EVENT_TIME, 1, Decimal("4.50"), "p1"),
        (1, EVENT_TIME, 2, Decimal("4.50"), "p1"),
    ]


def test_profile_mode_keeps_journeys_apart() -> None:
    request = parse_export_request(
        {
            "date": "2024-05-01",
            "sources": ALL,
            "attribution_model": "last_touch",
            "attribution_window": 0,
        }
    )
    events = events_frame(
        [
            {"id": 1, "event_time_utc": EVENT_TIME, "profile_id": "p1", "amount": "1.00"},
            {"id": 2, "event_time_utc": EVENT_TIME, "profile_id": "p2", "amount": "1.00"},
        ]
    )
    journey = touches((1, 2 * D, "email"), profile_id="p1") + touches(
        (2, D, "direct"), profile_id="p2"
    )
    rows = split_attribution(events, touchpoints_frame(journey), request)
    assert rows.select("id", "touchpoint_id").rows() == [(1, 1), (2, 2)]


def test_rows_are_ordered_by_event_time_event_id_and_position_in_the_journey() -> None:
    request = parse_export_request(
        {
            "date": "2024-05-01",
            "sources": ALL,
            "attribution_model": "linear",
            "attribution_window": 0,
        }
    )
    events = events_frame(
        [
            {"id": 9, "event_time_utc": EVENT_TIME, "profile_id": "p1", "amount": "1.00"},
            {"id": 3, "event_time_utc": EVENT_TIME + H, "profile_id": "p1", "amount": "1.00"},
            {"id": 5, "event_time_utc": EVENT_TIME, "profile_id": "p1", "amount": "1.00"},
        ]
    )
    journey = touches((8, D, "email"), (2, 2 * D, "direct"))
    rows = split_attribution(events, touchpoints_frame(journey), request)
    assert rows.select("id", "touchpoint_id").rows() == [
        (5, 2),
        (5, 8),
        (9, 2),
        (9, 8),
        (3, 2),
        (3, 8),
    ]


def test_without_sources_every_event_is_a_row_with_its_amount() -> None:
    request = parse_export_request({"date": "2024-05-01", "fields": ["amount", "profile_id"]})
    events = events_frame(
        [
            {"id": 2, "event_time_utc": EVENT_TIME, "profile_id": "p1", "amount": "-1.05"},
            {"id": 1, "event_time_utc": EVENT_TIME, "profile_id": "p2", "amount": None},
        ]
    )
    rows = split_attribution(events, touchpoints_frame([]), request)
    assert rows.rows() == [(1, EVENT_TIME, None, "p2"), (2, EVENT_TIME, Decimal("-1.05"), "p1")]


@pytest.mark.parametrize(
    ("body", "columns"),
    [
        ({}, ["id", "event_time_utc"]),
        ({"fields": ["amount", "id"]}, ["id", "event_time_utc", "amount"]),
        (
            {"sources": ["email"], "fields": ["event_time_utc", "profile_id"]},
            ["id", "event_time_utc", "touchpoint_id", "profile_id"],
        ),
        (
            {"sources": ["google_ads"], "fields": ["campaign_name", "amount", "source", "ad_id"]},
            ["id", "event_time_utc", "touchpoint_id", "source", "campaign_name", "amount", "ad_id"],
        ),
        (
            {"sources": ["google_ads"], "fields": ["source", "touchpoint_id"]},
            ["id", "event_time_utc", "touchpoint_id", "source"],
        ),
    ],
)
def test_output_columns_follow_spec_key_order(body, columns) -> None:  # type: ignore[no-untyped-def]
    if "sources" in body:
        body = {**body, "attribution_model": "linear", "attribution_window": 0}
    request = parse_export_request({"date": "2024-05-01", **body})
    assert output_columns(request) == columns


def test_hierarchy_columns_must_be_resolved_before_attribution() -> None:
    request = parse_export_request(
        {
            "date": "2024-05-01",
            "sources": ALL,
            "attribution_model": "linear",
            "attribution_window": 0,
            "fields": ["campaign_name"],
        }
    )
    events = events_frame([{"id": 1, "event_time_utc": EVENT_TIME, "profile_id": "p1"}])
    with pytest.raises(ValueError, match="campaign_name"):
        split_attribution(events, touchpoints_frame(THREE), request)


def test_output_frame_types() -> None:
    request = parse_export_request(
        {
            "date": "2024-05-01",
            "sources": ALL,
            "attribution_model": "linear",
            "attribution_window": 0,
            "fields": ["amount", "is_upsell"],
        }
    )
    events = events_frame(
        [
            {
                "id": 1,
                "event_time_utc": EVENT_TIME,
                "profile_id": "p1",
                "amount": "1.00",
                "is_upsell": True,
            }
        ]
    )
    rows = split_attribution(events, touchpoints_frame(THREE), request)
    assert rows.schema == pl.Schema(
        {
            "id": pl.Int64,
            "event_time_utc": pl.Datetime("us"),
            "touchpoint_id": pl.Int64,
            "amount": pl.Decimal(14, 2),
            "is_upsell": pl.Boolean,
        }
    )

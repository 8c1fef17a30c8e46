"""Extract reads exactly the day's events and the touchpoints that can matter, on each backend."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl
import pytest
import sqlalchemy as sa

from exports_pipeline.engine import frames
from exports_pipeline.engine.extract import (
    EVENT_SCHEMA,
    TOUCHPOINT_SCHEMA,
    extract_events,
    split_keys,
    split_window,
)
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.store import schema
from exports_pipeline_tests.support.stores import event, insert, random_store, space, touchpoint

T = dt.datetime
US = dt.timedelta(microseconds=1)
HOUR = dt.timedelta(hours=1)


def _request(**body):  # type: ignore[no-untyped-def]
    return parse_export_request({"date": "2024-11-03", **body})


def _attributed(**body):  # type: ignore[no-untyped-def]
    return _request(
        sources=body.pop("sources", ["email", "direct", "google_ads"]),
        attribution_model=body.pop("attribution_model", "linear"),
        attribution_window=body.pop("attribution_window", 0),
        **body,
    )


# (timezone, UTC start, UTC end) of 2024-11-03
LOCAL_DAYS = [
    ("America/New_York", T(2024, 11, 3, 4), T(2024, 11, 4, 5)),  # 25 hours
    ("Asia/Kolkata", T(2024, 11, 2, 18, 30), T(2024, 11, 3, 18, 30)),
    ("UTC", T(2024, 11, 3), T(2024, 11, 4)),
]


def test_events_of_the_local_day_only(store_engine: sa.Engine) -> None:
    for n, (timezone, start, end) in enumerate(LOCAL_DAYS):
        space_id = f"space-{timezone}"
        space(store_engine, space_id, timezone)
        insert(
            store_engine,
            schema.events,
            [
                event(10 * n + 1, start - US, space_id=space_id),
                event(10 * n + 2, start, space_id=space_id),
                event(10 * n + 3, end - US, space_id=space_id),
                event(10 * n + 4, end, space_id=space_id),
            ],
        )
    for n, (timezone, start, end) in enumerate(LOCAL_DAYS):
        extracted = extract_events(
            store_engine, space_id=f"space-{timezone}", timezone=timezone, request=_request()
        )
        assert sorted(extracted.events["id"].to_list()) == [10 * n + 2, 10 * n + 3], timezone
        assert sorted(extracted.events["event_time_utc"].to_list()) == [start, end - US]
        assert extracted.events.schema == pl.Schema(EVENT_SCHEMA)
        assert extracted.touchpoints.is_empty()
        assert extracted.touchpoints.schema == pl.Schema(TOUCHPOINT_SCHEMA)


def test_the_23_hour_day(store_engine: sa.Engine) -> None:
    space(store_engine, timezone="America/New_York")
    start, end = T(2024, 3, 10, 5), T(2024, 3, 11, 4)
    insert(store_engine, schema.events, [event(1, start), event(2, end - US), event(3, end)])
    request = parse_export_request({"date": "2024-03-10"})
    extracted = extract_events(
        store_engine, space_id="space-1", timezone="America/New_York", request=request
    )
    assert sorted(extracted.events["id"].to_list()) == [1, 2]


def test_event_columns_filters_and_exact_cents(store_engine: sa.Engine) -> None:
    space(store_engine)
    at = T(2024, 11, 3, 12, 0, 0, 123456)
    insert(
        store_engine,
        schema.event_configs,
        [
            {"space_id": "space-1", "event_name": "custom_event_3", "configured_name": "Demo"},
            {"space_id": "space-1", "event_name": "purchase", "configured_name": "Ignored"},
            {"space_id": "other", "event_name": "custom_event_4", "configured_name": "Other"},
        ],
    )
    insert(
        store_engine,
        schema.events,
        [
            event(1, at, amount="0.29", event_name="purchase", company_id="c1", is_upsell=True),
            event(2, at, amount="1234567.89", event_name="custom_event_3", order_id="o2"),
            event(3, at, amount="-0.01", event_name="custom_event_4", company_id="c1"),
            event(4, at, amount="999999999999.99", event_name="purchase", company_id="c2"),
            event(5, at, amount=None, event_name="sign_up", company_id="c2", event_url="u"),
        ],
    )
    fields = ["amount", "configured_name", "is_upsell", "order_id", "event_url", "company_id"]
    extracted = extract_events(
        store_engine, space_id="space-1", timezone="UTC", request=_request(fields=fields)
    )
    rows = {r["id"]: r for r in extracted.events.iter_rows(named=True)}
    assert {i: r["amount_cents"] for i, r in rows.items()} == {
        1: 29,
        2: 123456789,
        3: -1,
        4: 99999999999999,
        5: None,
    }
    assert {i: r["configured_name"] for i, r in rows.items()} == {
        1: "purchase",
        2: "Demo",
        3: "custom_event_4",
        4: "purchase",
        5: "sign_up",
    }
    assert rows[1]["is_upsell"] is True and rows[2]["is_upsell"] is False
    assert rows[2]["order_id"] == "o2" and rows[5]["event_url"] == "u"
    assert rows[1]["event_time_utc"] == at
    # Columns the request does not need are not read.
    assert rows[1]["profile_id"] is None and rows[1]["order_name"] is None

    names = _request(event_names=["purchase", "sign_up"], query_mode="company")
    extracted = extract_events(store_engine, space_id="space-1", timezone="UTC", request=names)
    assert sorted(extracted.events["id"].to_list()) == [1, 4, 5]
    company = _request(query_mode="company")
    extracted = extract_events(store_engine, space_id="space-1", timezone="UTC", request=company)
    assert sorted(extracted.events["id"].to_list()) == [1, 3, 4, 5]


def _journey_store(engine: sa.Engine) -> None:
    space(engine)
    insert(
        engine,
        schema.profiles,
        [
            {"id": "p1", "space_id": "space-1", "company_id": "c1"},
            {"id": "p2", "space_id": "space-1", "company_id": "c1"},  # no event that day
            {"id": "p3", "space_id": "space-1", "company_id": "c2"},  # no event that day
            {"id": "p4", "space_id": "space-1", "company_id": None},
        ],
    )
    first, last = T(2024, 11, 3, 10), T(2024, 11, 3, 20)
    insert(
        engine,
        schema.events,
        [
            event(1, first, profile_id="p1", company_id="c1"),
            event(2, last, profile_id="p4", company_id=None),
        ],
    )
    insert(
        engine,
        schema.touchpoints,
        [
            touchpoint(1, first - dt.timedelta(days=7), "email", profile_id="p1"),  # edge
            touchpoint(2, first - dt.timedelta(days=7) - US, "email", profile_id="p1"),
            touchpoint(3, first - dt.timedelta(days=400), "google_ads", profile_id="p1"),
            touchpoint(4, last, "direct", profile_id="p4"),
            touchpoint(5, last + US, "direct", profile_id="p4"),  # after every event
            touchpoint(6, first, "google_ads", profile_id="p2", ad_id="ad1"),
            touchpoint(7, first, "facebook_ads", profile_id="p3"),
            touchpoint(8, first, "email", profile_id="p1", space_id="other-space"),
            touchpoint(9, first - dt.timedelta(hours=1), "facebook_ads", profile_id="p1"),
        ],
    )


# (request body, ids of the touchpoints extract must return) on `_journey_store`
TOUCHPOINT_CASES = [
    ({"attribution_window": 7}, [1, 4, 9]),
    ({"attribution_window": 0}, [1, 2, 3, 4, 9]),
    ({"attribution_window": 0, "query_mode": "company"}, [1, 2, 3, 6, 9]),
    ({"attribution_window": 1, "query_mode": "company"}, [6, 9]),
    ({"attribution_model": "first_platform_touch", "sources": ["google_ads", "email"]}, [3]),
    ({"attribution_model": "linear_paid", "sources": ["google_ads", "email"]}, [3, 9]),
]


def test_only_touchpoints_that_can_matter(store_engine: sa.Engine) -> None:
    _journey_store(store_engine)
    for body, touchpoint_ids in TOUCHPOINT_CASES:
        extracted = extract_events(
            store_engine, space_id="space-1", timezone="UTC", request=_attributed(**body)
        )
        assert sorted(extracted.touchpoints["id"].to_list()) == touchpoint_ids, body
        assert extracted.touchpoints.schema == pl.Schema(TOUCHPOINT_SCHEMA)


def test_the_same_touchpoints_without_adbc(
    store_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SQLAlchemy fallback: its temporary key tables live on a pooled connection, so
    # they must be gone before the next export takes it (the cases run one after another).
    @contextmanager
    def no_adbc(engine: sa.Engine) -> Iterator[None]:
        yield None

    monkeypatch.setattr(frames, "_adbc_connection", no_adbc)
    _journey_store(store_engine)
    for body, touchpoint_ids in TOUCHPOINT_CASES * 2:
        extracted = extract_events(
            store_engine, space_id="space-1", timezone="UTC", request=_attributed(**body)
        )
        assert sorted(extracted.touchpoints["id"].to_list()) == touchpoint_ids, body


def test_company_mode_touchpoints_carry_their_profiles_company(store_engine: sa.Engine) -> None:
    _journey_store(store_engine)
    request = _attributed(query_mode="company", fields=["ad_id"])
    extracted = extract_events(store_engine, space_id="space-1", timezone="UTC", request=request)
    by_id = {r["id"]: r for r in extracted.touchpoints.iter_rows(named=True)}
    assert by_id[6]["company_id"] == "c1" and by_id[6]["profile_id"] == "p2"
    assert by_id[6]["ad_id"] == "ad1"
    assert by_id[6]["touch_time_utc"] == T(2024, 11, 3, 10)


def test_a_day_without_events(store_engine: sa.Engine) -> None:
    space(store_engine)
    extracted = extract_events(
        store_engine, space_id="space-1", timezone="UTC", request=_attributed()
    )
    assert extracted.events.is_empty() and extracted.touchpoints.is_empty()
    assert extracted.events.schema == pl.Schema(EVENT_SCHEMA)


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
@pytest.mark.parametrize(("timezone", "start", "end"), LOCAL_DAYS)
def test_split_window_covers_the_day_exactly(
    timezone: str, start: dt.datetime, end: dt.datetime, parts: int
) -> None:
    spans = split_window(start, end, parts)
    assert len(spans) == parts
    assert spans[0][0] == start and spans[-1][1] == end
    assert all(a < b for a, b in spans)
    assert all(left[1] == right[0] for left, right in itertools.pairwise(spans))


@pytest.mark.parametrize("parts", [1, 2, 3, 5])
def test_split_keys_deals_each_distinct_key_once(parts: int) -> None:
    keys = pl.Series(["p3", "p1", None, "p2", "p1", "p4", "p5", "p3"])
    groups = split_keys(keys, parts)
    assert len(groups) == min(parts, 5)
    dealt = [key for group in groups for key in group.to_list()]
    assert sorted(dealt) == ["p1", "p2", "p3", "p4", "p5"]
    assert split_keys(pl.Series([None], dtype=pl.String), parts)[0].len() == 0


def test_events_on_the_boundaries_between_parts_are_read_once(store_engine: sa.Engine) -> None:
    # Three parts of a UTC day meet at 08:00 and 16:00.
    space(store_engine)
    day = T(2024, 11, 3)
    times = [day, day + 8 * HOUR - US, day + 8 * HOUR, day + 16 * HOUR - US, day + 16 * HOUR]
    insert(store_engine, schema.events, [event(n, at) for n, at in enumerate(times, 1)])
    extracted = extract_events(
        store_engine, space_id="space-1", timezone="UTC", request=_request(), parts=3
    )
    assert sorted(extracted.events["id"].to_list()) == [1, 2, 3, 4, 5]


def _sorted_rows(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"fields": ["configured_name", "amount", "order_id"]},
        {"sources": ["email", "google_ads"], "attribution_model": "linear",
         "attribution_window": 7, "fields": ["ad_id"]},
        {"query_mode": "company", "sources": ["facebook_ads", "direct"],
         "attribution_model": "u_shaped", "attribution_window": 0},
        {"sources": ["google_ads"], "attribution_model": "last_platform_touch",
         "attribution_window": 30},
    ],
    ids=["events", "event fields", "profile journeys", "company journeys", "platform"],
)  # fmt: skip
def test_the_same_rows_whatever_the_number_of_parts(store_engine: sa.Engine, body: dict) -> None:
    random_store(store_engine, seed=7, events=400, date=dt.date(2024, 11, 3))
    request = _request(**body)
    results = {
        parts: extract_events(
            store_engine, space_id="space-1", timezone="America/New_York", request=request,
            parts=parts,
        )
        for parts in (1, 2, 3, 5)
    }  # fmt: skip
    one = results[1]
    assert one.events.height > 50
    assert one.touchpoints.height > 10 or not request.attributed
    for extracted in results.values():
        assert _sorted_rows(extracted.events).equals(_sorted_rows(one.events))
        assert _sorted_rows(extracted.touchpoints).equals(_sorted_rows(one.touchpoints))


def test_parts_are_read_at_once_on_connections_of_their_own(
    store_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    random_store(store_engine, seed=7, events=400, date=dt.date(2024, 11, 3))
    threads: list[str] = []
    read = frames.StoreReader.read

    def recording_read(reader, statement, schema):  # type: ignore[no-untyped-def]
        threads.append(threading.current_thread().name)
        return read(reader, statement, schema)

    monkeypatch.setattr(frames.StoreReader, "read", recording_read)
    extract_events(
        store_engine,
        space_id="space-1",
        timezone="America/New_York",
        request=_attributed(query_mode="company"),
        parts=2,
    )
    # Events by two spans, profiles of the companies by two groups, touchpoints by two.
    assert sum(name.startswith("store-read") for name in threads) == 6


def test_parts_by_backend() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert frames.parallel_reads(sa.create_engine("sqlite:///store.db")) == min(4, cpus)
    # PostgreSQL parallelises its own scans; a split semi-join would scan once per part.
    assert frames.parallel_reads(sa.create_engine("postgresql+psycopg://db/store")) == 1


def test_the_same_request_reads_its_rows_in_the_same_order(store_engine: sa.Engine) -> None:
    random_store(store_engine, seed=7, events=400, date=dt.date(2024, 11, 3))
    request = _attributed(query_mode="company", fields=["ad_id"])
    first, *others = (
        extract_events(
            store_engine, space_id="space-1", timezone="America/New_York", request=request,
            parts=3,
        )
        for _ in range(5)
    )  # fmt: skip
    for extracted in others:
        assert extracted.events.equals(first.events)
        assert extracted.touchpoints.equals(first.touchpoints)

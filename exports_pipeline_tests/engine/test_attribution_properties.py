"""Properties of attribution on random journeys: exact sums, full credit, order, the oracle."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from exports_pipeline.engine.attribution import credited_touchpoints, split_attribution
from exports_pipeline.engine.models import MODELS
from exports_pipeline.engine.plan import assemble_rows
from exports_pipeline.engine.request import ExportRequest, parse_export_request
from exports_pipeline.vocabulary import ATTRIBUTION_MODELS, ATTRIBUTION_WINDOWS
from exports_pipeline_tests.support import oracle
from exports_pipeline_tests.support.frames import EVENT_TIME, events_frame, touchpoints_frame

# The largest NUMERIC(14,2) amounts, in cents.
LARGEST = [99_999_999_999_999, -99_999_999_999_999]
POOL = ["google_ads", "facebook_ads", "email", "direct", "google_organic"]
COMPANY = {"p1": "c1", "p2": "c1", "p3": "c2", "p4": None}
# Offsets from EVENT_TIME that hit window edges, ties and touches after events.
TOUCH_OFFSETS = [
    dt.timedelta(0),
    dt.timedelta(hours=-2),
    dt.timedelta(hours=1),
    dt.timedelta(days=1),
    dt.timedelta(days=1, hours=1),
    dt.timedelta(days=7),
    dt.timedelta(days=7, hours=2),
    dt.timedelta(days=30, hours=1),
    dt.timedelta(days=400),
]


def journey_credits(
    events: pl.DataFrame, touchpoints: pl.DataFrame, request: ExportRequest
) -> pl.DataFrame:
    """Every credited touchpoint of every event, before the filter on `sources`, in SPEC
    order: `event_id`, `jpos`, `credit_cents` and the touchpoint's columns (its `id` as
    `touchpoint_id`): the engine's own credit step, seen before the export keeps rows."""
    ordered, credited = credited_touchpoints(events, touchpoints, request, exported_only=False)
    rows = assemble_rows(events, ordered, credited, event_columns=["id"])
    return rows.rename({"id": "event_id"})


def _position_weights(draw: st.DrawFn) -> list[int]:
    first = draw(st.integers(0, 100))
    return [first, draw(st.integers(0, 100 - first))]


# A value of each model parameter, drawn.
PARAMETERS: dict[str, Callable[[st.DrawFn], Any]] = {
    "attribution_half_life_days": lambda draw: draw(st.integers(1, 30)),
    "position_weights": _position_weights,
}


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[ExportRequest, list[dict[str, Any]], list[dict]]:
    model = draw(st.sampled_from(ATTRIBUTION_MODELS))
    sources = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=5, unique=True))
    if MODELS[model].paid_only:
        sources = [s for s in sources if s != "google_ads"] + ["google_ads"]
    parameters = {key: PARAMETERS[key](draw) for key in MODELS[model].parameters}
    request = parse_export_request(
        {
            "date": "2024-05-01",
            "query_mode": draw(st.sampled_from(["profile", "company"])),
            "sources": sources,
            "attribution_model": model,
            "attribution_window": draw(st.sampled_from(ATTRIBUTION_WINDOWS)),
            "fields": ["amount", "profile_id"],
            **parameters,
        }
    )
    event_ids = draw(st.lists(st.integers(1, 50), min_size=1, max_size=6, unique=True))
    events = []
    for event_id in event_ids:
        profile = draw(st.sampled_from(sorted(COMPANY)))
        amount = draw(st.none() | st.integers(-1_000_000, 1_000_000) | st.sampled_from(LARGEST))
        events.append(
            {
                "id": event_id,
                "event_time_utc": EVENT_TIME + dt.timedelta(hours=draw(st.integers(0, 3))),
                "profile_id": profile,
                "company_id": COMPANY[profile],
                "amount": None if amount is None else f"{Decimal(amount) / 100:.2f}",
            }
        )
    touch_ids = draw(st.lists(st.integers(1, 99), max_size=14, unique=True))
    touches = []
    for touch_id in touch_ids:
        profile = draw(st.sampled_from(sorted(COMPANY)))
        touches.append(
            {
                "id": touch_id,
                "profile_id": profile,
                "company_id": COMPANY[profile],
                "source": draw(st.sampled_from(POOL)),
                "touch_time_utc": EVENT_TIME
                + dt.timedelta(hours=draw(st.integers(0, 3)))
                - draw(st.sampled_from(TOUCH_OFFSETS)),
            }
        )
    return request, events, touches


def _store(events: list[dict], touches: list[dict]) -> oracle.Store:
    space = {"space_id": "space-1"}
    return oracle.Store(
        events=[
            {
                **space,
                "event_name": "purchase",
                **e,
                "amount": None if e["amount"] is None else Decimal(e["amount"]),
            }
            for e in events
        ],
        touchpoints=[{**space, **t} for t in touches],
        profiles=[{**space, "id": p, "company_id": c} for p, c in COMPANY.items()],
        event_configs=[],
        ads=[],
        adsets=[],
        campaigns=[],
        ad_accounts=[],
    )


def _journey(request: ExportRequest, event: dict, touches: list[dict]) -> list[dict]:
    key = "company_id" if request.query_mode == "company" else "profile_id"
    window = dt.timedelta(days=request.attribution_window or 0)
    return [
        t
        for t in touches
        if event[key] is not None
        and t[key] == event[key]
        and t["touch_time_utc"] <= event["event_time_utc"]
        and (not window or t["touch_time_utc"] >= event["event_time_utc"] - window)
    ]


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_engine_agrees_with_the_oracle(scenario) -> None:  # type: ignore[no-untyped-def]
    request, events, touches = scenario
    if request.query_mode == "company":
        events = [e for e in events if e["company_id"] is not None]  # as extract selects
    rows = split_attribution(events_frame(events), touchpoints_frame(touches), request)
    expected = oracle.export_rows(_store(events, touches), "space-1", "UTC", request)
    assert rows.rows() == [tuple(v for _, v in row) for row in expected]


@settings(max_examples=100, deadline=None)
@given(scenarios())
def test_credited_cents_of_an_event_sum_to_its_amount(scenario) -> None:  # type: ignore[no-untyped-def]
    request, events, touches = scenario
    credits = journey_credits(events_frame(events), touchpoints_frame(touches), request)
    sums = credits.group_by("event_id").agg(
        total=pl.col("credit_cents").sum(), nulls=pl.col("credit_cents").null_count()
    )
    by_id = {e["id"]: e for e in events}
    for event_id, total, nulls in sums.iter_rows():
        amount = by_id[event_id]["amount"]
        if amount is None:
            assert nulls > 0 and total == 0
        else:
            assert total == int(Decimal(amount) * 100)


@settings(max_examples=60, deadline=None)
@given(scenarios(), st.sampled_from(["linear", "u_shaped"]))
def test_linear_and_u_shaped_credit_every_touch_of_the_journey(scenario, model) -> None:  # type: ignore[no-untyped-def]
    request, events, touches = scenario
    request = request.model_copy(update={"attribution_model": model})
    credits = journey_credits(events_frame(events), touchpoints_frame(touches), request)
    for event in events:
        expected = sorted(t["id"] for t in _journey(request, event, touches))
        credited = credits.filter(credits["event_id"] == event["id"])["touchpoint_id"]
        assert sorted(credited.to_list()) == expected


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_rows_come_in_spec_order(scenario) -> None:  # type: ignore[no-untyped-def]
    request, events, touches = scenario
    rows = split_attribution(events_frame(events), touchpoints_frame(touches), request)
    touch_time = {t["id"]: t["touch_time_utc"] for t in touches}
    keys = [
        (r["event_time_utc"], r["id"], touch_time[r["touchpoint_id"]], r["touchpoint_id"])
        for r in rows.iter_rows(named=True)
    ]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)

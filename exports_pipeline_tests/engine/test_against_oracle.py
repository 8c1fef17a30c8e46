"""The engine and a simple loop-by-loop reading of SPEC section 4 write the same files."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from exports_pipeline.engine.export import plan_day, run_export
from exports_pipeline.engine.extract import extract_events
from exports_pipeline.engine.hierarchy import resolve_ad_hierarchy
from exports_pipeline.engine.models import MODELS
from exports_pipeline.engine.plan import plan_export
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.vocabulary import ATTRIBUTION_MODELS, ATTRIBUTION_WINDOWS
from exports_pipeline_tests.support import oracle
from exports_pipeline_tests.support.stores import random_store

DATE = dt.date(2024, 11, 3)  # a 25-hour day in America/New_York
SPACES = (("space-1", "America/New_York"), ("space-2", "Asia/Kolkata"))
SOURCES = ["google_ads", "facebook_ads", "direct", "email", "google_organic"]
FIELD_SETS = (
    None,
    ["amount", "event_name", "configured_name", "profile_id", "company_id", "is_upsell"],
    ["campaign_name", "amount", "ad_id", "source", "id", "order_name", "event_url"],
    ["account_name", "adset_name", "adset_id", "campaign_id", "account_id", "ad_name"],
    ["ad_name", "order_id", "amount", "space_id", "touchpoint_id", "event_time_utc"],
)
# The half-life of time_decay per window (None: the default): short ones with long windows,
# so that old touches weigh 0 (1 day: Δ > 32 days; 2 days: Δ > 64) and whole journeys too.
HALF_LIFE_BY_WINDOW = {0: 1, 1: None, 7: 30, 14: 2, 30: 7, 60: 1, 90: 2}
# End weights that give the middles nothing, an end nothing, or everything to one end.
POSITION_WEIGHTS = ([40, 20], [50, 50], [0, 0], [30, 30], [0, 100], [100, 0], [0, 45], [33, 1])
# A value of each model parameter (None: absent) for the i-th request, of `window`.
PARAMETERS: dict[str, Callable[[int, int], Any]] = {
    "attribution_half_life_days": lambda i, window: HALF_LIFE_BY_WINDOW[window],
    "position_weights": lambda i, window: POSITION_WEIGHTS[i % len(POSITION_WEIGHTS)],
}
PLAIN_FIELD_SETS = (
    None,
    ["amount", "event_name", "configured_name", "profile_id", "company_id", "is_upsell"],
    ["order_name", "event_url", "order_id", "space_id", "id", "amount"],
)


def requests() -> list[dict]:
    """Every model, window and mode, cycling through the field sets and the parameters of
    the models that have some, plus plain exports."""
    bodies: list[dict] = []
    combos = itertools.product(ATTRIBUTION_MODELS, ATTRIBUTION_WINDOWS, ("profile", "company"))
    for i, (model, window, mode) in enumerate(combos):
        body = {
            "date": DATE.isoformat(),
            "query_mode": mode,
            "sources": SOURCES if i % 3 else ["google_ads", "email"],
            "attribution_model": model,
            "attribution_window": window,
        }
        for key in MODELS[model].parameters:
            value = PARAMETERS[key](i, window)
            if value is not None:
                body[key] = value
        fields = FIELD_SETS[i % len(FIELD_SETS)]
        if fields:
            body["fields"] = fields
        if i % 4 == 1:
            body["event_names"] = ["purchase", "custom_event_3"]
        bodies.append(body)
    for fields, mode, names in itertools.product(
        PLAIN_FIELD_SETS, ("profile", "company"), (None, ["custom_event_3", "sign_up"])
    ):
        body = {"date": DATE.isoformat(), "query_mode": mode}
        if fields:
            body["fields"] = fields
        if names:
            body["event_names"] = names
        bodies.append(body)
    return bodies


# Each span is read on connections of its own (an ADBC PostgreSQL connection takes ~0.1 s
# to open): spans of 100 of a space's ~500 events of the day give every request 4-5 span
# boundaries, at ~1/3 of the time that spans of 37 took.
SPAN_EVENTS = 100


@pytest.fixture
def random_engine(store_engine: sa.Engine) -> sa.Engine:
    random_store(store_engine, seed=20241103, events=2000, date=DATE)
    return store_engine


def test_engine_matches_oracle_on_a_random_store(random_engine: sa.Engine, tmp_path: Path) -> None:
    store = oracle.read_store(random_engine)
    checked_rows = 0
    # PostgreSQL runs the same SQL; every third request there keeps the suite quick
    # (an ADBC PostgreSQL connection takes ~0.1 s to open).
    stride = 3 if random_engine.dialect.name == "postgresql" else 1
    for i, body in list(enumerate(requests()))[::stride]:
        request = parse_export_request(body)
        space_id, timezone = SPACES[i % 2]
        path = tmp_path / f"{i}.ndjson.gz"
        result = run_export(
            random_engine, space_id=space_id, timezone=timezone, request=request, path=path
        )
        expected = oracle.ndjson(oracle.export_rows(store, space_id, timezone, request))
        actual = gzip.decompress(path.read_bytes()).decode()
        assert actual == expected, f"request {body} in {space_id}"
        assert result.row_count == expected.count("\n")
        checked_rows += result.row_count
    # The comparison means something only if the exports are not all empty.
    assert checked_rows > 5_000


def test_counts_are_exact_and_slices_change_no_byte(
    random_engine: sa.Engine, tmp_path: Path
) -> None:
    """Every request above: the planned row count is the rows written, and rows made in
    slices of 97, from the day read in spans of SPAN_EVENTS events, give the file of one
    slice of the day read at once."""
    stride = 3 if random_engine.dialect.name == "postgresql" else 1
    for i, body in list(enumerate(requests()))[::stride]:
        request = parse_export_request(body)
        space_id, timezone = SPACES[i % 2]
        written = {}
        for slice_rows in (10**9, 97):
            path = tmp_path / f"{slice_rows}.gz"
            written[slice_rows] = run_export(
                random_engine,
                space_id=space_id,
                timezone=timezone,
                request=request,
                path=path,
                slice_rows=slice_rows,
                span_events=SPAN_EVENTS if slice_rows == 97 else 10**9,
                whole_day_events=SPAN_EVENTS if slice_rows == 97 else 10**9,
            )
        assert written[97] == written[10**9], f"request {body} in {space_id}"
        extracted = extract_events(
            random_engine, space_id=space_id, timezone=timezone, request=request
        )
        touchpoints = resolve_ad_hierarchy(
            random_engine, space_id=space_id, touchpoints=extracted.touchpoints, request=request
        )
        plan = plan_export(extracted.events, touchpoints, request)
        assert plan.row_count == written[97].row_count, f"request {body} in {space_id}"
        spanned = plan_day(
            random_engine,
            space_id=space_id,
            timezone=timezone,
            request=request,
            span_events=SPAN_EVENTS,
            whole_day_events=SPAN_EVENTS,
        )
        assert spanned.row_count == plan.row_count, f"request {body} in {space_id}"

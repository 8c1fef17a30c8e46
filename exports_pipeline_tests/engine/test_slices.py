"""Exports made slice by slice: same rows, order and bytes for every slice size, exact counts."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from exports_pipeline.engine.export import run_export
from exports_pipeline.engine.extract import (
    EVENT_SCHEMA,
    TOUCHPOINT_SCHEMA,
    day_spans,
    extract_events,
    with_schema,
)
from exports_pipeline.engine.plan import plan_export
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.engine.write import write_blocks
from exports_pipeline.store import schema
from exports_pipeline_tests.support.stores import SPACE, event, insert, space, touchpoint

T0 = dt.datetime(2024, 5, 1, 12, 0)


def _events() -> pl.DataFrame:
    # e1 (3 touches), then e2 and e3 at the same time (4 and 2 touches), then e4 (5).
    rows = [
        (1, T0, "p1", 1000),
        (3, T0 + dt.timedelta(hours=1), "p2", 1001),
        (2, T0 + dt.timedelta(hours=1), "p3", -7),
        (4, T0 + dt.timedelta(hours=2), "p4", None),
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            "id": pl.Int64,
            "event_time_utc": pl.Datetime("us"),
            "profile_id": pl.String,
            "amount_cents": pl.Int64,
        },
        orient="row",
    )
    return with_schema(frame.with_columns(company_id=pl.lit("c1")), EVENT_SCHEMA)


def _touchpoints() -> pl.DataFrame:
    sources = ["google_ads", "email", "direct", "facebook_ads", "google_organic"]
    rows = []
    touch_id = 100
    for profile, count in (("p1", 3), ("p3", 4), ("p2", 2), ("p4", 5)):
        for k in range(count):
            touch_id += 1
            # Two touches of p3 share a time: J orders them by id.
            hours = 30 - k if not (profile == "p3" and k == 2) else 29
            rows.append(
                (touch_id, profile, sources[(touch_id + k) % 5], T0 - dt.timedelta(hours=hours))
            )
    frame = pl.DataFrame(
        rows,
        schema={
            "id": pl.Int64,
            "profile_id": pl.String,
            "source": pl.String,
            "touch_time_utc": pl.Datetime("us"),
        },
        orient="row",
    )
    return with_schema(frame.with_columns(company_id=pl.lit("c1")), TOUCHPOINT_SCHEMA)


MODELS: list[dict[str, Any]] = [
    {"attribution_model": "linear"},
    {"attribution_model": "u_shaped"},
    {"attribution_model": "position_based", "position_weights": [40, 20]},
    {"attribution_model": "position_based", "position_weights": [0, 100]},
    {"attribution_model": "time_decay", "attribution_half_life_days": 1},
    {"attribution_model": "first_touch"},
    {"attribution_model": "last_non_direct_touch"},
    {"attribution_model": "linear_paid"},
]
ALL_SOURCES = ["google_ads", "email", "direct", "facebook_ads", "google_organic"]


def _request(model: dict[str, Any], mode: str, sources: list[str]) -> Any:
    body = {
        "date": "2024-05-01",
        "sources": sources,
        "attribution_window": 0,
        "query_mode": mode,
        "fields": ["amount", "source", "profile_id"],
        **model,
    }
    return parse_export_request(body)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: str(list(m.values())))
@pytest.mark.parametrize("mode", ["profile", "company"])
@pytest.mark.parametrize("sources", [ALL_SOURCES, ["google_ads", "email"]], ids=["all", "two"])
def test_every_slice_size_gives_the_same_bytes(model, mode, sources, tmp_path: Path) -> None:
    """Slices of 1 row put a boundary everywhere: inside an event's rows, between the two
    events of a tie, after the first event and before the last; 2, 3, 5 and 8 rows put
    them at some of those places only; 10**9 is one slice."""
    plan = plan_export(_events(), _touchpoints(), _request(model, mode, sources))
    whole = write_blocks(plan.blocks(10**9), tmp_path / "whole.gz", schema=plan.schema)
    expected = (tmp_path / "whole.gz").read_bytes()
    assert whole.row_count == plan.row_count
    if mode == "company" and sources == ALL_SOURCES and model == MODELS[0]:
        assert plan.row_count > 14  # every event reaches every touch of the company
    for slice_rows in (1, 2, 3, 5, 8):
        path = tmp_path / f"{slice_rows}.gz"
        written = write_blocks(plan.blocks(slice_rows), path, schema=plan.schema)
        assert path.read_bytes() == expected, f"slices of {slice_rows} rows"
        assert written.row_count == plan.row_count


@pytest.mark.parametrize("slice_rows", [1, 2, 3, 4, 13])
def test_slices_end_at_most_slice_rows_credited_rows_and_keep_spec_order(slice_rows) -> None:
    """Linear over all sources in profile mode: e1 (3 rows), e3 then e2 (a tie, by id: 2
    then 4 rows), e4 (5 rows); every slice but the last holds exactly `slice_rows` rows."""
    plan = plan_export(_events(), _touchpoints(), _request(MODELS[0], "profile", ALL_SOURCES))
    blocks = list(plan.blocks(slice_rows))
    assert [b.height for b in blocks[:-1]] == [slice_rows] * (len(blocks) - 1)
    rows = pl.concat(blocks)
    assert plan.row_count == 14
    assert rows["id"].to_list() == [1] * 3 + [2] * 4 + [3] * 2 + [4] * 5
    amounts = rows.group_by("id", maintain_order=True).agg(pl.col("amount").sum())
    assert [str(a) for a in amounts["amount"]][:3] == ["10.00", "-0.07", "10.01"]
    assert rows.filter(pl.col("id") == 4)["amount"].null_count() == 5


def test_slice_rows_below_one_is_refused() -> None:
    plan = plan_export(_events(), _touchpoints(), _request(MODELS[0], "profile", ALL_SOURCES))
    with pytest.raises(ValueError, match="slice_rows must be at least 1, not 0"):
        next(plan.blocks(0))


# Event times of the store below: a tie of three at 10:00, one at the window's first
# microsecond, one at its last.
DAY_START = dt.datetime(2024, 5, 1)
STORE_TIMES = [
    DAY_START,
    DAY_START + dt.timedelta(hours=10),
    DAY_START + dt.timedelta(hours=10),
    DAY_START + dt.timedelta(hours=10),
    DAY_START + dt.timedelta(hours=12),
    DAY_START + dt.timedelta(days=1, microseconds=-1),
]


@pytest.fixture
def spans_engine(store_engine: sa.Engine) -> sa.Engine:
    space(store_engine)
    insert(
        store_engine,
        schema.events,
        [event(i + 1, t, profile_id=f"p{i % 2}") for i, t in enumerate(STORE_TIMES)],
    )
    insert(
        store_engine,
        schema.touchpoints,
        [
            touchpoint(100 + k, DAY_START - dt.timedelta(hours=k), "email", profile_id=f"p{k % 2}")
            for k in range(7)
        ],
    )
    store_engine.dispose()
    return store_engine


@pytest.mark.parametrize(
    ("max_events", "sizes"),
    [(10, [6]), (6, [6]), (5, [5, 1]), (3, [1, 3, 2]), (2, [1, 3, 2]), (1, [1, 3, 1, 1])],
)
def test_day_spans_cover_the_day_and_never_split_a_tie(spans_engine, max_events, sizes) -> None:
    request = parse_export_request({"date": "2024-05-01"})
    spans = day_spans(
        spans_engine, space_id=SPACE, timezone="UTC", request=request, max_events=max_events
    )
    assert spans[0][0] == DAY_START and spans[-1][1] == DAY_START + dt.timedelta(days=1)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    counts = [
        extract_events(
            spans_engine, space_id=SPACE, timezone="UTC", request=request, span=span
        ).events.height
        for span in spans
    ]
    assert counts == sizes


@pytest.mark.parametrize("span_events", [1, 2, 4])
@pytest.mark.parametrize("model", MODELS[:5], ids=lambda m: str(list(m.values())))
def test_a_day_read_in_spans_writes_the_same_bytes(
    spans_engine, tmp_path: Path, model, span_events
) -> None:
    body = {"date": "2024-05-01", "sources": ["email"], "attribution_window": 0, **model}
    request = parse_export_request({**body, "fields": ["amount", "profile_id"]})
    whole = run_export(
        spans_engine, space_id=SPACE, timezone="UTC", request=request, path=tmp_path / "a.gz"
    )
    spanned = run_export(
        spans_engine,
        space_id=SPACE,
        timezone="UTC",
        request=request,
        path=tmp_path / "b.gz",
        span_events=span_events,
        whole_day_events=span_events,
        slice_rows=3,
    )
    # Events 1, 3, 5 (p0) reach p0's 4 touches, events 2, 4, 6 (p1) p1's 3; [0, 100]
    # credits the last touch only.
    assert whole.row_count == (6 if model.get("position_weights") == [0, 100] else 21)
    assert spanned == whole

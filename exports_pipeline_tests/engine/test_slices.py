"""Exports made slice by slice: same rows, order and bytes for every slice size, exact counts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from exports_pipeline.engine.attribution import plan_export
from exports_pipeline.engine.extract import EVENT_SCHEMA, TOUCHPOINT_SCHEMA, with_schema
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.engine.write import write_blocks

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

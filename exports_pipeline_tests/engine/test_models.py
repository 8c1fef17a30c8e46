"""The registry of attribution models: one object per vocabulary name, and what it knows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from exports_pipeline.engine.models import MODELS, FirstTouch, LastTouch, registry
from exports_pipeline.engine.plan import ExportTooLarge, check_row_limit, plan_export
from exports_pipeline.engine.request import (
    ExportRequest,
    InvalidExportRequest,
    parse_export_request,
)
from exports_pipeline.vocabulary import ATTRIBUTION_MODELS
from exports_pipeline_tests.support import oracle
from exports_pipeline_tests.support.frames import (
    EVENT_TIME,
    events_frame,
    touches,
    touchpoints_frame,
)

# A value of each model parameter a request accepts.
PARAMETERS: dict[str, Any] = {"attribution_half_life_days": 2, "position_weights": [30, 50]}
SOURCES = ["google_ads", "email", "direct", "facebook_ads"]


def _request(model: str) -> ExportRequest:
    body = {
        "date": "2024-05-01",
        "sources": SOURCES,
        "attribution_model": model,
        "attribution_window": 0,
        "fields": ["amount"],
        **{key: PARAMETERS[key] for key in MODELS[model].parameters},
    }
    return parse_export_request(body)


def test_every_vocabulary_model_has_exactly_one_registry_entry_and_vice_versa() -> None:
    assert list(MODELS) == list(ATTRIBUTION_MODELS)
    assert all(name == model.name for name, model in MODELS.items())
    assert len({type(model) for model in MODELS.values()}) == len(MODELS)


def test_the_registry_refuses_two_models_of_one_name() -> None:
    with pytest.raises(ValueError, match="two attribution models are named 'first_touch'"):
        registry(FirstTouch(), LastTouch(), FirstTouch())


def test_the_models_parameters_are_request_fields_of_one_model_each() -> None:
    owners = [(key, m.name) for m in MODELS.values() for key in m.parameters]
    assert owners == [
        ("attribution_half_life_days", "time_decay"),
        ("position_weights", "position_based"),
    ]
    assert {key for key, _ in owners} <= set(ExportRequest.model_fields)
    assert all(set(m.required) <= set(m.parameters) for m in MODELS.values())


def test_paid_only_models() -> None:
    paid_only = {name for name, m in MODELS.items() if m.paid_only}
    assert paid_only == {"first_platform_touch", "last_platform_touch", "linear_paid"}


@pytest.mark.parametrize("model", ATTRIBUTION_MODELS)
def test_the_row_limit_suggests_a_single_touch_model_unless_the_model_credits_an_end(
    model: str,
) -> None:
    with pytest.raises(ExportTooLarge) as raised:
        check_row_limit(11, 10, _request(model))
    suggested = "a single-touch model such as `last_touch`" in str(raised.value)
    ends = ("first_touch", "last_touch", "first_platform_touch", "last_platform_touch")
    assert suggested == (model not in ends)


@pytest.mark.parametrize("model", ATTRIBUTION_MODELS)
def test_every_model_counts_its_rows_exactly_and_slices_them_alike(model: str) -> None:
    events = events_frame(
        [
            {"id": i, "event_time_utc": EVENT_TIME, "profile_id": "p1", "amount": f"{i}7.03"}
            for i in range(1, 4)
        ]
    )
    journey = touches(
        *(
            (10 + i, dt.timedelta(days=3 * i), SOURCES[i % len(SOURCES)])
            for i in range(len(SOURCES) * 2)
        )
    )
    plan = plan_export(events, touchpoints_frame(journey), _request(model))
    whole = plan.collect()
    assert plan.row_count == whole.height > 0
    for slice_rows in (1, 2, 5):
        blocks = list(plan.blocks(slice_rows))
        assert all(block.height for block in blocks)
        assert sum(block.height for block in blocks) == whole.height
        assert [row for block in blocks for row in block.rows()] == whole.rows()


def test_the_oracle_credits_every_model_of_the_vocabulary_once() -> None:
    assert list(oracle.CREDITS) == list(ATTRIBUTION_MODELS)


def test_a_model_that_is_no_name_is_a_field_error_and_no_crash() -> None:
    # The registry is asked only by name: a list there used to raise TypeError (unhashable).
    body = {"date": "2024-05-01", "sources": ["email"], "attribution_window": 7}
    with pytest.raises(InvalidExportRequest) as raised:
        parse_export_request({**body, "attribution_model": []})
    assert str(raised.value) == "attribution_model: Input should be a valid string"

"""The launchpad form is ExportRequest's: its fields, optional, typed and described as there."""

import pytest
from dagster import DagsterInvalidConfigError, validate_run_config

from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline_tests.support.small_store import SPACE

REQUEST_SCHEMA = ExportRequest.model_json_schema()["properties"]


def test_the_form_has_the_request_fields_in_order_after_export_id_and_space_id():
    request_fields = [name for name in ExportRequest.model_fields if name != "date"]
    assert list(ExportRequestConfig.model_fields) == ["export_id", "space_id", *request_fields]


@pytest.mark.parametrize("name", [n for n in ExportRequest.model_fields if n != "date"])
def test_each_request_field_is_optional_on_the_form_with_the_request_description(name):
    field = ExportRequestConfig.model_fields[name]
    assert (field.is_required(), field.default) == (False, None)
    described = REQUEST_SCHEMA[name].get("description")
    assert field.description == described or described is None


@pytest.mark.parametrize(
    ("name", "annotation"),
    [
        ("query_mode", str | None),
        ("event_names", list[str] | None),
        ("attribution_window", int | None),
        ("position_weights", list[int] | None),
        ("format", str | None),
        ("max_rows_per_file", int | None),
    ],
)
def test_a_field_takes_its_json_type_not_its_rule(name, annotation):
    assert ExportRequestConfig.model_fields[name].annotation == annotation


def test_a_field_without_a_description_names_its_values_and_default():
    assert ExportRequestConfig.model_fields["query_mode"].description == (
        "One of profile, company (default profile)."
    )


def _launch(config: dict) -> dict:
    return {"ops": {"validate_request": {"config": config}}}


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"export_id": 7},
        {"space_id": SPACE, "format": "csv", "max_rows_per_file": 1_000},
        # A value breaking a rule reaches the run, which fails the export naming it.
        {"space_id": SPACE, "format": "xlsx", "attribution_window": 5},
        {"space_id": SPACE, "sources": ["google_ads"], "position_weights": [40, 40]},
    ],
)
def test_the_launchpad_accepts_any_value_of_the_right_json_type(config):
    validate_run_config(event_export_job, _launch(config))


@pytest.mark.parametrize(
    "config",
    [
        {"space_id": SPACE, "format": 3},
        {"space_id": SPACE, "sources": "google_ads"},
        {"space_id": SPACE, "date": "2024-01-15"},
        {"space_id": SPACE, "unknown": 1},
    ],
)
def test_the_launchpad_refuses_a_wrong_json_type_or_an_unknown_field(config):
    with pytest.raises(DagsterInvalidConfigError):
        validate_run_config(event_export_job, _launch(config))

"""ExportRequest is the one schema: exact field errors, nulls, lookback, and its JSON schema."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from exports_pipeline.engine.request import (
    ExportRequest,
    InvalidExportRequest,
    params_from_json,
    parse_export_body,
    parse_export_request,
)
from exports_pipeline.vocabulary import ATTRIBUTION_WINDOWS, EXPORT_FIELDS, SOURCES

D = "2024-01-15"
ATTR = {"sources": ["google_ads"], "attribution_model": "last_touch", "attribution_window": 7}

# Each broken rule is one error, worded as the API has always worded it: no pydantic
# internals (union branches, validator names) leak into a message.
EXACT: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    (
        "empty list",
        {"date": D, "event_names": []},
        [("event_names", "must contain at least 1 item")],
    ),
    (
        "too many sources",
        {"date": D, **ATTR, "sources": list(SOURCES[:16])},
        [("sources", "must contain at most 15 items, got 16")],
    ),
    (
        "item not a string",
        {"date": D, "fields": ["id", 3]},
        [("fields", "item 1: Input should be a valid string")],
    ),
    ("not a list", {"date": D, "fields": "id"}, [("fields", "Input should be a valid list")]),
    (
        "window a boolean",
        {"date": D, **ATTR, "attribution_window": True},
        [("attribution_window", "must be an integer, not a boolean")],
    ),
    (
        "window not allowed",
        {"date": D, **ATTR, "attribution_window": 3},
        [("attribution_window", "must be one of 0, 1, 7, 14, 30, 60, 90")],
    ),
    (
        "null sources is one error, not also a missing model and window",
        {"date": D, "sources": None},
        [("sources", "must not be null (omit an optional field instead)")],
    ),
    (
        "null model is one error, not also 'requires sources'",
        {"date": D, "attribution_model": None},
        [("attribution_model", "must not be null (omit an optional field instead)")],
    ),
    (
        "field errors and combinations together",
        {"date": "2023-02-29", "attribution_window": "7", "fields": ["ad_name"], "colour": "red"},
        [
            ("date", "'2023-02-29' is not a real calendar date"),
            ("attribution_window", "Input should be a valid integer"),
            ("colour", "unknown field (not part of the request)"),
            ("attribution_window", "requires sources"),
            ("fields", "ad_name requires sources"),
        ],
    ),
    (
        "a message with braces is no template",
        {"date": D, "fields": ["{error}"]},
        [("fields", "unknown field '{error}'")],
    ),
]


@pytest.mark.parametrize(("body", "errors"), [c[1:] for c in EXACT], ids=[c[0] for c in EXACT])
def test_each_broken_rule_is_one_exact_error(body: dict[str, Any], errors: list[tuple[str, str]]):
    with pytest.raises(InvalidExportRequest) as caught:
        parse_export_request(body)
    assert [(e.field, e.message) for e in caught.value.errors] == errors


def test_the_date_against_today_is_reported_with_the_other_errors() -> None:
    now = dt.datetime(2024, 6, 15, 12, tzinfo=dt.UTC)
    with pytest.raises(InvalidExportRequest) as caught:
        parse_export_body(
            b'{"date": "2024-06-16", "fields": []}',
            timezone="UTC",
            earliest=dt.date(2020, 1, 1),
            now=now,
        )
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("fields", "must contain at least 1 item"),
        ("date", "must not be after today (2024-06-15 in UTC)"),
    ]


@pytest.mark.parametrize(
    ("window", "lookback"),
    [(0, None), (1, dt.timedelta(days=1)), (90, dt.timedelta(days=90))],
)
def test_window_zero_is_a_lifetime_lookback(window: int, lookback: dt.timedelta | None) -> None:
    request = parse_export_request({"date": D, **ATTR, "attribution_window": window})
    assert request.lookback == lookback


def test_an_unattributed_request_has_no_lookback() -> None:
    assert parse_export_request({"date": D}).lookback is None


def test_json_schema_documents_the_rules_and_no_null() -> None:
    schema = ExportRequest.model_json_schema()
    props = schema["properties"]
    assert schema["required"] == ["date"] and schema["additionalProperties"] is False
    assert set(props) == {
        "date",
        "query_mode",
        "event_names",
        "sources",
        "attribution_model",
        "attribution_window",
        "fields",
        "attribution_half_life_days",
        "position_weights",
        "format",
        "max_rows_per_file",
    }
    assert props["format"]["enum"] == ["ndjson", "csv", "parquet"]
    assert (props["max_rows_per_file"]["minimum"], props["max_rows_per_file"]["maximum"]) == (
        1_000,
        10_000_000,
    )
    assert props["max_rows_per_file"]["type"] == "integer"
    assert (
        props["attribution_half_life_days"]["minimum"],
        props["position_weights"]["maxItems"],
    ) == (
        1,
        2,
    )
    assert (props["event_names"]["maxItems"], props["sources"]["maxItems"]) == (10, 15)
    assert props["fields"]["maxItems"] == 20 and props["fields"]["uniqueItems"] is True
    assert props["fields"]["items"]["enum"] == list(EXPORT_FIELDS)
    assert props["attribution_window"]["enum"] == list(ATTRIBUTION_WINDOWS)
    for name, prop in props.items():
        assert "anyOf" not in prop and prop.get("type") != "null", name
        assert prop.get("default", "absent") is not None, name


@pytest.mark.parametrize(
    ("text", "result"),
    [
        ("{}", {}),
        ('{"sources": ["email"]}', {"sources": ["email"]}),
        ("[]", "must be a JSON object without a date"),
        ('{"date": "2024-01-15"}', "must be a JSON object without a date"),
        ("{", "is not JSON"),
    ],
)
def test_params_from_json(text: str, result: dict[str, Any] | str) -> None:
    if isinstance(result, dict):
        assert params_from_json(text) == result
    else:
        with pytest.raises(ValueError, match=result):
            params_from_json(text)

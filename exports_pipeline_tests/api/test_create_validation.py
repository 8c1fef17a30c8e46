"""Every rule of SPEC 2.1: valid edge values are 202, each broken rule a 422 naming it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.engine.models import MODELS
from exports_pipeline.store.exports import get_export
from exports_pipeline.vocabulary import (
    ATTRIBUTION_ONLY_FIELDS,
    EXPORT_FIELDS,
    ORGANIC_SOURCES,
    SOURCES,
    STANDARD_EVENT_NAMES,
)
from exports_pipeline_tests.support.api import EXPORTS, Keys, bearer, make_settings

# Noon UTC: already 2024-06-16 in Kiritimati (UTC+14), still 2024-06-15 in UTC.
NOW = dt.datetime(2024, 6, 15, 12, 0, tzinfo=dt.UTC)
TODAY_UTC = "2024-06-15"
TODAY_KIRITIMATI = "2024-06-16"
D = "2024-01-15"
ATTR = {"sources": ["google_ads"], "attribution_model": "last_touch", "attribution_window": 7}


@pytest.fixture(scope="module")
def store_engine(shared_engine: sa.Engine) -> sa.Engine:
    return shared_engine


@pytest.fixture(scope="module")
def keys(shared_keys: Keys) -> Keys:
    return shared_keys


@pytest.fixture(scope="module")
def api(
    shared_store_url: str, tmp_path_factory: pytest.TempPathFactory, keys: Keys
) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("home")
    settings = make_settings(shared_store_url, home, rate_limit_create_per_minute=10_000)
    with time_machine.travel(NOW, tick=True), TestClient(create_app(settings)) as client:
        yield client


TIME_DECAY = {**ATTR, "attribution_model": "time_decay"}
POSITION = {**ATTR, "attribution_model": "position_based", "position_weights": [40, 20]}

VALID: list[tuple[str, str, dict[str, Any]]] = [
    ("date only", "acme", {"date": D}),
    ("earliest date", "acme", {"date": "2020-01-01"}),
    ("today in UTC", "acme", {"date": TODAY_UTC}),
    ("today in a UTC+14 space", "kiri", {"date": TODAY_KIRITIMATI}),
    ("company mode", "acme", {"date": D, "query_mode": "company"}),
    ("profile mode", "acme", {"date": D, "query_mode": "profile"}),
    ("10 event names", "acme", {"date": D, "event_names": list(STANDARD_EVENT_NAMES[:10])}),
    ("custom_event_50", "acme", {"date": D, "event_names": ["custom_event_50", "purchase"]}),
    (
        "15 sources",
        "acme",
        {"date": D, **ATTR, "sources": list(SOURCES[:15])},
    ),
    ("window 0 (lifetime)", "acme", {"date": D, **ATTR, "attribution_window": 0}),
    ("window 90", "acme", {"date": D, **ATTR, "attribution_window": 90}),
    ("20 fields", "acme", {"date": D, **ATTR, "fields": list(EXPORT_FIELDS[:20])}),
    ("ad hierarchy with sources", "acme", {"date": D, **ATTR, "fields": ["ad_name", "amount"]}),
    (
        "paid-only model with one paid source",
        "acme",
        {
            "date": D,
            "sources": ["google_organic", "tiktok_ads"],
            "attribution_model": "linear_paid",
            "attribution_window": 30,
        },
    ),
    ("time_decay, default half-life", "acme", {"date": D, **TIME_DECAY}),
    ("half-life 1", "acme", {"date": D, **TIME_DECAY, "attribution_half_life_days": 1}),
    ("half-life 30", "acme", {"date": D, **TIME_DECAY, "attribution_half_life_days": 30}),
    *[
        (f"position_weights {w}", "acme", {"date": D, **POSITION, "position_weights": w})
        for w in ([40, 20], [0, 0], [50, 50], [100, 0], [0, 100], [1, 99])
    ],
    *[(f"format {f}", "acme", {"date": D, "format": f}) for f in ("ndjson", "csv", "parquet")],
    *[
        (f"max_rows_per_file {n}", "acme", {"date": D, "max_rows_per_file": n})
        for n in (1_000, 2_500, 10_000_000)
    ],
    (
        "parquet in parts, attributed",
        "acme",
        {"date": D, **ATTR, "format": "parquet", "max_rows_per_file": 5_000},
    ),
]


@pytest.mark.parametrize(("space", "body"), [v[1:] for v in VALID], ids=[v[0] for v in VALID])
def test_valid_request_is_queued(
    api: TestClient, keys: Keys, store_engine: sa.Engine, space: str, body: dict[str, Any]
) -> None:
    response = api.post(EXPORTS, json=body, headers=bearer(getattr(keys, space)))
    assert response.status_code == 202, response.text
    payload = response.json()
    assert payload["status"] == "queued" and payload["message"]
    assert response.headers["Location"] == f"{EXPORTS}/{payload['export_id']}"
    with store_engine.connect() as conn:
        record = get_export(conn, payload["export_id"])
    assert record is not None and record.space_id == space and record.status == "queued"
    params = {k: v for k, v in body.items() if k != "date"}
    assert record.params == {"query_mode": "profile", **params}
    assert record.date.isoformat() == body["date"]
    assert record.date.isoformat() == body["date"]


INVALID: list[tuple[str, dict[str, Any] | list[Any] | str | int | None, str, str]] = [
    # case, body, field named, rule substring
    ("date missing", {}, "date", "field required"),
    ("date not zero-padded", {"date": "2024-1-5"}, "date", "YYYY-MM-DD"),
    ("date with time", {"date": "2024-01-15T00:00:00"}, "date", "YYYY-MM-DD"),
    ("date not a real day", {"date": "2023-02-29"}, "date", "not a real calendar date"),
    ("date after today", {"date": TODAY_KIRITIMATI}, "date", "must not be after today"),
    ("date far in the future", {"date": "2999-01-01"}, "date", "must not be after today"),
    ("date before earliest", {"date": "2019-12-31"}, "date", "must not be before 2020-01-01"),
    ("date as a number", {"date": 20240115}, "date", "YYYY-MM-DD"),
    ("date null", {"date": None}, "date", "must not be null"),
    ("unknown query_mode", {"date": D, "query_mode": "account"}, "query_mode", "profile"),
    ("event_names empty", {"date": D, "event_names": []}, "event_names", "at least 1"),
    (
        "11 event names",
        {"date": D, "event_names": list(STANDARD_EVENT_NAMES[:11])},
        "event_names",
        "at most 10",
    ),
    (
        "duplicate event name",
        {"date": D, "event_names": ["purchase", "purchase"]},
        "event_names",
        "duplicate value 'purchase'",
    ),
    (
        "custom_event_51",
        {"date": D, "event_names": ["custom_event_51"]},
        "event_names",
        "unknown event name 'custom_event_51'",
    ),
    ("event_names a string", {"date": D, "event_names": "purchase"}, "event_names", "list"),
    ("event name a number", {"date": D, "event_names": [7]}, "event_names", "string"),
    (
        "16 sources",
        {"date": D, **ATTR, "sources": list(SOURCES[:16])},
        "sources",
        "at most 15",
    ),
    (
        "duplicate source",
        {"date": D, **ATTR, "sources": ["email", "email"]},
        "sources",
        "duplicate value 'email'",
    ),
    (
        "unknown source",
        {"date": D, **ATTR, "sources": ["myspace_ads"]},
        "sources",
        "unknown source 'myspace_ads'",
    ),
    ("sources empty", {"date": D, **ATTR, "sources": []}, "sources", "at least 1"),
    (
        "sources without model",
        {"date": D, "sources": ["email"], "attribution_window": 7},
        "attribution_model",
        "required when sources is given",
    ),
    (
        "sources without window",
        {"date": D, "sources": ["email"], "attribution_model": "linear"},
        "attribution_window",
        "required when sources is given",
    ),
    (
        "unknown model",
        {"date": D, **ATTR, "attribution_model": "data_driven"},
        "attribution_model",
        "must be one of",
    ),
    (
        "window not allowed",
        {"date": D, **ATTR, "attribution_window": 3},
        "attribution_window",
        "must be one of 0, 1, 7, 14, 30, 60, 90",
    ),
    (
        "window as a string",
        {"date": D, **ATTR, "attribution_window": "7"},
        "attribution_window",
        "integer",
    ),
    (
        "window as true",
        {"date": D, **ATTR, "attribution_window": True},
        "attribution_window",
        "not a boolean",
    ),
    (
        "window as a float",
        {"date": D, **ATTR, "attribution_window": 7.0},
        "attribution_window",
        "integer",
    ),
    (
        "model without sources",
        {"date": D, "attribution_model": "linear"},
        "attribution_model",
        "requires sources",
    ),
    (
        "window without sources",
        {"date": D, "attribution_window": 7},
        "attribution_window",
        "requires sources",
    ),
    ("fields empty", {"date": D, "fields": []}, "fields", "at least 1"),
    (
        "21 fields",
        {"date": D, **ATTR, "fields": list(EXPORT_FIELDS[:21])},
        "fields",
        "at most 20",
    ),
    (
        "duplicate field",
        {"date": D, "fields": ["amount", "amount"]},
        "fields",
        "duplicate value 'amount'",
    ),
    ("unknown field", {"date": D, "fields": ["email"]}, "fields", "unknown field 'email'"),
    *[
        (
            f"{name} without sources",
            {"date": D, "fields": ["amount", name]},
            "fields",
            f"{name} requires sources",
        )
        for name in sorted(ATTRIBUTION_ONLY_FIELDS)
    ],
    *[
        (
            f"{model} with organic sources only",
            {
                "date": D,
                "sources": list(ORGANIC_SOURCES[:3]),
                "attribution_model": model,
                "attribution_window": 7,
            },
            "attribution_model",
            f"{model} requires at least one paid",
        )
        for model in sorted(name for name, m in MODELS.items() if m.paid_only)
    ],
    *[
        (f"{name} null", {"date": D, name: None}, name, "must not be null")
        for name in (
            "query_mode",
            "event_names",
            "sources",
            "attribution_model",
            "attribution_window",
            "fields",
        )
    ],
    *[
        (
            f"half-life {value!r}",
            {"date": D, **TIME_DECAY, "attribution_half_life_days": value},
            "attribution_half_life_days",
            rule,
        )
        for value, rule in (
            (0, "must be from 1 to 30"),
            (31, "must be from 1 to 30"),
            (-7, "must be from 1 to 30"),
            ("7", "valid integer"),
            (True, "must be an integer, not a boolean"),
            (7.0, "valid integer"),
            ([7], "valid integer"),
            (None, "must not be null"),
        )
    ],
    *[
        (f"format {value!r}", {"date": D, "format": value}, "format", rule)
        for value, rule in (
            ("json", "must be one of ndjson, csv, parquet"),
            ("NDJSON", "must be one of ndjson, csv, parquet"),
            ("csv.gz", "must be one of ndjson, csv, parquet"),
            ("", "must be one of ndjson, csv, parquet"),
            (1, "valid string"),
            (True, "valid string"),
            (["csv"], "valid string"),
            (None, "must not be null"),
        )
    ],
    *[
        (
            f"max_rows_per_file {value!r}",
            {"date": D, "max_rows_per_file": value},
            "max_rows_per_file",
            rule,
        )
        for value, rule in (
            (999, "must be from 1,000 to 10,000,000 (rows)"),
            (0, "must be from 1,000 to 10,000,000 (rows)"),
            (-1000, "must be from 1,000 to 10,000,000 (rows)"),
            (10_000_001, "must be from 1,000 to 10,000,000 (rows)"),
            (True, "must be an integer, not a boolean"),
            (1000.0, "valid integer"),
            (1000.5, "valid integer"),
            ("1000", "valid integer"),
            ([1000], "valid integer"),
            (None, "must not be null"),
        )
    ],
    *[
        (
            f"half-life with {model}",
            {"date": D, **ATTR, "attribution_model": model, "attribution_half_life_days": 7},
            "attribution_half_life_days",
            "allowed only with attribution_model time_decay",
        )
        for model in ("linear", "position_based", "u_shaped")
    ],
    (
        "half-life without sources",
        {"date": D, "attribution_half_life_days": 7},
        "attribution_half_life_days",
        "allowed only with attribution_model time_decay",
    ),
    *[
        (
            f"position_weights {value!r}",
            {"date": D, **POSITION, "position_weights": value},
            "position_weights",
            rule,
        )
        for value, rule in (
            ([60, 50], "first + last must be at most 100, got 110"),
            ([100, 1], "first + last must be at most 100, got 101"),
            ([101, 0], "each weight must be from 0 to 100"),
            ([0, -1], "each weight must be from 0 to 100"),
            ([30], "must be 2 integers [first, last], got 1 items"),
            ([30, 30, 30], "must be 2 integers [first, last], got 3 items"),
            ([], "must be 2 integers [first, last], got 0 items"),
            ([True, 0], "item 0: must be an integer, not a boolean"),
            ([30, 30.0], "item 1: Input should be a valid integer"),
            (["30", 30], "item 0: Input should be a valid integer"),
            ([30, None], "item 1: Input should be a valid integer"),
            ("30,30", "valid list"),
            ({"first": 30, "last": 30}, "valid list"),
            (30, "valid list"),
            (None, "must not be null"),
        )
    ],
    *[
        (
            f"position_weights with {model}",
            {"date": D, **ATTR, "attribution_model": model, "position_weights": [40, 20]},
            "position_weights",
            "allowed only with attribution_model position_based",
        )
        for model in ("linear", "time_decay", "u_shaped")
    ],
    (
        "position_weights without sources",
        {"date": D, "position_weights": [40, 20]},
        "position_weights",
        "allowed only with attribution_model position_based",
    ),
    (
        "position_based without position_weights",
        {"date": D, **ATTR, "attribution_model": "position_based"},
        "position_weights",
        "required with attribution_model position_based",
    ),
    ("unknown key", {"date": D, "compression": "zstd"}, "compression", "unknown field"),
    ("body a list", [{"date": D}], "body", "must be a JSON object"),
    ("body a string", "2024-01-15", "body", "must be a JSON object"),
    ("body a number", 7, "body", "must be a JSON object"),
    ("body null", None, "body", "must be a JSON object"),
]


@pytest.mark.parametrize(
    ("body", "field", "rule"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_broken_rule_is_422_naming_field_and_rule(
    api: TestClient, keys: Keys, body: object, field: str, rule: str
) -> None:
    response = api.post(EXPORTS, content=json.dumps(body), headers=bearer(keys.acme))
    assert response.status_code == 422, response.text
    payload = response.json()
    assert field in payload["message"] and rule in payload["message"]
    assert any(e["field"] == field and rule in e["message"] for e in payload["errors"])
    assert response.headers["X-RateLimit-Limit"] == "10000"


@pytest.mark.parametrize(
    "raw",
    [b"", b"   ", b"{", b"date=2024-01-15", b'{"date": "2024-01-15",}', b"\xff\xfe{", b"[" * 5000],
    ids=["empty", "blank", "truncated", "form", "trailing comma", "not utf-8", "deep nesting"],
)
def test_body_that_is_not_json_is_422(api: TestClient, keys: Keys, raw: bytes) -> None:
    response = api.post(
        EXPORTS, content=raw, headers={**bearer(keys.acme), "Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "body"


def test_every_broken_rule_is_listed(api: TestClient, keys: Keys) -> None:
    body = {
        "date": "2023-02-29",
        "event_names": ["purchase", "purchase"],
        "attribution_window": "7",
        "fields": ["ad_name"],
        "colour": "red",
    }
    response = api.post(EXPORTS, json=body, headers=bearer(keys.acme))
    assert response.status_code == 422
    fields = [e["field"] for e in response.json()["errors"]]
    assert {"date", "event_names", "attribution_window", "fields", "colour"} <= set(fields)


def test_oversized_body_is_413(api: TestClient, keys: Keys) -> None:
    body = json.dumps({"date": D, "padding": "x" * 70_000})
    response = api.post(EXPORTS, content=body, headers=bearer(keys.acme))
    assert response.status_code == 413
    assert "too large" in response.json()["message"]
    assert "X-RateLimit-Remaining" in response.headers

"""time_decay and position_based parameters travel every entry point into the right rows."""

import datetime as dt
import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest
from dagster import RunConfig, build_schedule_context
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from exports_pipeline.api.app import create_app
from exports_pipeline.cli import app as cli
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.schedules import subscription_export_schedule
from exports_pipeline.store.exports import ExportRecord, exports_with_status
from exports_pipeline.store.keys import create_key
from exports_pipeline_tests.support.api import EXPORTS, bearer, make_settings
from exports_pipeline_tests.support.runs import run_to_completion
from exports_pipeline_tests.support.small_store import EXPORT_DATE, SPACE

# The small store's day: event 1 (100.00) has J = [touch 10 (facebook_ads, 23 h before),
# touch 11 (email, 1 h before)]; event 2 (null amount) has J = [touch 12 (email)].
BASE = {
    "sources": ["facebook_ads", "email"],
    "attribution_window": 30,
    "fields": ["amount"],
}
# (case, model parameters, rows as (event id, touchpoint id, amount))
CASES = [
    (
        # weights floor(2^32·2^(-82800/86400)) = 2210409722 and 2^32·2^(-3600/86400) ->
        # 4172697914: 34.63 and 65.37
        "time_decay, 1-day half-life",
        {"attribution_model": "time_decay", "attribution_half_life_days": 1},
        [(1, 10, "34.63"), (1, 11, "65.37"), (2, 12, None)],
    ),
    (
        # 3906136551 and 4277283299
        "time_decay, default 7 days",
        {"attribution_model": "time_decay"},
        [(1, 10, "47.73"), (1, 11, "52.27"), (2, 12, None)],
    ),
    (
        "position_based [40, 20]: two touches split 2:1",
        {"attribution_model": "position_based", "position_weights": [40, 20]},
        [(1, 10, "66.67"), (1, 11, "33.33"), (2, 12, None)],
    ),
    (
        "position_based [0, 100]: the first touch has no row",
        {"attribution_model": "position_based", "position_weights": [0, 100]},
        [(1, 11, "100.00"), (2, 12, None)],
    ),
]
PARAMS = [pytest.param(case[1], case[2], id=case[0]) for case in CASES]


def _expected(rows: list[tuple[int, int, str | None]]) -> list[tuple[int, int, Decimal | None]]:
    return [(e, t, None if a is None else Decimal(a)) for e, t, a in rows]


def _rows(files_root: Path, record: ExportRecord) -> list[tuple[int, int, Decimal | None]]:
    text = gzip.decompress((files_root / record.storage_key).read_bytes()).decode()
    lines = [json.loads(line, parse_float=Decimal) for line in text.splitlines()]
    return [(r["id"], r["touchpoint_id"], r["amount"]) for r in lines]


@pytest.mark.parametrize(("model", "rows"), PARAMS)
def test_an_api_export_runs_with_its_model_parameters(
    store, resources, instance, files_root, store_url, tmp_path, model, rows
):
    with store.engine.begin() as conn:
        key = create_key(conn, space_id=SPACE)
    body = {"date": EXPORT_DATE.isoformat(), **BASE, **model}
    with TestClient(create_app(make_settings(store_url, tmp_path / "home"))) as client:
        response = client.post(EXPORTS, json=body, headers=bearer(key))
    assert response.status_code == 202, response.text
    export_id = response.json()["export_id"]
    config = ExportRequestConfig(export_id=export_id)
    record = run_to_completion(
        store, resources, instance, run_config=RunConfig(ops={"validate_request": config})
    )
    assert record.id == export_id
    assert record.params == {"query_mode": "profile", **BASE, **model}
    assert _rows(files_root, record) == _expected(rows)


@pytest.mark.parametrize(("model", "rows"), PARAMS)
def test_a_launchpad_run_takes_the_parameters_from_its_config(
    store, resources, instance, files_root, model, rows
):
    config = ExportRequestConfig(space_id=SPACE, **BASE, **model)
    record = run_to_completion(
        store, resources, instance, run_config=RunConfig(ops={"validate_request": config})
    )
    assert (record.trigger, record.params) == ("ui", {"query_mode": "profile", **BASE, **model})
    assert _rows(files_root, record) == _expected(rows)


def test_a_launchpad_run_with_a_parameter_of_another_model_fails_without_an_export(
    store, resources, instance
):
    config = ExportRequestConfig(
        space_id=SPACE, **BASE, attribution_model="linear", position_weights=[40, 20]
    )
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=RunConfig(ops={"validate_request": config}),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    failure = result.failure_data_for_node("validate_request")
    assert failure is not None
    assert "position_weights: allowed only with attribution_model position_based" in str(
        failure.error
    )
    with store.engine.connect() as conn:
        assert exports_with_status(conn, "completed") == []
        assert exports_with_status(conn, "processing") == []


@pytest.mark.parametrize(("model", "rows"), PARAMS)
def test_a_backfill_takes_the_parameters_from_its_request_tag(
    store, resources, instance, files_root, model, rows
):
    tags = {
        "dagster/backfill": "abcdefgh",
        "space_id": SPACE,
        "export_request": json.dumps({**BASE, **model}),
    }
    record = run_to_completion(store, resources, instance, tags=tags)
    assert (record.trigger, record.params) == (
        "backfill",
        {"query_mode": "profile", **BASE, **model},
    )
    assert _rows(files_root, record) == _expected(rows)


def test_a_subscription_keeps_the_parameters_for_its_daily_exports(
    store, resources, instance, files_root, monkeypatch
):
    monkeypatch.setenv("EXPORTS_DATABASE_URL", store.database_url)
    model, rows = CASES[2][1], CASES[2][2]
    runner = CliRunner()
    request = json.dumps({**BASE, "attribution_model": "linear", "position_weights": [40, 20]})
    refused = runner.invoke(cli, ["subscriptions", "add", "--space", SPACE, "--request", request])
    assert refused.exit_code == 2
    assert "position_weights: allowed only with attribution_model position_based" in (
        refused.output
    )
    request = json.dumps({**BASE, **model})
    start = ["--start", EXPORT_DATE.isoformat()]
    added = runner.invoke(
        cli, ["subscriptions", "add", "--space", SPACE, "--request", request, *start]
    )
    assert added.exit_code == 0, added.output
    # 2026-03-10 has ended in Berlin at 23:00 UTC; this tick queues that day's export.
    when = dt.datetime(2026, 3, 10, 23, 15, tzinfo=dt.UTC)
    with build_schedule_context(scheduled_execution_time=when, resources={"store": store}) as ctx:
        subscription_export_schedule.evaluate_tick(ctx)
    with store.engine.connect() as conn:
        queued = [r for r in exports_with_status(conn, "queued") if r.space_id == SPACE]
    assert [(r.trigger, r.date, r.params) for r in queued] == [
        ("schedule", EXPORT_DATE, {"query_mode": "profile", **BASE, **model})
    ]
    config = ExportRequestConfig(export_id=queued[0].id)
    record = run_to_completion(
        store, resources, instance, run_config=RunConfig(ops={"validate_request": config})
    )
    assert _rows(files_root, record) == _expected(rows)

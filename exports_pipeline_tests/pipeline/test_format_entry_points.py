"""`format` and `max_rows_per_file` travel every entry point (launchpad, backfill tag,
subscription) into the stored request and the files of the export."""

import datetime as dt
import json

import pytest
from dagster import RunConfig, build_schedule_context
from typer.testing import CliRunner

from exports_pipeline.cli import app as cli
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.schedules import subscription_export_schedule
from exports_pipeline.store.exports import ExportRecord, exports_with_status
from exports_pipeline_tests.support.runs import run_to_completion
from exports_pipeline_tests.support.small_store import EXPORT_DATE, SPACE

# (case, the request's file parameters, the format recorded, the part files' names)
CASES = [
    ("csv in one file", {"format": "csv"}, "csv", None),
    (
        "parquet in parts",
        {"format": "parquet", "max_rows_per_file": 1_000},
        "parquet",
        ["part-00001.parquet"],
    ),
    ("ndjson in parts", {"max_rows_per_file": 5_000}, "ndjson", ["part-00001.ndjson.gz"]),
]
PARAMS = [pytest.param(*case[1:], id=case[0]) for case in CASES]


def _check(record: ExportRecord, files_root, params, fmt, part_names) -> None:
    assert record.params == {"query_mode": "profile", **params}
    assert record.format == fmt
    for key in record.file_keys:
        assert (files_root / key).is_file()
    if part_names is None:
        assert record.files is None and record.file_keys == [record.storage_key]
        assert record.storage_key.endswith({"csv": ".csv.gz"}.get(fmt, f".{fmt}"))
        return
    assert [f.file_name for f in record.files or ()] == part_names
    assert record.storage_key.endswith("/manifest.json")
    manifest = json.loads((files_root / record.storage_key).read_text())
    assert manifest["format"] == fmt and manifest["row_count"] == record.row_count == 2
    assert manifest["request"] == {"date": EXPORT_DATE.isoformat(), **record.params}


@pytest.mark.parametrize(("params", "fmt", "part_names"), PARAMS)
def test_a_launchpad_run_takes_them_from_its_config(
    store, resources, instance, files_root, params, fmt, part_names
):
    config = ExportRequestConfig(space_id=SPACE, **params)
    record = run_to_completion(
        store, resources, instance, run_config=RunConfig(ops={"validate_request": config})
    )
    _check(record, files_root, params, fmt, part_names)


@pytest.mark.parametrize(("params", "fmt", "part_names"), PARAMS)
def test_a_backfill_takes_them_from_its_request_tag(
    store, resources, instance, files_root, params, fmt, part_names
):
    tags = {"dagster/backfill": "abcdefgh", "space_id": SPACE, "export_request": json.dumps(params)}
    record = run_to_completion(store, resources, instance, tags=tags)
    assert record.trigger == "backfill"
    _check(record, files_root, params, fmt, part_names)


def test_a_subscription_keeps_them_for_its_daily_exports(
    store, resources, instance, files_root, monkeypatch
):
    monkeypatch.setenv("EXPORTS_DATABASE_URL", store.database_url)
    runner = CliRunner()
    refused = runner.invoke(
        cli, ["subscriptions", "add", "--space", SPACE, "--request", '{"max_rows_per_file": 10}']
    )
    assert refused.exit_code == 2
    assert "max_rows_per_file: must be from 1,000 to 10,000,000 (rows)" in refused.output
    _, params, fmt, part_names = CASES[1]
    request = json.dumps(params)
    start = ["--start", EXPORT_DATE.isoformat()]
    added = runner.invoke(
        cli, ["subscriptions", "add", "--space", SPACE, "--request", request, *start]
    )
    assert added.exit_code == 0, added.output
    when = dt.datetime(2026, 3, 10, 23, 15, tzinfo=dt.UTC)
    with build_schedule_context(scheduled_execution_time=when, resources={"store": store}) as ctx:
        subscription_export_schedule.evaluate_tick(ctx)
    with store.engine.connect() as conn:
        queued = [r for r in exports_with_status(conn, "queued") if r.space_id == SPACE]
    assert len(queued) == 1
    config = ExportRequestConfig(export_id=queued[0].id)
    record = run_to_completion(
        store, resources, instance, run_config=RunConfig(ops={"validate_request": config})
    )
    _check(record, files_root, params, fmt, part_names)

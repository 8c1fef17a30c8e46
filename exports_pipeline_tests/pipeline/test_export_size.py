"""An export's size is known before its rows are made: recorded, reported, and capped."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, RunConfig

from exports_pipeline.engine.export import run_export
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import StoreResource
from exports_pipeline.store.exports import create_export, get_export
from exports_pipeline_tests.support.small_store import ATTRIBUTED, EXPORT_DATE, SPACE

COMPANY_LIFETIME = {**ATTRIBUTED, "query_mode": "company", "attribution_window": 0}


def _rows(store: StoreResource, params: dict, tmp_path: Path) -> int:
    request = parse_export_request({**params, "date": EXPORT_DATE.isoformat()})
    return run_export(
        store.engine,
        space_id=SPACE,
        timezone="Europe/Berlin",
        request=request,
        path=tmp_path / "expected.gz",
    ).row_count


def _run(store: StoreResource, resources: dict, instance: DagsterInstance, params: dict):
    body = {**params, "date": EXPORT_DATE.isoformat()}
    with store.engine.begin() as conn:
        export_id = create_export(
            conn, space_id=SPACE, request=parse_export_request(body), trigger="api"
        )
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=RunConfig(ops={"validate_request": ExportRequestConfig(export_id=export_id)}),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    with store.engine.connect() as conn:
        return result, get_export(conn, export_id)


@pytest.mark.parametrize(
    ("params", "narrowing"),
    [
        (ATTRIBUTED, "fewer `sources`, a shorter `attribution_window`, `event_names`"),
        (
            COMPANY_LIFETIME,
            "instead of lifetime (0), `event_names` to export only some events, "
            '`query_mode` "profile"',
        ),
        ({}, "Narrow it with `event_names` to export only some events."),
    ],
    ids=["linear", "company-lifetime", "plain"],
)
def test_an_export_over_the_row_limit_fails_before_any_row_is_made(
    store, export_storage, instance, tmp_path, params, narrowing
):
    rows = _rows(store, params, tmp_path)
    assert rows > 1
    limited = StoreResource(database_url=store.database_url, max_export_rows=rows - 1)
    resources = {"store": limited, "export_storage": export_storage}
    result, record = _run(limited, resources, instance, params)
    assert not result.success
    assert record.status == "failed"
    assert record.message.startswith(
        f"The export would have {rows:,} rows, more than the {rows - 1:,} an export may have. "
    )
    assert narrowing in record.message
    assert not result.is_node_success("publish_export")


def test_an_export_at_the_row_limit_completes_and_records_its_progress(
    store, export_storage, instance, tmp_path
):
    rows = _rows(store, ATTRIBUTED, tmp_path)
    limited = StoreResource(database_url=store.database_url, max_export_rows=rows)
    resources = {"store": limited, "export_storage": export_storage}
    result, record = _run(limited, resources, instance, ATTRIBUTED)
    assert result.success
    assert (record.status, record.row_count) == ("completed", rows)
    assert (record.row_count_expected, record.rows_written) == (rows, rows)
    planned = result.output_for_node("split_attribution")
    assert planned.row_count == rows
    metadata = result.events_for_node("split_attribution")
    outputs = [e for e in metadata if e.event_type_value == "STEP_OUTPUT"]
    assert outputs[0].step_output_data.metadata["row_count_expected"].value == rows


@pytest.mark.parametrize(
    ("params", "spanned"),
    # Company mode selects the day's one event with a company: one span, read whole.
    [({}, True), (ATTRIBUTED, True), (COMPANY_LIFETIME, False)],
    ids=["plain", "linear", "company"],
)
def test_a_day_read_in_time_spans_gives_the_file_of_the_whole_day(
    store, export_storage, files_root, instance, tmp_path, params, spanned
):
    request = parse_export_request({**params, "date": EXPORT_DATE.isoformat()})
    expected = tmp_path / "expected.gz"
    run_export(
        store.engine, space_id=SPACE, timezone="Europe/Berlin", request=request, path=expected
    )
    one_event_spans = StoreResource(
        database_url=store.database_url, whole_day_events=1, span_events=1
    )
    resources = {"store": one_event_spans, "export_storage": export_storage}
    result, record = _run(one_event_spans, resources, instance, params)
    assert result.success
    assert (result.output_for_node("extract_events").spans is not None) == spanned
    assert (files_root / record.storage_key).read_bytes() == expected.read_bytes()
    assert record.row_count_expected == record.row_count

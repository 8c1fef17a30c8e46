"""Each op alone: it wires config and resources to one engine function and reports metadata."""

import gzip
import json

import polars as pl
import pytest
from dagster import Failure, RunConfig, build_op_context

from exports_pipeline.engine import attribution, extract, hierarchy
from exports_pipeline.engine.plan import ExportPlan
from exports_pipeline.engine.request import ExportRequest, parse_export_request
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.ops import (
    ExportTask,
    extract_events,
    publish_export,
    resolve_ad_hierarchy,
    split_attribution,
)
from exports_pipeline.store.exports import (
    create_export,
    get_export,
    mark_failed,
    mark_processing,
)
from exports_pipeline_tests.support.small_store import ATTRIBUTED, EXPORT_DATE, SPACE


def _task(store, export_id: int = 0) -> ExportTask:
    request = parse_export_request({**ATTRIBUTED, "date": EXPORT_DATE.isoformat()})
    return ExportTask(
        export_id=export_id, space_id=SPACE, timezone="Europe/Berlin", request=request
    )


def _invoke(op_def, resources: dict, *inputs):  # type: ignore[no-untyped-def]
    with build_op_context(resources=resources) as context:
        return op_def(context, *inputs)


def _processing_export(store) -> int:
    with store.engine.begin() as conn:
        export_id = create_export(conn, space_id=SPACE, request=_task(store).request, trigger="api")
        mark_processing(conn, export_id, run_id="run-1")
    return export_id


def test_validate_request_claims_the_export_and_hands_on_its_task(store, resources, instance):
    with store.engine.begin() as conn:
        export_id = create_export(conn, space_id=SPACE, request=_task(store).request, trigger="api")
    result = event_export_job.execute_in_process(
        op_selection=["validate_request"],
        partition_key=EXPORT_DATE.isoformat(),
        run_config=RunConfig(ops={"validate_request": ExportRequestConfig(export_id=export_id)}),
        resources=resources,
        instance=instance,
    )
    assert result.output_for_node("validate_request") == _task(store, export_id)
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert (record.status, record.run_id) == ("processing", result.run_id)
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["exports/worker_pid"].isdigit()


def test_extract_events_returns_the_engines_frames(store):
    task = _task(store)
    extracted = _invoke(extract_events, {"store": store}, task).value
    expected = extract.extract_events(
        store.engine, space_id=SPACE, timezone="Europe/Berlin", request=task.request
    )
    assert extracted.events.equals(expected.events)
    assert extracted.touchpoints.equals(expected.touchpoints)
    assert extracted.events["id"].to_list() == [1, 2]


def test_resolve_ad_hierarchy_names_the_ads(store):
    task = _task(store)
    extracted = extract.extract_events(
        store.engine, space_id=SPACE, timezone="Europe/Berlin", request=task.request
    )
    output = _invoke(resolve_ad_hierarchy, {"store": store}, task, extracted)
    expected = hierarchy.resolve_ad_hierarchy(
        store.engine, space_id=SPACE, touchpoints=extracted.touchpoints, request=task.request
    )
    assert output.value.equals(expected)
    assert output.metadata["touchpoint_rows"].value == expected.height


def test_split_attribution_reports_rows_and_the_files_columns_never_a_row(store):
    task = _task(store)
    extracted = extract.extract_events(
        store.engine, space_id=SPACE, timezone="Europe/Berlin", request=task.request
    )
    touchpoints = hierarchy.resolve_ad_hierarchy(
        store.engine, space_id=SPACE, touchpoints=extracted.touchpoints, request=task.request
    )
    output = _invoke(split_attribution, {"store": store}, task, extracted, touchpoints)
    expected = attribution.split_attribution(extracted.events, touchpoints, task.request)
    assert output.value.collect().equals(expected)
    assert output.metadata["rows"].value == expected.height
    columns = output.metadata["columns"].value.columns
    assert [(column.name, column.type) for column in columns] == [
        (name, str(dtype)) for name, dtype in expected.schema.items()
    ]
    names = [column.name for column in columns]
    assert names[:4] == ["id", "event_time_utc", "touchpoint_id", "source"]
    assert "preview" not in output.metadata
    assert "Ad One" in expected["ad_name"].to_list()
    assert "Ad One" not in repr(output.metadata)


def test_publish_export_stores_the_file_then_completes_the_export(
    store, export_storage, files_root
):
    export_id = _processing_export(store)
    rows = pl.DataFrame({"id": [1, 2], "event_name": ["purchase", "sign_up"]})
    resources = {"store": store, "export_storage": export_storage}
    task = _task(store, export_id)
    output = _invoke(publish_export, resources, task, ExportPlan.of_rows(rows, task.request))
    summary = output.value
    stored = (files_root / summary["storage_key"]).read_bytes()
    lines = [json.loads(line) for line in gzip.decompress(stored).splitlines()]
    assert [line["id"] for line in lines] == [1, 2]
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert (record.status, record.row_count, record.file_size_bytes, record.sha256) == (
        "completed",
        2,
        len(stored),
        summary["sha256"],
    )
    assert output.metadata["sha256"].value == record.sha256


def test_publish_export_discards_its_file_when_the_export_was_settled_meanwhile(
    store, export_storage, files_root
):
    export_id = _processing_export(store)
    with store.engine.begin() as conn:
        mark_failed(conn, export_id, message="cancelled")
    resources = {"store": store, "export_storage": export_storage}
    with pytest.raises(Failure, match="is failed; the file was discarded"):
        task = _task(store, export_id)
        rows = ExportPlan.of_rows(pl.DataFrame({"id": [1]}), task.request)
        _invoke(publish_export, resources, task, rows)
    assert not [p for p in files_root.rglob("*") if p.is_file()]
    with store.engine.connect() as conn:
        assert get_export(conn, export_id).message == "cancelled"


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "parquet"])
def test_publish_export_discards_every_part_and_the_manifest_when_the_export_was_settled(
    store, export_storage, files_root, fmt
):
    export_id = _processing_export(store)
    with store.engine.begin() as conn:
        mark_failed(conn, export_id, message="cancelled")
    body = {**ATTRIBUTED, "date": EXPORT_DATE.isoformat(), "format": fmt}
    request = parse_export_request({**body, "max_rows_per_file": 1_000})
    task = ExportTask(
        export_id=export_id, space_id=SPACE, timezone="Europe/Berlin", request=request
    )
    rows = ExportPlan.of_rows(pl.DataFrame({"id": list(range(2_500))}), request)
    resources = {"store": store, "export_storage": export_storage}
    with pytest.raises(Failure, match="is failed; the file was discarded"):
        _invoke(publish_export, resources, task, rows)
    assert not [p for p in files_root.rglob("*") if p.is_file()]
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert (record.status, record.message, record.files) == ("failed", "cancelled", None)


def test_publish_export_stores_parts_then_the_manifest(store, export_storage, files_root):
    export_id = _processing_export(store)
    request = parse_export_request(
        {"date": EXPORT_DATE.isoformat(), "format": "csv", "max_rows_per_file": 1_000}
    )
    task = ExportTask(
        export_id=export_id, space_id=SPACE, timezone="Europe/Berlin", request=request
    )
    rows = ExportPlan.of_rows(pl.DataFrame({"id": list(range(2_500))}), request)
    output = _invoke(publish_export, {"store": store, "export_storage": export_storage}, task, rows)
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert (record.status, record.format, record.row_count) == ("completed", "csv", 2_500)
    assert [(f.part, f.row_count) for f in record.files] == [(1, 1000), (2, 1000), (3, 500)]
    assert output.value["parts"] == output.metadata["parts"].value == 3
    manifest = json.loads((files_root / record.storage_key).read_bytes())
    assert [p["key"] for p in manifest["parts"]] == [f.key for f in record.files]
    assert record.file_size_bytes == sum(
        (files_root / f.key).stat().st_size for f in record.files
    )


def test_the_launch_config_has_every_request_field_but_the_date():
    request_fields = set(ExportRequest.model_fields) - {"date"}
    assert request_fields <= set(ExportRequestConfig.model_fields)
    assert set(ExportRequestConfig.model_fields) - request_fields == {"export_id", "space_id"}

"""event_export_job, run in process for every trigger, writes the engine's file; exports settle."""

import gzip
import json
from pathlib import Path

import pytest
from dagster import DagsterInstance, RunConfig

from exports_pipeline.engine.export import run_export
from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.failures import STORAGE_NOT_WRITABLE
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.partitions import export_date_partitions
from exports_pipeline.pipeline.resources import LocalStorageResource, StoreResource
from exports_pipeline.store.exports import (
    ExportRecord,
    create_export,
    exports_with_status,
    get_export,
)
from exports_pipeline_tests.support.small_store import ATTRIBUTED, EXPORT_DATE, SPACE


def _queued_export(store: StoreResource, space_id: str, body: dict) -> int:
    """An export queued as the API queues it: the body validated, then stored."""
    with store.engine.begin() as conn:
        return create_export(
            conn, space_id=space_id, request=parse_export_request(body), trigger="api"
        )


def _config(**fields) -> RunConfig:
    return RunConfig(ops={"validate_request": ExportRequestConfig(**fields)})


def _expected_file(store: StoreResource, params: dict, tmp_path: Path) -> bytes:
    request = parse_export_request({**params, "date": EXPORT_DATE.isoformat()})
    path = tmp_path / "expected.ndjson.gz"
    run_export(store.engine, space_id=SPACE, timezone="Europe/Berlin", request=request, path=path)
    return path.read_bytes()


def _stored_file(files_root: Path, key: str) -> bytes:
    return (files_root / key).read_bytes()


def _failed_run(
    store: StoreResource, export_id: int, partition_key: str, resources: dict, instance
) -> ExportRecord:
    """Run the job for a queued export, which must fail; the export's record after it."""
    result = event_export_job.execute_in_process(
        partition_key=partition_key,
        run_config=_config(export_id=export_id),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert record is not None
    return record


@pytest.mark.parametrize("params", [{}, ATTRIBUTED], ids=["plain", "attributed"])
def test_sensor_created_export_completes_with_the_engines_file(
    store, resources, instance: DagsterInstance, files_root, tmp_path, params
):
    export_id = _queued_export(store, SPACE, {**params, "date": EXPORT_DATE.isoformat()})
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=_config(export_id=export_id, space_id=SPACE, **params),
        resources=resources,
        instance=instance,
    )
    assert result.success
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert record.status == "completed"
    assert record.run_id == result.run_id
    assert record.message is None
    stored = _stored_file(files_root, record.storage_key)
    assert stored == _expected_file(store, params, tmp_path)
    lines = gzip.decompress(stored).decode().splitlines()
    assert record.row_count == len(lines) > 0
    assert record.file_size_bytes == len(stored)
    # No partial file is left next to the published one.
    assert [p.name for p in (files_root / record.storage_key).parent.iterdir()] == [
        Path(record.storage_key).name
    ]
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["export_id"] == str(export_id)
    assert tags["trigger"] == "api"


def test_plain_export_holds_the_two_local_day_events(store, resources, instance, files_root):
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=_config(space_id=SPACE, fields=["event_name"]),
        resources=resources,
        instance=instance,
    )
    assert result.success
    summary = result.output_for_node("publish_export")
    rows = [
        json.loads(line)
        for line in gzip.decompress(_stored_file(files_root, summary["storage_key"])).splitlines()
    ]
    assert [(r["id"], r["event_name"]) for r in rows] == [(1, "purchase"), (2, "sign_up")]


@pytest.mark.parametrize(
    ("tags", "trigger"),
    [({}, "ui"), ({"dagster/backfill": "abcdefgh"}, "backfill")],
    ids=["ui", "backfill"],
)
def test_run_without_export_id_creates_its_export(
    store, resources, instance, files_root, tmp_path, tags, trigger
):
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=_config(space_id=SPACE, **ATTRIBUTED),
        resources=resources,
        instance=instance,
        tags=tags,
    )
    assert result.success
    export_id = result.output_for_node("validate_request").export_id
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert (record.status, record.trigger, record.space_id, record.date) == (
        "completed",
        trigger,
        SPACE,
        EXPORT_DATE,
    )
    assert (
        record.params
        == parse_export_request({**ATTRIBUTED, "date": EXPORT_DATE.isoformat()}).to_params()
    )
    assert _stored_file(files_root, record.storage_key) == _expected_file(
        store, ATTRIBUTED, tmp_path
    )
    assert instance.get_run_by_id(result.run_id).tags["export_id"] == str(export_id)


def test_ui_run_with_an_invalid_request_fails_without_an_export(store, resources, instance):
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=_config(space_id=SPACE, sources=["facebook_ads"]),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    with store.engine.connect() as conn:
        assert exports_with_status(conn, "processing") == []
        assert exports_with_status(conn, "completed") == []


def test_queued_export_for_a_day_after_today_in_its_space_fails_with_the_rule(
    store, resources, instance
):
    # The last partition key is today in UTC+14, always the future in UTC-11 (Pago Pago).
    last_key = export_date_partitions.get_last_partition_key()
    export_id = _queued_export(store, "space-pago", {"date": last_key})
    record = _failed_run(store, export_id, last_key, resources, instance)
    assert record.status == "failed"
    assert "date: must not be after today" in record.message


def test_export_whose_partition_is_not_its_date_fails(store, resources, instance):
    export_id = _queued_export(store, SPACE, {"date": EXPORT_DATE.isoformat()})
    record = _failed_run(store, export_id, "2026-03-09", resources, instance)
    assert record.status == "failed"
    assert "is not the export date 2026-03-10" in record.message


def test_op_error_marks_the_export_failed_with_a_user_facing_message(store, instance, tmp_path):
    # A storage root that is a file: publishing raises inside publish_export.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    broken = LocalStorageResource(
        storage_dir=str(blocker), public_base_url="http://api.test", signing_secret="s"
    )
    export_id = _queued_export(store, SPACE, {"date": EXPORT_DATE.isoformat()})
    record = _failed_run(
        store,
        export_id,
        EXPORT_DATE.isoformat(),
        {"store": store, "export_storage": broken},
        instance,
    )
    assert (record.status, record.message) == ("failed", STORAGE_NOT_WRITABLE)
    assert record.storage_key is None


def test_a_settled_export_is_not_run_again(store, resources, instance):
    export_id = _queued_export(store, SPACE, {"date": EXPORT_DATE.isoformat()})
    run = dict(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=_config(export_id=export_id),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert event_export_job.execute_in_process(**run).success
    with store.engine.connect() as conn:
        first = get_export(conn, export_id)
    again = event_export_job.execute_in_process(**run)
    assert not again.success
    with store.engine.connect() as conn:
        assert get_export(conn, export_id) == first


def test_a_backfill_names_its_space_and_request_with_tags(store, resources, instance):
    tags = {
        "dagster/backfill": "abcdefgh",
        "space_id": SPACE,
        "export_request": json.dumps(ATTRIBUTED),
    }
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        resources=resources,
        instance=instance,
        tags=tags,
    )
    assert result.success
    export_id = result.output_for_node("validate_request").export_id
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert (record.status, record.trigger, record.params["sources"]) == (
        "completed",
        "backfill",
        ATTRIBUTED["sources"],
    )


def test_a_launch_without_a_space_fails_before_making_an_export(store, resources, instance):
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    with store.engine.connect() as conn:
        assert exports_with_status(conn, "processing") == []

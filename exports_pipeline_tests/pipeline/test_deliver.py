"""The delivery step after publishing (SPEC 7.3): an export with a destination has its
published files pushed there, idempotently; one without (every export today) is left as
publishing left it, and no storage is built for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import DagsterInstance, RunConfig

from exports_pipeline.pipeline import deliver as deliver_module
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.deliver import deliver
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import StoreResource
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.destinations import PublishedFiles, destination_for
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.store.exports import ExportRecord, get_export
from exports_pipeline_tests.support.destinations import RecordingDestination
from exports_pipeline_tests.support.runs import (
    queue_export,
    serve_queued_export,
)
from exports_pipeline_tests.support.small_store import EXPORT_DATE, SPACE


def _no_storage() -> ExportStorage:
    raise AssertionError("no storage is built for an export without a destination")


def _published(record: ExportRecord, fmt: str) -> PublishedFiles:
    return PublishedFiles(
        export_id=record.id,
        space_id=SPACE,
        date=EXPORT_DATE,
        format=fmt,
        keys=tuple(record.file_keys),
    )


@pytest.mark.parametrize(
    ("params", "objects"),
    [({}, 1), ({"format": "csv", "max_rows_per_file": 1000}, None)],
    ids=["one-file", "parts"],
)
def test_the_step_pushes_the_published_files_to_the_destination(
    store: StoreResource,
    resources: dict,
    instance: DagsterInstance,
    files_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    params: dict,
    objects: int | None,
) -> None:
    destination = RecordingDestination()
    monkeypatch.setattr(deliver_module, "destination_for", lambda export: destination)
    record = serve_queued_export(store, resources, instance, params)
    assert destination.pushes == [_published(record, params.get("format", "ndjson"))]
    keys = destination.pushes[0].keys
    if objects is None:
        # Parts first, the manifest last, as they were published.
        assert len(keys) >= 2 and keys[-1] == record.storage_key
        assert keys[-1].endswith("/manifest.json")
        assert all(key.endswith(".csv.gz") for key in keys[:-1])
    else:
        assert keys == (record.storage_key,)
    (source,) = destination.sources
    assert isinstance(source, LocalExportStorage) and source.root == files_root


def test_without_a_destination_the_step_does_nothing(
    store: StoreResource, resources: dict, instance: DagsterInstance
) -> None:
    export_id = queue_export(store)
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=RunConfig(ops={"validate_request": ExportRequestConfig(export_id=export_id)}),
        resources=resources,
        instance=instance,
    )
    assert result.success and result.is_node_success("deliver_export")
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert record is not None and record.status == "completed"
    assert destination_for(record) is None
    assert deliver(store.engine, export_id, _no_storage, destinations=destination_for) is None


def test_pushing_an_export_twice_holds_what_pushing_it_once_did(
    store: StoreResource, resources: dict, instance: DagsterInstance, files_root: Path
) -> None:
    record = serve_queued_export(store, resources, instance, {})
    destination = RecordingDestination()
    storage = resources["export_storage"].get_storage

    first = deliver(store.engine, record.id, storage, destinations=lambda export: destination)
    once = dict(destination.held)
    second = deliver(store.engine, record.id, storage, destinations=lambda export: destination)
    assert first == second == _published(record, "ndjson")
    assert destination.pushes == [first, second]
    assert destination.held == once == {record.id: first}


def test_a_missing_export_is_not_delivered(store: StoreResource) -> None:
    destination = RecordingDestination()
    assert deliver(store.engine, 10**9, _no_storage, destinations=lambda e: destination) is None
    assert destination.pushes == []

"""SPEC 6.3 in the pipeline: a cancelled export never runs, its run is terminated, and
a run that reaches the publish after the cancel leaves no file and cannot complete it."""

from pathlib import Path

import pytest
from dagster import DagsterRunStatus, RunConfig

from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import LocalStorageResource, StoreResource
from exports_pipeline.pipeline.sensors import export_request_sensor, export_status_sensor
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.store.exports import (
    CANCELLED_MESSAGE,
    get_export,
    mark_cancelled,
    utcnow,
)
from exports_pipeline_tests.support.runs import evaluate_tick, queue_export
from exports_pipeline_tests.support.small_store import EXPORT_DATE, SPACE


def _cancel(store: StoreResource, export_id: int) -> bool:
    with store.engine.begin() as conn:
        return mark_cancelled(conn, export_id)


def _record(store: StoreResource, export_id: int):  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return get_export(conn, export_id)


def _run(store, export_id, resources, instance):  # type: ignore[no-untyped-def]
    return event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=RunConfig(
            ops={"validate_request": ExportRequestConfig(export_id=export_id, space_id=SPACE)}
        ),
        resources=resources,
        instance=instance,
        raise_on_error=False,
    )


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_cancelled_queued_export_is_never_requested(store, test_defs, instance):
    fresh = queue_export(store)
    stale = queue_export(store, created=utcnow().replace(year=2000))
    assert _cancel(store, fresh) and _cancel(store, stale)
    # Neither as a new export nor in the re-sweep of old queued exports without a run.
    assert evaluate_tick(export_request_sensor, test_defs, instance).run_requests == []
    assert evaluate_tick(export_request_sensor, test_defs, instance, cursor="0").run_requests == []


def test_a_run_requested_before_the_cancel_refuses_to_start(
    store, test_defs, resources, instance, files_root
):
    export_id = queue_export(store)
    (request,) = evaluate_tick(export_request_sensor, test_defs, instance).run_requests
    assert request.run_key == str(export_id)
    _cancel(store, export_id)
    result = _run(store, export_id, resources, instance)
    assert not result.success
    record = _record(store, export_id)
    assert (record.status, record.message, record.run_id) == (
        "cancelled",
        CANCELLED_MESSAGE,
        None,
    )
    assert _files(files_root) == []


class _CancelsOnPublish(LocalExportStorage):
    """Local storage that lets the cancel land in the middle of the atomic publish: after the
    last status check, before the rename."""

    def __init__(self, store: StoreResource, export_id: int, root: Path) -> None:
        super().__init__(root, public_base_url="http://api.test", signing_secret="s")
        self.store, self.export_id = store, export_id
        self.published: list[str] = []

    def put(self, local_path, key, *, content_type, sha256):  # type: ignore[no-untyped-def]
        assert _cancel(self.store, self.export_id)
        super().put(local_path, key, content_type=content_type, sha256=sha256)
        self.published.append(key)


class _Forbidden(ExportStorage):
    """Records publish calls (an assertion inside the op would only fail the export)."""

    def __init__(self) -> None:
        self.published: list[Path] = []

    def put(self, local_path, key, *, content_type, sha256):  # type: ignore[no-untyped-def]
        self.published.append(local_path)
        raise AssertionError("published after the cancel")

    def download_url(self, key, *, export_id, date, expires_in_seconds):  # type: ignore[no-untyped-def]
        raise AssertionError("unused")

    def exists(self, key):  # type: ignore[no-untyped-def]
        return False

    def delete(self, key):  # type: ignore[no-untyped-def]
        raise AssertionError("nothing to delete")


class _TestStorage(LocalStorageResource):
    """Hands out the storage a test sets up, as `publish_export` asks for it."""

    def get_storage(self) -> ExportStorage:
        return _STORAGE_OF_TEST[0]()


_STORAGE_OF_TEST: list = []


@pytest.mark.parametrize("moment", ["before the status check", "inside the atomic publish"])
def test_a_cancel_racing_the_publish_leaves_no_file_and_no_completion(
    store, instance, files_root, moment
):
    export_id = queue_export(store)
    racing = _CancelsOnPublish(store, export_id, files_root)
    forbidden = _Forbidden()
    cancels: list[bool] = []

    def cancel_then_forbid() -> ExportStorage:
        # publish_export fetches its storage first: the cancel lands before the check.
        cancels.append(_cancel(store, export_id))
        return forbidden

    _STORAGE_OF_TEST[:] = [cancel_then_forbid if moment.startswith("before") else lambda: racing]
    try:
        result = _run(
            store,
            export_id,
            {"store": store, "export_storage": _TestStorage(storage_dir=str(files_root))},
            instance,
        )
    finally:
        _STORAGE_OF_TEST.clear()
    assert not result.success
    record = _record(store, export_id)
    assert (record.status, record.storage_key, record.row_count) == ("cancelled", None, None)
    # Inside the publish the file did reach its final name; it was removed at once.
    if moment.startswith("before"):
        assert (cancels, forbidden.published, racing.published) == ([True], [], [])
    else:
        assert len(racing.published) == 1
    assert _files(files_root) == []


def test_the_status_sensor_terminates_the_runs_of_cancelled_exports(store, test_defs, instance):
    cancelled, kept = queue_export(store), queue_export(store)
    runs = {
        export_id: instance.create_run_for_job(
            job_def=event_export_job,
            status=DagsterRunStatus.STARTED,
            tags={"export_id": str(export_id)},
        )
        for export_id in (cancelled, kept)
    }
    _cancel(store, cancelled)
    evaluate_tick(export_status_sensor, test_defs, instance)
    # Termination went through the instance's run launcher (these runs have no worker to
    # stop, so they stay CANCELING; the daemon test sees a real run end CANCELED).
    assert instance.get_run_by_id(runs[cancelled].run_id).status == DagsterRunStatus.CANCELING
    assert instance.get_run_by_id(runs[kept].run_id).status == DagsterRunStatus.STARTED
    evaluate_tick(export_status_sensor, test_defs, instance)
    assert _record(store, cancelled).status == "cancelled"
    assert _record(store, kept).status == "queued"


def test_a_cancelled_export_whose_run_failed_stays_cancelled(store, test_defs, instance):
    export_id = queue_export(store)
    instance.create_run_for_job(
        job_def=event_export_job,
        status=DagsterRunStatus.FAILURE,
        tags={"export_id": str(export_id)},
    )
    _cancel(store, export_id)
    for _ in range(2):
        evaluate_tick(export_status_sensor, test_defs, instance)
    assert _record(store, export_id).status == "cancelled"

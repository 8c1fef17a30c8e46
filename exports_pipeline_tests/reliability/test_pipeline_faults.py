"""Faults during an export run (issue 7): nothing lost, nothing stuck, nothing partial.

Each test injects a real fault into `event_export_job` run in process (real Dagster
instance, real store, real storage) and prints its figure: faults injected, attempts,
outcome. Transient faults are retried by the ops' retry policies (short delays here) and
the export completes; permanent ones end in `failed` with a user-facing message, no
object under a final name, and no attempt marks the export failed before the last one.

- S3 answering 503: a proxy on 127.0.0.1 in front of moto's real server.
- A store connection dropped mid-query: PostgreSQL `pg_terminate_backend` on the run's
  query while it waits on a table lock the test holds.
- Full / unwritable local storage: a filled 64 KiB tmpfs (ENOSPC), an immutable folder
  (`chattr +i`, refused even to root), a storage root that is a file (ENOTDIR).
The real-process faults (killed worker, daemon and API restarts) are in
`exports_pipeline_tests/pipeline/test_integration.py` and `test_process_faults.py`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from dagster import (
    Backoff,
    DagsterEventType,
    DagsterInstance,
    RetryPolicy,
    RunConfig,
    mem_io_manager,
)

from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.failures import (
    STORAGE_FULL,
    STORAGE_NOT_WRITABLE,
    STORAGE_UNAVAILABLE,
    STORE_UNAVAILABLE,
)
from exports_pipeline.pipeline.job import build_export_job
from exports_pipeline.pipeline.resources import (
    LocalStorageResource,
    S3StorageResource,
    StoreResource,
)
from exports_pipeline.store.exports import get_export
from exports_pipeline_tests.support.faults import (
    BackendTerminator,
    fault_proxy,
    tiny_full_tmpfs,
)
from exports_pipeline_tests.support.runs import queue_export
from exports_pipeline_tests.support.s3 import BUCKET
from exports_pipeline_tests.support.small_store import ATTRIBUTED, EXPORT_DATE

FAST_RETRY = RetryPolicy(max_retries=3, delay=0.05, backoff=Backoff.EXPONENTIAL)
ATTEMPTS = FAST_RETRY.max_retries + 1
fast_job = build_export_job(storage_retry=FAST_RETRY, store_retry=FAST_RETRY)


def _run(store, instance: DagsterInstance, export_storage, export_id: int):  # type: ignore[no-untyped-def]
    return fast_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=RunConfig(ops={"validate_request": ExportRequestConfig(export_id=export_id)}),
        resources={"store": store, "export_storage": export_storage, "io_manager": mem_io_manager},
        instance=instance,
        raise_on_error=False,
    )


def _attempts(instance: DagsterInstance, run_id: str, step: str) -> int:
    """Attempts of `step`: 1 + the retries Dagster scheduled."""
    retried = instance.all_logs(run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
    return 1 + sum(1 for e in retried if e.step_key == step)


def _record(store: StoreResource, export_id: int):  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return get_export(conn, export_id)


# --- S3 answering 500/503 ---------------------------------------------------------------


def _s3_objects(client, prefix: str) -> list[str]:  # type: ignore[no-untyped-def]
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture
def flaky_s3(s3_endpoint, s3_client):  # type: ignore[no-untyped-def]
    """(proxy, storage resource): S3 through a proxy that can answer 503."""
    with fault_proxy(s3_endpoint) as proxy:
        resource = S3StorageResource(
            # max_attempts=0 (botocore's retries, not attempts): its own retries off, so the
            # op's retry policy is what rides out the fault (production keeps both layers).
            s3_endpoint_url=proxy.url,
            s3_region="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            s3_max_attempts=0,
            s3_bucket=BUCKET,
            s3_prefix=f"faults-{proxy.server_address[1]}",
        )
        yield proxy, resource


@pytest.mark.parametrize(
    ("status", "fail_writes"),
    [(503, 2), (500, 2), (503, -1)],
    ids=["503-twice", "500-twice", "503-every-attempt"],
)
def test_s3_5xx_is_retried_with_backoff_then_completes_or_fails_with_nothing_stored(
    store, instance, flaky_s3, s3_client, status, fail_writes
):
    proxy, resource = flaky_s3
    proxy.status, proxy.fail_writes = status, fail_writes
    export_id = queue_export(store)
    # The status each attempt finds when it writes: a retried attempt leaves it processing.
    statuses: list[str] = []
    proxy.on_write = lambda: statuses.append(_record(store, export_id).status)
    result = _run(store, instance, resource, export_id)
    record = _record(store, export_id)
    attempts = _attempts(instance, result.run_id, "publish_export")
    print(
        f"\nS3 {status} on publish: {proxy.injected} faults injected, {attempts} attempts, "
        f"export {record.status}: {record.message!r}"
    )
    assert statuses == ["processing"] * attempts
    if fail_writes > 0:
        assert (proxy.injected, attempts) == (fail_writes, fail_writes + 1)
        assert result.success
        assert (record.status, record.message) == ("completed", None)
        assert _s3_objects(s3_client, resource.s3_prefix) == [record.storage_key]
        body = s3_client.get_object(Bucket=BUCKET, Key=record.storage_key)["Body"].read()
        assert len(body) == record.file_size_bytes
    else:
        assert (proxy.injected, attempts) == (ATTEMPTS, ATTEMPTS)
        assert not result.success
        assert (record.status, record.message) == ("failed", STORAGE_UNAVAILABLE)
        assert record.storage_key is None
        assert _s3_objects(s3_client, resource.s3_prefix) == []


# --- The store's connection dropped mid-query (PostgreSQL) -------------------------------

DROPPED_QUERIES = [
    pytest.param("events", "extract_events", {}, id="extract_events"),
    pytest.param("ads", "resolve_ad_hierarchy", ATTRIBUTED, id="resolve_ad_hierarchy"),
]


def _local_storage(root: Path) -> LocalStorageResource:
    return LocalStorageResource(
        storage_dir=str(root), public_base_url="http://api.test", signing_secret="s"
    )


@pytest.mark.parametrize(("table", "step", "params"), DROPPED_QUERIES)
@pytest.mark.parametrize("times", [2, -1], ids=["twice", "every-attempt"])
def test_a_dropped_store_connection_is_retried_then_completes_or_fails_at_the_last_attempt(
    store_backend, store, instance, tmp_path, table, step, params, times
):
    if store_backend != "postgresql":
        pytest.skip("terminating a server backend needs PostgreSQL")
    export_id = queue_export(store, params)
    # The status each terminated query's attempt left: a retried one leaves it processing.
    statuses: list[str] = []
    killer = BackendTerminator(
        store.database_url,
        table,
        times=times,
        on_terminate=lambda: statuses.append(_record(store, export_id).status),
    )
    try:
        result = _run(store, instance, _local_storage(tmp_path / "files"), export_id)
    finally:
        killer.close()
    record = _record(store, export_id)
    attempts = _attempts(instance, result.run_id, step)
    print(
        f"\n{step}: {killer.terminated} queries terminated mid-flight, {attempts} attempts, "
        f"export {record.status}: {record.message!r}"
    )
    assert statuses == ["processing"] * killer.terminated
    if times > 0:
        assert (killer.terminated, attempts) == (times, times + 1)
        assert result.success
        assert (record.status, record.message) == ("completed", None)
        assert (tmp_path / "files" / record.storage_key).is_file()
    else:
        assert (killer.terminated, attempts) == (ATTEMPTS, ATTEMPTS)
        assert not result.success
        assert (record.status, record.message) == ("failed", STORE_UNAVAILABLE)
        assert record.storage_key is None
        assert not (tmp_path / "files").exists()


# --- Full or unwritable local storage -----------------------------------------------------


def _assert_fails_at_once_with(store, instance, root: Path, message: str, what: str) -> None:  # type: ignore[no-untyped-def]
    export_id = queue_export(store)
    result = _run(store, instance, _local_storage(root), export_id)
    record = _record(store, export_id)
    attempts = _attempts(instance, result.run_id, "publish_export")
    print(f"\n{what}: {attempts} attempt, export {record.status}: {record.message!r}")
    assert not result.success
    # Not retried: the same disk gives the same answer; the run ends on the first error.
    assert attempts == 1
    assert (record.status, record.message) == ("failed", message)
    assert record.storage_key is None
    if root.is_dir():
        assert [p.name for p in root.rglob("*") if p.is_file() and p.name != "filler"] == []


def test_a_full_storage_disk_fails_the_export_at_once(store, instance, tmp_path):
    try:
        with tiny_full_tmpfs(tmp_path / "full") as root:
            _assert_fails_at_once_with(store, instance, root, STORAGE_FULL, "ENOSPC (full tmpfs)")
    except PermissionError as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")


def test_an_immutable_storage_folder_fails_the_export_at_once(store, instance, tmp_path):
    root = tmp_path / "immutable"
    root.mkdir()
    done = subprocess.run(["chattr", "+i", str(root)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {done.stderr!r}")
    try:
        _assert_fails_at_once_with(
            store, instance, root, STORAGE_NOT_WRITABLE, "EPERM (chattr +i folder)"
        )
    finally:
        subprocess.run(["chattr", "-i", str(root)], check=False)


def test_a_storage_root_under_a_file_fails_the_export_at_once(store, instance, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    _assert_fails_at_once_with(
        store, instance, blocker / "files", STORAGE_NOT_WRITABLE, "ENOTDIR (root under a file)"
    )

"""The code location workspace.yaml names: its job, sensors and schedule, resources bound."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest
import yaml
from dagster import DefaultScheduleStatus, DefaultSensorStatus, Definitions, RepositoryDefinition

from exports_pipeline.settings import InvalidSettings
from exports_pipeline_tests.support.daemon import REPO


def _load_location() -> Definitions:
    """The `Definitions` object the daemon and the webserver load, found the way they find it."""
    (location,) = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"]
    module = importlib.import_module(location["python_module"]["module_name"])
    found = getattr(module, location["python_module"]["attribute"])
    # `@dagster.definitions`: Dagster calls the function when it loads the location.
    return found() if callable(found) else found


@pytest.fixture(scope="module")
def defs() -> Definitions:
    return _load_location()


@pytest.fixture(scope="module")
def repository(defs: Definitions) -> RepositoryDefinition:
    return defs.get_repository_def()


def test_the_code_location_is_loadable(defs: Definitions) -> None:
    # Raises when a job, sensor or schedule needs a resource the location does not bind.
    Definitions.validate_loadable(defs)


def test_the_code_location_has_exactly_the_export_and_retention_jobs(
    repository: RepositoryDefinition,
) -> None:
    assert sorted(repository.job_names) == ["event_export_job", "file_retention_job"]
    job = repository.get_job("event_export_job")
    assert job.partitions_def is not None
    assert job.required_resource_keys <= set(repository.get_top_level_resources())


@pytest.mark.parametrize(
    ("sensor", "targets"),
    [
        ("export_request_sensor", ["event_export_job"]),
        ("export_status_sensor", []),
        ("webhook_delivery_sensor", []),
    ],
)
def test_each_sensor_is_there_and_runs_by_default(
    repository: RepositoryDefinition, sensor: str, targets: list[str]
) -> None:
    definition = repository.get_sensor_def(sensor)
    assert [target.job_name for target in definition.targets] == targets
    assert definition.default_status == DefaultSensorStatus.RUNNING


def test_the_sensors_are_exactly_those(repository: RepositoryDefinition) -> None:
    assert sorted(s.name for s in repository.sensor_defs) == [
        "export_request_sensor",
        "export_status_sensor",
        "webhook_delivery_sensor",
    ]


def test_the_subscription_schedule_is_there_and_runs_by_default(
    repository: RepositoryDefinition,
) -> None:
    assert sorted(s.name for s in repository.schedule_defs) == [
        "file_retention_schedule",
        "subscription_export_schedule",
    ]
    schedule = repository.get_schedule_def("subscription_export_schedule")
    assert schedule.job_name == "event_export_job"
    assert schedule.default_status == DefaultScheduleStatus.RUNNING


def test_a_run_worker_imports_no_library_it_does_not_use(tmp_path) -> None:
    # Every run is a new process that loads the code location: an import nobody calls is
    # paid by every export (benchmarks/README.md, issue 15). S3 storage is not configured
    # here (botocore's exceptions, 5 ms, classify errors for retries), webhooks are sent
    # by the daemon's sensor only, the API is another process.
    code = (
        "import sys, exports_pipeline.pipeline.definitions as d; d.defs();"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    env = {**os.environ, "EXPORTS_HOME": str(tmp_path)}
    env.pop("EXPORTS_S3_BUCKET", None)
    loaded = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout.split()
    assert "dagster" in loaded and "polars" in loaded
    assert not {"boto3", "dagster_aws", "httpx", "fastapi", "uvicorn"} & set(loaded)


def test_the_code_location_refuses_a_signing_secret_under_32_bytes(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "a-31-byte-secret-refused-at-go!"
    monkeypatch.setenv("EXPORTS_HOME", str(tmp_path))
    monkeypatch.setenv("EXPORTS_SIGNING_SECRET", secret)
    with pytest.raises(InvalidSettings) as refused:
        _load_location()
    assert str(refused.value).splitlines() == [
        "invalid configuration:",
        "  EXPORTS_SIGNING_SECRET: Value error, must be at least 32 bytes long",
    ]
    assert secret not in str(refused.value)

"""Fixtures of the pipeline tests: resources on the small store, definitions bound to them."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import Definitions, mem_io_manager

from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import LocalStorageResource, StoreResource
from exports_pipeline.pipeline.schedules import subscription_export_schedule
from exports_pipeline.pipeline.sensors import export_request_sensor, export_status_sensor


@pytest.fixture
def files_root(tmp_path: Path) -> Path:
    return tmp_path / "files"


@pytest.fixture
def export_storage(files_root: Path) -> LocalStorageResource:
    return LocalStorageResource(
        storage_dir=str(files_root), public_base_url="http://api.test", signing_secret="test-secret"
    )


@pytest.fixture
def resources(store: StoreResource, export_storage: LocalStorageResource) -> dict:
    return {"store": store, "export_storage": export_storage, "io_manager": mem_io_manager}


@pytest.fixture
def test_defs(resources: dict) -> Definitions:
    """The code location's definitions bound to the test store and storage."""
    return Definitions(
        jobs=[event_export_job],
        sensors=[export_request_sensor, export_status_sensor],
        schedules=[subscription_export_schedule],
        resources=resources,
    )

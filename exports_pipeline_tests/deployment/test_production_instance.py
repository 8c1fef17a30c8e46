"""`deploy/dagster.production.yaml`: Dagster's storage on PostgreSQL, the same run limits as
the top-level dagster.yaml, and the copy printed in docs/deployment.md is the file itself."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus, QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline_tests.support.daemon import PRODUCTION_YAML, REPO, dagster_pg_env


def test_the_guide_prints_the_production_file_as_it_is() -> None:
    guide = (REPO / "docs" / "deployment.md").read_text()
    blocks = re.findall(
        r"```yaml\n# Dagster instance of the export service in production.*?```", guide, re.S
    )
    assert [block.removeprefix("```yaml\n").removesuffix("```") for block in blocks] == [
        PRODUCTION_YAML.read_text()
    ]


def test_production_run_limits_are_those_of_the_default_instance() -> None:
    production = yaml.safe_load(PRODUCTION_YAML.read_text())
    default = yaml.safe_load((REPO / "dagster.yaml").read_text())
    limits = ("max_concurrent_runs", "tag_concurrency_limits")
    assert [production["run_coordinator"]["config"][k] for k in limits] == [
        default["run_coordinator"]["config"][k] for k in limits
    ]


def test_a_production_instance_keeps_runs_and_events_in_postgresql(
    store_backend: str, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store_backend != "postgresql":
        pytest.skip("Dagster's PostgreSQL storage: nothing to test on SQLite")
    for name, value in dagster_pg_env(store_url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_COMPUTE_LOGS_BUCKET", "unused")
    shutil.copy(PRODUCTION_YAML, tmp_path / "dagster.yaml")
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        run = instance.create_run_for_job(
            event_export_job,
            tags={"dagster/partition": "2024-01-15", "space_id": "demo-1", "export_id": "7"},
        )
        # Writing an event is what failed when the URL's driver was psycopg 3 (NOTIFY).
        instance.report_engine_event("stored in PostgreSQL", run)
        instance.report_run_canceled(run)
        assert "stored in PostgreSQL" in [e.message for e in instance.all_logs(run.run_id)]
    with DagsterInstance.from_config(str(tmp_path)) as reopened:
        stored = reopened.get_run_by_id(run.run_id)
        assert stored.status == DagsterRunStatus.CANCELED
        assert stored.tags["space_id"] == "demo-1"

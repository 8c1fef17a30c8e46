"""A planted API key reaches no Python log (SQL logging on, an internal error included), no
error body, and, once its export runs through the sensor and the Dagster job, neither the
run's config, its tags nor its event log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import Definitions, build_sensor_context, instance_for_test, mem_io_manager
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import LocalStorageResource, StoreResource
from exports_pipeline.pipeline.sensors import export_request_sensor
from exports_pipeline.store.exports import get_export
from exports_pipeline.store.keys import PREFIX_LENGTH, create_key
from exports_pipeline_tests.support.api import EXPORTS, bearer, make_settings, seed_spaces
from exports_pipeline_tests.support.small_store import (
    ATTRIBUTED,
    EXPORT_DATE,
    SPACE,
    seed_small_store,
)

BODY = {"date": "2024-01-15"}


def _secret(key: str) -> str:
    """The part of a key that is never stored (the prefix is, to tell keys apart)."""
    return key[PREFIX_LENGTH:]


def test_no_key_in_python_logs_even_with_sql_logging_and_an_internal_error(
    store_engine: sa.Engine, store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = seed_spaces(store_engine)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    app = create_app(make_settings(store_url, tmp_path / "home"))
    with TestClient(app, raise_server_exceptions=False) as client:
        responses = [client.post(EXPORTS, json=BODY, headers=bearer(keys.acme))]
        export_id = responses[0].json()["export_id"]
        for key in vars(keys).values():
            for header in (f"Bearer {key}", f"Bearer {key} extra", key):
                auth = {"Authorization": header}
                responses.append(client.get(f"{EXPORTS}/{export_id}", headers=auth))
        with store_engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE exports"))
        broken = client.post(EXPORTS, json=BODY, headers=bearer(keys.acme))
        responses.append(broken)
    assert broken.status_code == 500
    assert {r.status_code for r in responses} >= {202, 200, 401, 403, 500}
    logs = caplog.text
    assert "unhandled error on POST" in logs and "Traceback" in logs
    assert "api_keys" in logs  # SQL logging is on: every key lookup was logged
    for key in vars(keys).values():
        assert _secret(key) not in logs
        assert not [r for r in responses if _secret(key) in r.text]


def test_no_key_in_the_dagster_run_of_its_export(
    store_engine: sa.Engine, store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seed_small_store(store_engine)
    with store_engine.begin() as conn:
        key = create_key(conn, space_id=SPACE)
    with TestClient(create_app(make_settings(store_url, tmp_path / "home"))) as client:
        created = client.post(
            EXPORTS, json={"date": EXPORT_DATE.isoformat(), **ATTRIBUTED}, headers=bearer(key)
        )
    assert created.status_code == 202
    store_engine.dispose()
    store = StoreResource(database_url=store_url)
    defs = Definitions(
        jobs=[event_export_job],
        sensors=[export_request_sensor],
        resources={
            "store": store,
            "export_storage": LocalStorageResource(
                storage_dir=str(tmp_path / "files"),
                public_base_url="http://api.test",
                signing_secret="s",
            ),
            "io_manager": mem_io_manager,
        },
    )
    caplog.set_level(logging.DEBUG)
    with instance_for_test() as instance:
        with build_sensor_context(
            instance=instance, definitions=defs, resources={"store": store}
        ) as context:
            (request,) = export_request_sensor.evaluate_tick(context).run_requests
        result = defs.get_job_def(event_export_job.name).execute_in_process(
            partition_key=request.partition_key,
            run_config=request.run_config,
            tags=request.tags,
            instance=instance,
        )
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        seen = {
            "run config": repr(run.run_config),
            "tags": repr(run.tags),
            "event log": "\n".join(repr(entry) for entry in instance.all_logs(result.run_id)),
            "python logs": caplog.text,
        }
    assert result.success
    with store.engine.connect() as conn:
        record = get_export(conn, created.json()["export_id"])
    assert record is not None and record.status == "completed"
    assert str(record.id) in seen["tags"] and "publish_export" in seen["event log"]
    assert [where for where, text in seen.items() if _secret(key) in text] == []

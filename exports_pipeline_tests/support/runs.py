"""Exports queued, sensor ticks and job runs the way the pipeline makes them, for the
pipeline's tests (on the small store of `support.small_store`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

from dagster import (
    DagsterInstance,
    Definitions,
    RunConfig,
    RunRequest,
    SensorDefinition,
    build_sensor_context,
)

from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import StoreResource
from exports_pipeline.store.exports import ExportRecord, create_export, get_export
from exports_pipeline_tests.support.small_store import EXPORT_DATE, SPACE


def queue_export(
    store: StoreResource,
    params: dict[str, Any] | None = None,
    *,
    date: dt.date = EXPORT_DATE,
    trigger: str = "api",
    created: dt.datetime | None = None,
) -> int:
    """An export of the small store's space queued as the API queues it (the request
    validated, then stored); its id."""
    request = parse_export_request({**(params or {}), "date": date.isoformat()})
    with store.engine.begin() as conn:
        return create_export(conn, space_id=SPACE, request=request, trigger=trigger, now=created)


class SensorTick(Protocol):
    """What the tests read of a tick's result (`SensorDefinition.evaluate_tick`)."""

    @property
    def run_requests(self) -> Sequence[RunRequest] | None: ...
    @property
    def cursor(self) -> str | None: ...
    @property
    def skip_message(self) -> str | None: ...


def evaluate_tick(
    sensor: SensorDefinition,
    definitions: Definitions,
    instance: DagsterInstance,
    cursor: str | None = None,
    *,
    store: StoreResource | None = None,
) -> SensorTick:
    """One tick of `sensor` with the store of `definitions` (or `store`); run requests are
    resolved against the job, so their partition keys are validated."""
    with build_sensor_context(
        instance=instance,
        cursor=cursor,
        definitions=definitions,
        resources={"store": store or definitions.resources["store"]},
    ) as context:
        return sensor.evaluate_tick(context)


def run_to_completion(
    store: StoreResource, resources: dict, instance: DagsterInstance, **run: Any
) -> ExportRecord:
    """Run the export job for EXPORT_DATE, which must succeed; the record of its export,
    which must be completed."""
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(), resources=resources, instance=instance, **run
    )
    assert result.success
    export_id = result.output_for_node("validate_request").export_id
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
    assert record is not None and record.status == "completed"
    return record


def serve_queued_export(
    store: StoreResource, resources: dict, instance: DagsterInstance, params: dict[str, Any]
) -> ExportRecord:
    """An export of `params` queued, then its run as the sensor launches it (config: the
    export id), to completion; its completed record."""
    export_id = queue_export(store, params)
    served = RunConfig(ops={"validate_request": ExportRequestConfig(export_id=export_id)})
    return run_to_completion(store, resources, instance, run_config=served)

"""The code location: a thin merge of what the pipeline modules define."""

from __future__ import annotations

from dagster import Definitions, mem_io_manager

from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import SettingsExportStorageResource, StoreResource
from exports_pipeline.pipeline.retention import file_retention_job, file_retention_schedule
from exports_pipeline.pipeline.schedules import subscription_export_schedule
from exports_pipeline.pipeline.sensors import export_request_sensor, export_status_sensor

defs = Definitions(
    jobs=[event_export_job, file_retention_job],
    sensors=[export_request_sensor, export_status_sensor],
    schedules=[subscription_export_schedule, file_retention_schedule],
    resources={
        "store": StoreResource(),
        "export_storage": SettingsExportStorageResource(),
        # Frames stay in the run's single process (in-process executor), never on disk.
        "io_manager": mem_io_manager,
    },
)

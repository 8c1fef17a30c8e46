"""The code location: a thin merge of what the pipeline modules define, with the resources
configured once from the `EXPORTS_*` settings when Dagster loads it (not at import)."""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar, definitions, mem_io_manager

from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import (
    ExportStorageResource,
    LocalStorageResource,
    S3StorageResource,
    StoreResource,
    WebhookSenderResource,
)
from exports_pipeline.pipeline.retention import file_retention_job, file_retention_schedule
from exports_pipeline.pipeline.schedules import subscription_export_schedule
from exports_pipeline.pipeline.sensors import export_request_sensor, export_status_sensor
from exports_pipeline.pipeline.webhooks import webhook_delivery_sensor
from exports_pipeline.settings import Settings, load_settings

# A request-sensor tick with nothing queued keeps looking this long, within the 5 s that
# Dagster's sensor daemon leaves between two ticks (see sensors.py).
REQUEST_WAIT_SECONDS = 4.0


def from_environment(variable: str, value: str | None) -> str | None:
    """`value` as Dagster gets it: an `EnvVar` of `variable` when that variable holds it (read
    when a run starts; the UI shows the variable's name, never its value), else `value`
    itself (a value given another way, or None: unset). Every secret-bearing setting reaches
    Dagster through here."""
    if value and os.environ.get(variable) == value:
        return EnvVar(variable)
    return value or None


def database_url(settings: Settings) -> str:
    """The store's URL: EXPORTS_DATABASE_URL (may hold a password) as an `EnvVar`; unset, the
    embedded SQLite file under EXPORTS_HOME (a path, no secret)."""
    return (
        from_environment("EXPORTS_DATABASE_URL", settings.database_url)
        or settings.resolved_database_url
    )


def _aws_secret(variable: str) -> str | None:
    # AWS's own variables, not settings; unset: no field value (boto3's default credentials).
    return from_environment(variable, os.environ.get(variable))


def storage_resource(settings: Settings) -> ExportStorageResource:
    """The storage resource of the backend `settings.storage` names."""
    if settings.storage == "s3":
        return S3StorageResource(
            s3_bucket=settings.s3_bucket,
            s3_prefix=settings.s3_prefix,
            s3_region=settings.s3_region,
            s3_endpoint_url=settings.s3_endpoint_url,
            aws_access_key_id=_aws_secret("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=_aws_secret("AWS_SECRET_ACCESS_KEY"),
        )
    return LocalStorageResource(
        storage_dir=str(settings.resolved_storage_dir),
        public_base_url=settings.public_base_url,
        signing_secret=from_environment("EXPORTS_SIGNING_SECRET", settings.signing_secret),
        signing_secret_file=str(settings.signing_secret_file),
    )


def resources_from(settings: Settings) -> dict[str, object]:
    """The resources of the code location, configured from `settings`."""
    return {
        "store": StoreResource(
            database_url=database_url(settings),
            earliest_date=settings.earliest_date.isoformat(),
            subscription_catch_up_days=settings.subscription_catch_up_days,
            file_retention_hours=settings.file_retention_hours,
            request_wait_seconds=REQUEST_WAIT_SECONDS,
            max_export_rows=settings.max_export_rows,
            secrets_key=from_environment("EXPORTS_SECRETS_KEY", settings.secrets_key),
            secrets_key_file=str(settings.secrets_key_file),
        ),
        "export_storage": storage_resource(settings),
        "webhook_sender": WebhookSenderResource(
            allow_private=settings.webhook_allow_private,
            retry_hours=settings.webhook_retry_hours,
            lease_seconds=settings.webhook_lease_seconds,
        ),
        # Frames stay in the run's single process (in-process executor), never on disk.
        "io_manager": mem_io_manager,
    }


def build_definitions(settings: Settings) -> Definitions:
    return Definitions(
        jobs=[event_export_job, file_retention_job],
        sensors=[export_request_sensor, export_status_sensor, webhook_delivery_sensor],
        schedules=[subscription_export_schedule, file_retention_schedule],
        resources=resources_from(settings),
    )


@definitions
def defs() -> Definitions:
    """What `workspace.yaml` loads: the definitions for this process's `EXPORTS_*` settings
    (`InvalidSettings` naming each broken variable, never its value, when one is)."""
    return build_definitions(load_settings())

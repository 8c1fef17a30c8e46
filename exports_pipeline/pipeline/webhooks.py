"""The webhook sender as a sensor: each tick sends the due deliveries of the outbox.

It launches no runs and touches no export: a receiver that is slow or down costs this
sensor's ticks, never an export run. Its own errors are caught and logged.
"""

from __future__ import annotations

from dagster import DefaultSensorStatus, SensorEvaluationContext, SkipReason, sensor

from exports_pipeline.pipeline.resources import StoreResource, WebhookSenderResource
from exports_pipeline.webhooks.sender import send_due_deliveries


@sensor(
    name="webhook_delivery_sensor",
    minimum_interval_seconds=3,
    default_status=DefaultSensorStatus.RUNNING,
    description="Sends due webhook deliveries (signed, retried with backoff for 24 h).",
)
def webhook_delivery_sensor(
    context: SensorEvaluationContext, store: StoreResource, webhook_sender: WebhookSenderResource
) -> SkipReason:
    try:
        report = send_due_deliveries(
            store.engine, store.secret_box, webhook_sender.sender_config()
        )
    except Exception as exc:
        context.log.exception("webhook sender pass failed")
        return SkipReason(f"webhook sender pass failed: {type(exc).__name__}; see the logs")
    if report.attempts or report.errors:
        context.log.info(report.summary())
    return SkipReason(report.summary() if report.attempts else "no webhook deliveries due")

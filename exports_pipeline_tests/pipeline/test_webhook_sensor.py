"""webhook_delivery_sensor: a run's status change reaches the receiver signed; a receiver that
is down never fails the run; the tick says what it sent; its own errors never fail a tick."""

from __future__ import annotations

from dagster import DefaultSensorStatus, RunConfig, build_sensor_context
from standardwebhooks import Webhook

from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.pipeline.config import ExportRequestConfig
from exports_pipeline.pipeline.definitions import defs
from exports_pipeline.pipeline.job import event_export_job
from exports_pipeline.pipeline.resources import StoreResource, WebhookSenderResource
from exports_pipeline.pipeline.webhooks import webhook_delivery_sensor
from exports_pipeline.store.deliveries import list_deliveries
from exports_pipeline.store.exports import create_export, get_export
from exports_pipeline.store.status import status_object
from exports_pipeline.store.webhooks import create_endpoint
from exports_pipeline_tests.support.receiver import Receiver, free_port, receiver
from exports_pipeline_tests.support.sealing import TEST_SECRETS_KEY
from exports_pipeline_tests.support.small_store import EXPORT_DATE, SPACE


def _tick(store: StoreResource) -> str | None:
    resources = {"store": store, "webhook_sender": WebhookSenderResource(allow_private=True)}
    with build_sensor_context(resources=resources) as context:
        return webhook_delivery_sensor.evaluate_tick(context).skip_message


def test_the_sensor_is_in_the_code_location_and_running_by_default():
    sensor = defs().resolve_sensor_def("webhook_delivery_sensor")
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds <= 5


def test_a_completed_run_is_announced_and_a_receiver_down_never_fails_it(
    store, resources, instance
):
    port = free_port()
    with store.engine.begin() as conn:
        endpoint = create_endpoint(
            conn,
            space_id=SPACE,
            url=Receiver(port=port).url,
            events=["export.completed"],
            box=store.secret_box,
        )
        export_id = create_export(
            conn,
            space_id=SPACE,
            request=parse_export_request({"date": EXPORT_DATE.isoformat()}),
            trigger="api",
        )
    result = event_export_job.execute_in_process(
        partition_key=EXPORT_DATE.isoformat(),
        run_config=RunConfig(
            ops={"validate_request": ExportRequestConfig(export_id=export_id, space_id=SPACE)}
        ),
        resources=resources,
        instance=instance,
    )
    assert result.success
    assert _tick(store) == "1 webhook attempts: 0 delivered, 1 failed and retrying, 0 given up"
    with store.engine.begin() as conn:
        # Due again now (the receiver is about to come back).
        conn.exec_driver_sql(
            "UPDATE webhook_endpoints SET backoff_until = NULL, consecutive_failures = 0"
        )
        conn.exec_driver_sql("UPDATE webhook_deliveries SET next_attempt_at = created_at")
    with receiver(port=port) as hook:
        assert _tick(store) == "1 webhook attempts: 1 delivered, 0 failed and retrying, 0 given up"
    assert _tick(store) == "no webhook deliveries due"
    [got] = hook.received
    body = Webhook(endpoint.secret).verify(got.body, got.headers)
    with store.engine.connect() as conn:
        record = get_export(conn, export_id)
        [view] = list_deliveries(conn)
    assert record.status == "completed"
    assert body["data"] == status_object(record)
    assert (view.status, view.attempts) == ("delivered", 2)


def test_a_sender_error_is_logged_not_raised(store_url: str):
    # A store that was never migrated: the sender's query fails.
    message = _tick(StoreResource(database_url=store_url, secrets_key=TEST_SECRETS_KEY))
    assert message is not None
    assert message.startswith("webhook sender pass failed: ")

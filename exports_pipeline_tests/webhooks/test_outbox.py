"""The outbox: every announced status change writes its deliveries in its own transaction,
one per matching live endpoint of the export's space, and nothing when it rolls back."""

from __future__ import annotations

import base64
import json
import threading

import pytest
import sqlalchemy as sa
from alembic import command
from standardwebhooks import Webhook

from exports_pipeline.store.exports import get_export, mark_completed, mark_failed
from exports_pipeline.store.migrate import alembic_config, upgrade
from exports_pipeline.store.schema import webhook_deliveries, webhook_endpoints
from exports_pipeline.store.status import status_object
from exports_pipeline.store.webhooks import (
    ENDPOINT_DELETED,
    EVENT_TYPES,
    MAX_ENDPOINTS_PER_SPACE,
    EndpointLimitReached,
    create_endpoint,
    delete_endpoint,
    enqueue_deliveries,
    event_type_of,
)
from exports_pipeline.webhooks.sender import SenderConfig, send_due_deliveries
from exports_pipeline_tests.support.sealing import BOX
from exports_pipeline_tests.support.webhooks import (
    OTHER_SPACE,
    SPACE,
    add_endpoint,
    complete,
    deliveries,
    fail,
    processing_export,
)


class Rollback(Exception):
    pass


def _by_endpoint(engine: sa.Engine, export_id: int) -> dict[int, str]:
    return {d.endpoint_id: d.event_type for d in deliveries(engine, export_id=export_id)}


def test_each_change_writes_one_delivery_per_matching_live_endpoint(engine):
    every = add_endpoint(engine, "https://8.8.8.8/every", events=list(EVENT_TYPES))
    failures = add_endpoint(engine, "https://8.8.8.8/failures", events=["export.failed"])
    completions = add_endpoint(engine, "https://8.8.8.8/done", events=["export.completed"])
    gone = add_endpoint(engine, "https://8.8.8.8/gone")
    add_endpoint(engine, "https://8.8.8.8/theirs", space_id=OTHER_SPACE)
    with engine.begin() as conn:
        assert delete_endpoint(conn, gone.id, space_id=SPACE)
    done, broken = processing_export(engine), processing_export(engine)
    complete(engine, done)
    fail(engine, broken)
    assert _by_endpoint(engine, done) == {
        every.id: "export.completed",
        completions.id: "export.completed",
    }
    assert _by_endpoint(engine, broken) == {every.id: "export.failed", failures.id: "export.failed"}
    # One webhook-id per delivery; the same body for every endpoint of one change.
    rows = deliveries(engine)
    assert len({d.message_id for d in rows}) == len(rows) == 4
    assert len({d.payload for d in rows if d.export_id == done}) == 1
    assert all(d.status == "pending" and d.attempts == 0 for d in rows)


def test_a_transition_that_does_not_happen_writes_nothing(engine):
    add_endpoint(engine, "https://8.8.8.8/every")
    export_id = processing_export(engine)
    complete(engine, export_id)
    with engine.begin() as conn:
        # Already completed: neither transition happens again.
        assert not mark_failed(conn, export_id, message="late")
        assert not mark_completed(
            conn, export_id, storage_key="k", row_count=1, file_size_bytes=1, sha256="0" * 64
        )
    assert [d.event_type for d in deliveries(engine)] == ["export.completed"]


def test_a_space_without_endpoints_gets_no_deliveries(engine):
    add_endpoint(engine, "https://8.8.8.8/theirs", space_id=OTHER_SPACE)
    complete(engine, processing_export(engine))
    assert deliveries(engine) == []


@pytest.mark.parametrize("change", ["completed", "failed"])
def test_a_change_that_rolls_back_leaves_no_delivery(engine, change):
    add_endpoint(engine, "https://8.8.8.8/every")
    export_id = processing_export(engine)
    with pytest.raises(Rollback), engine.begin() as conn:
        if change == "completed":
            assert mark_completed(
                conn, export_id, storage_key="k", row_count=1, file_size_bytes=1, sha256="0" * 64
            )
        else:
            assert mark_failed(conn, export_id, message="The export failed.")
        assert len(deliveries_in(conn)) == 1  # written, inside the transaction
        raise Rollback
    assert deliveries(engine) == []
    with engine.connect() as conn:
        assert get_export(conn, export_id).status == "processing"


def test_a_failing_outbox_rolls_the_change_back(engine):
    add_endpoint(engine, "https://8.8.8.8/every")
    export_id = processing_export(engine)
    with pytest.raises(ValueError, match="unknown webhook event type"), engine.begin() as conn:
        assert mark_failed(conn, export_id, message="The export failed.")
        enqueue_deliveries(conn, export_id, "export.exploded")
    with engine.connect() as conn:
        assert get_export(conn, export_id).status == "processing"
    assert deliveries(engine) == []


def deliveries_in(conn: sa.Connection) -> list[sa.Row]:
    return list(conn.execute(sa.select(webhook_deliveries)))


def test_the_payload_is_the_body_as_sent_with_the_status_object_of_the_change(engine):
    add_endpoint(engine, "https://8.8.8.8/every")
    export_id = processing_export(engine)
    fail(engine, export_id, message="The export could not be stored; please retry.")
    [delivery] = deliveries(engine)
    body = json.loads(delivery.payload)
    with engine.connect() as conn:
        record = get_export(conn, export_id)
    assert list(body) == ["type", "timestamp", "data"]
    assert body["type"] == "export.failed"
    assert body["timestamp"].endswith("Z")
    assert body["data"] == status_object(record)
    assert body["data"] == {
        "export_id": export_id,
        "status": "failed",
        "created_at": body["data"]["created_at"],
        "message": "The export could not be stored; please retry.",
    }
    # Compact: the exact text that is signed and sent.
    assert delivery.payload == json.dumps(body, separators=(",", ":"))


def test_the_status_object_of_a_completed_export_has_the_file_facts(engine):
    export_id = processing_export(engine)
    complete(engine, export_id)
    with engine.connect() as conn:
        data = status_object(get_export(conn, export_id))
    assert set(data) == {
        "export_id",
        "status",
        "created_at",
        "completed_at",
        "row_count",
        "file_size_bytes",
        "sha256",
    }
    assert (data["row_count"], data["file_size_bytes"], data["sha256"]) == (42, 1234, "ab" * 32)


@pytest.mark.parametrize(
    ("status", "event"),
    [
        ("completed", "export.completed"),
        ("failed", "export.failed"),
        ("cancelled", "export.cancelled"),
        ("expired", "export.expired"),
    ],
)
def test_every_terminal_status_has_its_event_type(status, event):
    assert event_type_of(status) == event


@pytest.mark.parametrize("status", ["queued", "processing", "done"])
def test_other_statuses_have_no_event_type(status):
    with pytest.raises(ValueError, match=status):
        event_type_of(status)


def test_deleting_an_endpoint_gives_up_what_it_has_not_received(engine):
    endpoint = add_endpoint(engine, "http://127.0.0.1:9/never")
    complete(engine, processing_export(engine))
    with engine.begin() as conn:
        assert delete_endpoint(conn, endpoint.id, space_id=SPACE)
        assert not delete_endpoint(conn, endpoint.id, space_id=SPACE)
    assert send_due_deliveries(engine, BOX, SenderConfig(allow_private=True)).attempts == 0
    [delivery] = deliveries(engine)
    assert (delivery.status, delivery.last_error) == ("failed", ENDPOINT_DELETED)


def test_an_endpoint_of_another_space_cannot_be_deleted(engine):
    theirs = add_endpoint(engine, "https://8.8.8.8/theirs", space_id=OTHER_SPACE)
    with engine.begin() as conn:
        assert not delete_endpoint(conn, theirs.id, space_id=SPACE)
    with engine.connect() as conn:
        assert (
            conn.execute(
                sa.select(webhook_endpoints.c.deleted_at).where(webhook_endpoints.c.id == theirs.id)
            ).scalar_one()
            is None
        )


def test_secrets_are_standard_webhooks_secrets_and_never_in_repr(engine):
    endpoint = add_endpoint(engine, "https://8.8.8.8/every")
    assert endpoint.secret.startswith("whsec_")
    assert len(base64.b64decode(endpoint.secret.removeprefix("whsec_"))) == 32
    Webhook(endpoint.secret)  # the library accepts it
    assert endpoint.secret not in repr(endpoint)
    assert add_endpoint(engine, "https://8.8.8.8/every").secret != endpoint.secret


def test_concurrent_creates_never_pass_the_limit(engine):
    def create_some() -> None:
        for _ in range(8):
            try:
                with engine.begin() as conn:
                    create_endpoint(
                        conn,
                        space_id=SPACE,
                        url="https://8.8.8.8/x",
                        events=["export.failed"],
                        box=BOX,
                    )
            except EndpointLimitReached:
                pass

    threads = [threading.Thread(target=create_some) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        live = conn.execute(
            sa.select(sa.func.count())
            .select_from(webhook_endpoints)
            .where(webhook_endpoints.c.space_id == SPACE, webhook_endpoints.c.deleted_at.is_(None))
        ).scalar_one()
    assert live == MAX_ENDPOINTS_PER_SPACE


def test_migration_0004_goes_down_and_up_again(engine):
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0003")
    assert "webhook_deliveries" not in sa.inspect(engine).get_table_names()
    upgrade(engine)
    assert {"webhook_endpoints", "webhook_deliveries", "webhook_attempts"} <= set(
        sa.inspect(engine).get_table_names()
    )

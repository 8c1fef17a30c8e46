"""Webhook test helpers: exports finished as the pipeline finishes them, endpoints,
deliveries, the travelling clock."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
import time_machine

from exports_pipeline.store.exports import (
    StoredRequest,
    create_export,
    mark_completed,
    mark_failed,
    mark_processing,
)
from exports_pipeline.store.schema import exports, webhook_deliveries, webhook_endpoints
from exports_pipeline.store.webhooks import NewWebhookEndpoint, create_endpoint
from exports_pipeline_tests.support.sealing import BOX

SPACE = "acme"
OTHER_SPACE = "other"


def add_endpoint(
    engine: sa.Engine, url: str, *, events: list[str] | None = None, space_id: str = SPACE
) -> NewWebhookEndpoint:
    with engine.begin() as conn:
        return create_endpoint(
            conn,
            space_id=space_id,
            url=url,
            box=BOX,
            events=events or ["export.completed", "export.failed", "export.cancelled"],
        )


def processing_export(engine: sa.Engine, *, space_id: str = SPACE) -> int:
    with engine.begin() as conn:
        export_id = create_export(
            conn,
            space_id=space_id,
            request=StoredRequest(dt.date(2024, 1, 15), {"query_mode": "profile"}),
            trigger="api",
        )
        mark_processing(conn, export_id, run_id=f"run-{export_id}")
    return export_id


def complete(engine: sa.Engine, export_id: int) -> None:
    with engine.begin() as conn:
        assert mark_completed(
            conn,
            export_id,
            storage_key=f"exports/{space_id_of(engine, export_id)}/x.ndjson.gz",
            row_count=42,
            file_size_bytes=1234,
            sha256="ab" * 32,
        )


def fail(engine: sa.Engine, export_id: int, message: str = "The export failed: disk full.") -> None:
    with engine.begin() as conn:
        assert mark_failed(conn, export_id, message=message)


def completed_export(engine: sa.Engine, *, space_id: str = SPACE) -> int:
    export_id = processing_export(engine, space_id=space_id)
    complete(engine, export_id)
    return export_id


def space_id_of(engine: sa.Engine, export_id: int) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(exports.c.space_id).where(exports.c.id == export_id)
        ).scalar_one()


def deliveries(engine: sa.Engine, **where: object) -> list[sa.Row]:
    query = sa.select(webhook_deliveries).order_by(webhook_deliveries.c.id)
    for column, value in where.items():
        query = query.where(webhook_deliveries.c[column] == value)
    with engine.connect() as conn:
        return list(conn.execute(query))


def next_due(engine: sa.Engine, delivery_id: int) -> dt.datetime:
    """When the delivery is next sent: its own retry time or its endpoint's backoff end."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(webhook_deliveries.c.next_attempt_at, webhook_endpoints.c.backoff_until)
            .join(webhook_endpoints, webhook_endpoints.c.id == webhook_deliveries.c.endpoint_id)
            .where(webhook_deliveries.c.id == delivery_id)
        ).one()
    return max(row.next_attempt_at, row.backoff_until or row.next_attempt_at)


def move_to(clock: time_machine.Traveller, when: dt.datetime) -> None:
    """Move the clock just past `when` (naive UTC)."""
    clock.move_to(when.replace(tzinfo=dt.UTC) + dt.timedelta(milliseconds=10), tick=True)

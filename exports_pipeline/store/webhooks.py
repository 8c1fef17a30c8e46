"""Webhook endpoints of a space and the outbox: deliveries written with a status change.

`enqueue_deliveries` is called inside the transaction that changes an export's status
(`store.exports`), so a change and its deliveries are committed together or not at all.
Each delivery holds the body exactly as it will be sent, built at the time of the change,
and a `webhook-id` that stays the same on every attempt.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from exports_pipeline.sealing import SecretBox
from exports_pipeline.store.schema import exports, spaces, webhook_deliveries, webhook_endpoints
from exports_pipeline.store.status import iso_utc, status_object

EXPORT_COMPLETED = "export.completed"
EXPORT_FAILED = "export.failed"
EXPORT_CANCELLED = "export.cancelled"
EXPORT_EXPIRED = "export.expired"
EVENT_TYPES = (EXPORT_COMPLETED, EXPORT_FAILED, EXPORT_CANCELLED, EXPORT_EXPIRED)

MAX_ENDPOINTS_PER_SPACE = 10
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
ENDPOINT_DELETED = "endpoint deleted before delivery"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class WebhookEndpoint:
    id: int
    space_id: str
    url: str
    events: list[str]
    created_at: dt.datetime
    deleted_at: dt.datetime | None


@dataclass(frozen=True)
class NewWebhookEndpoint(WebhookEndpoint):
    """An endpoint just created, with its plain signing secret: what the create answer
    shows, once (the store keeps it sealed)."""

    # Kept out of repr so that logging an endpoint never logs its secret.
    secret: str = field(repr=False)


class EndpointLimitReached(Exception):
    """The space already has `MAX_ENDPOINTS_PER_SPACE` endpoints."""


def _endpoint(row: Any) -> WebhookEndpoint:
    m = row._mapping
    return WebhookEndpoint(
        id=int(m["id"]),
        space_id=m["space_id"],
        url=m["url"],
        events=list(m["events"]),
        created_at=m["created_at"],
        deleted_at=m["deleted_at"],
    )


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes: the form Standard Webhooks libraries read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def create_endpoint(
    conn: Connection,
    *,
    space_id: str,
    url: str,
    events: list[str],
    box: SecretBox,
    now: dt.datetime | None = None,
) -> NewWebhookEndpoint:
    """Store a new endpoint with a fresh secret, sealed with `box`; the endpoint with its
    plain secret. `EndpointLimitReached` when the space has its maximum already (the
    caller's transaction must then be rolled back).

    Creates of one space are serialized by a no-op update of the space's row (a row lock
    on PostgreSQL, the write lock on SQLite), so concurrent creates cannot pass the limit.
    """
    conn.execute(update(spaces).where(spaces.c.id == space_id).values(id=spaces.c.id))
    live = conn.execute(
        select(func.count())
        .select_from(webhook_endpoints)
        .where(webhook_endpoints.c.space_id == space_id, webhook_endpoints.c.deleted_at.is_(None))
    ).scalar_one()
    if live >= MAX_ENDPOINTS_PER_SPACE:
        raise EndpointLimitReached(space_id)
    secret = new_secret()
    row = conn.execute(
        insert(webhook_endpoints)
        .values(
            space_id=space_id,
            url=url,
            events=list(events),
            secret=box.seal(secret),
            created_at=now or _utcnow(),
            deleted_at=None,
            consecutive_failures=0,
            backoff_until=None,
        )
        .returning(*webhook_endpoints.c)
    ).one()
    return NewWebhookEndpoint(**dataclasses.asdict(_endpoint(row)), secret=secret)


def list_endpoints(conn: Connection, *, space_id: str) -> list[WebhookEndpoint]:
    """The space's live endpoints, oldest first."""
    rows = conn.execute(
        select(webhook_endpoints)
        .where(webhook_endpoints.c.space_id == space_id, webhook_endpoints.c.deleted_at.is_(None))
        .order_by(webhook_endpoints.c.id)
    )
    return [_endpoint(r) for r in rows]


def get_endpoint(conn: Connection, endpoint_id: int) -> WebhookEndpoint | None:
    """The endpoint with this id, deleted or not, or None."""
    row = conn.execute(
        select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
    ).first()
    return _endpoint(row) if row else None


def delete_endpoint(
    conn: Connection, endpoint_id: int, *, space_id: str, now: dt.datetime | None = None
) -> bool:
    """Delete a live endpoint of the space; its pending deliveries are given up. False when
    the space has no such live endpoint."""
    now = now or _utcnow()
    result = conn.execute(
        update(webhook_endpoints)
        .where(
            webhook_endpoints.c.id == endpoint_id,
            webhook_endpoints.c.space_id == space_id,
            webhook_endpoints.c.deleted_at.is_(None),
        )
        .values(deleted_at=now)
    )
    if result.rowcount != 1:
        return False
    conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.endpoint_id == endpoint_id,
            webhook_deliveries.c.status == PENDING,
        )
        .values(status=FAILED, last_error=ENDPOINT_DELETED)
    )
    return True


def event_type_of(status: str) -> str:
    """The event type announcing a change to `status` (completed, failed, cancelled,
    expired); ValueError for a status no webhook announces."""
    event_type = f"export.{status}"
    if event_type not in EVENT_TYPES:
        raise ValueError(f"no webhook event announces the status {status!r}")
    return event_type


def payload_of(event_type: str, record: Any, *, now: dt.datetime) -> str:
    """The body of a delivery: `{"type", "timestamp", "data": <status object>}`, compact."""
    body = {"type": event_type, "timestamp": iso_utc(now), "data": status_object(record)}
    return json.dumps(body, separators=(",", ":"))


def enqueue_deliveries(
    conn: Connection, record_or_export_id: Any, event_type: str, *, now: dt.datetime | None = None
) -> list[int]:
    """Write one pending delivery of `event_type` per live endpoint of the export's space
    that subscribes to it; their ids. Call it in the transaction of the status change, after
    the change (the payload is built from the record as it is then).

    `record_or_export_id`: an export id, or a record with the `exports` columns as
    attributes (an `ExportRecord`, a row).
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {event_type!r}")
    if isinstance(record_or_export_id, int):
        record = conn.execute(select(exports).where(exports.c.id == record_or_export_id)).one()
    else:
        record = record_or_export_id
    endpoints = conn.execute(
        select(webhook_endpoints.c.id, webhook_endpoints.c.events)
        .where(
            webhook_endpoints.c.space_id == record.space_id,
            webhook_endpoints.c.deleted_at.is_(None),
        )
        .order_by(webhook_endpoints.c.id)
    ).all()
    targets = [e.id for e in endpoints if event_type in e.events]
    if not targets:
        return []
    now = now or _utcnow()
    payload = payload_of(event_type, record, now=now)
    ids = []
    for endpoint_id in targets:
        ids.append(
            conn.execute(
                insert(webhook_deliveries)
                .values(
                    endpoint_id=endpoint_id,
                    export_id=int(record.id),
                    event_type=event_type,
                    message_id=f"msg_{uuid.uuid4().hex}",
                    payload=payload,
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                    delivered_at=None,
                    last_error=None,
                )
                .returning(webhook_deliveries.c.id)
            ).scalar_one()
        )
    return [int(i) for i in ids]

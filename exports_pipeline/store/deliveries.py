"""The sender's side of the outbox: due deliveries, claims (leases), attempts, outcomes.

A sender claims a delivery before sending it by moving its `next_attempt_at` forward to
the end of a lease and recording the attempt as in flight; a sender that dies mid-send
leaves the delivery to be sent again once the lease has run out (at least once). The
retry policy itself (when to try again, when to give up) is the sender's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from exports_pipeline.store.schema import (
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
)
from exports_pipeline.store.webhooks import DELIVERED, FAILED, PENDING


@dataclass(frozen=True)
class DueDelivery:
    """A pending delivery whose time has come, with what sending it needs."""

    id: int
    endpoint_id: int
    export_id: int
    event_type: str
    message_id: str
    payload: str
    attempts: int
    created_at: dt.datetime
    url: str
    endpoint_failures: int
    # The endpoint's signing secret as the store keeps it: sealed (`exports_pipeline.sealing`).
    sealed_secret: str = field(repr=False)


def due_deliveries(conn: Connection, *, now: dt.datetime, limit: int = 200) -> list[DueDelivery]:
    """Pending deliveries due at `now` to live endpoints that are not in backoff, the
    longest waiting first."""
    d, e = webhook_deliveries.c, webhook_endpoints.c
    rows = conn.execute(
        select(
            d.id,
            d.endpoint_id,
            d.export_id,
            d.event_type,
            d.message_id,
            d.payload,
            d.attempts,
            d.created_at,
            e.url,
            e.consecutive_failures,
            e.secret,
        )
        .join(webhook_endpoints, e.id == d.endpoint_id)
        .where(
            d.status == PENDING,
            d.next_attempt_at <= now,
            e.deleted_at.is_(None),
            or_(e.backoff_until.is_(None), e.backoff_until <= now),
        )
        .order_by(d.next_attempt_at, d.id)
        .limit(limit)
    )
    return [
        DueDelivery(
            id=int(r.id),
            endpoint_id=int(r.endpoint_id),
            export_id=int(r.export_id),
            event_type=r.event_type,
            message_id=r.message_id,
            payload=r.payload,
            attempts=int(r.attempts),
            created_at=r.created_at,
            url=r.url,
            endpoint_failures=int(r.consecutive_failures),
            sealed_secret=r.secret,
        )
        for r in rows
    ]


def claim_delivery(
    conn: Connection, delivery_id: int, *, now: dt.datetime, lease_until: dt.datetime
) -> int | None:
    """Take a due delivery for one attempt until `lease_until`; the new attempt's id, or
    None when it is not due any more (another sender took it, it was delivered, given up)."""
    claimed = conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.status == PENDING,
            webhook_deliveries.c.next_attempt_at <= now,
        )
        .values(
            next_attempt_at=lease_until,
            attempts=webhook_deliveries.c.attempts + 1,
        )
    )
    if claimed.rowcount != 1:
        return None
    return int(
        conn.execute(
            insert(webhook_attempts)
            .values(
                delivery_id=delivery_id,
                attempted_at=now,
                status_code=None,
                error=None,
                duration_ms=None,
            )
            .returning(webhook_attempts.c.id)
        ).scalar_one()
    )


def _end_attempt(
    conn: Connection, attempt_id: int, *, status_code: int | None, error: str | None, ms: int
) -> None:
    conn.execute(
        update(webhook_attempts)
        .where(webhook_attempts.c.id == attempt_id)
        .values(status_code=status_code, error=error, duration_ms=ms)
    )


def record_delivered(
    conn: Connection,
    delivery: DueDelivery,
    attempt_id: int,
    *,
    status_code: int,
    duration_ms: int,
    now: dt.datetime,
) -> None:
    """The receiver answered 2xx: the delivery is delivered, the endpoint out of backoff."""
    _end_attempt(conn, attempt_id, status_code=status_code, error=None, ms=duration_ms)
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery.id, webhook_deliveries.c.status == PENDING)
        .values(status=DELIVERED, delivered_at=now, last_error=None)
    )
    conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == delivery.endpoint_id)
        .values(consecutive_failures=0, backoff_until=None)
    )


def record_failure(
    conn: Connection,
    delivery: DueDelivery,
    attempt_id: int,
    *,
    status_code: int | None,
    error: str,
    duration_ms: int,
    retry_at: dt.datetime | None,
    endpoint_backoff_until: dt.datetime,
) -> None:
    """The attempt failed: retry the delivery at `retry_at`, or give it up (None); the
    endpoint waits until `endpoint_backoff_until` before any of its deliveries is sent."""
    _end_attempt(conn, attempt_id, status_code=status_code, error=error, ms=duration_ms)
    values: dict[str, Any] = {"last_error": error}
    if retry_at is None:
        values["status"] = FAILED
    else:
        values["next_attempt_at"] = retry_at
    conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id == delivery.id, webhook_deliveries.c.status == PENDING)
        .values(**values)
    )
    conn.execute(
        update(webhook_endpoints)
        .where(webhook_endpoints.c.id == delivery.endpoint_id)
        .values(
            consecutive_failures=webhook_endpoints.c.consecutive_failures + 1,
            backoff_until=endpoint_backoff_until,
        )
    )


@dataclass(frozen=True)
class Attempt:
    attempted_at: dt.datetime
    status_code: int | None
    error: str | None
    duration_ms: int | None


@dataclass(frozen=True)
class DeliveryView:
    """A delivery as operators see it: where it goes, where it stands, every attempt."""

    id: int
    space_id: str
    endpoint_id: int
    url: str
    export_id: int
    event_type: str
    message_id: str
    status: str
    attempts: int
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    last_error: str | None
    payload: str
    attempt_log: list[Attempt]


def list_deliveries(
    conn: Connection,
    *,
    space_id: str | None = None,
    export_id: int | None = None,
    limit: int = 100,
) -> list[DeliveryView]:
    """Deliveries, newest first, with their attempts oldest first; filtered by the
    endpoint's space and by export when given."""
    d, e = webhook_deliveries.c, webhook_endpoints.c
    query = (
        select(webhook_deliveries, e.space_id, e.url)
        .join(webhook_endpoints, e.id == d.endpoint_id)
        .order_by(d.id.desc())
        .limit(limit)
    )
    if space_id is not None:
        query = query.where(e.space_id == space_id)
    if export_id is not None:
        query = query.where(d.export_id == export_id)
    rows = conn.execute(query).all()
    attempts: dict[int, list[Attempt]] = {int(r.id): [] for r in rows}
    if attempts:
        for a in conn.execute(
            select(webhook_attempts)
            .where(webhook_attempts.c.delivery_id.in_(list(attempts)))
            .order_by(webhook_attempts.c.id)
        ):
            attempts[int(a.delivery_id)].append(
                Attempt(a.attempted_at, a.status_code, a.error, a.duration_ms)
            )
    return [
        DeliveryView(
            id=int(r.id),
            space_id=r.space_id,
            endpoint_id=int(r.endpoint_id),
            url=r.url,
            export_id=int(r.export_id),
            event_type=r.event_type,
            message_id=r.message_id,
            status=r.status,
            attempts=int(r.attempts),
            created_at=r.created_at,
            next_attempt_at=r.next_attempt_at,
            delivered_at=r.delivered_at,
            last_error=r.last_error,
            payload=r.payload,
            attempt_log=attempts[int(r.id)],
        )
        for r in rows
    ]

"""Standing export subscriptions: one export per local calendar day of the space.

A subscription's day D is *due* once D has ended in the space's timezone (local midnight
of D+1 has passed; DST days are 23 or 25 hours and change nothing here: only the local
date matters). `create_subscription_export` relies on the unique (subscription_id, date)
constraint of `exports`, so a day gets exactly one export however often, and from however
many processes, the due days are computed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from exports_pipeline.clock import today_in, utcnow
from exports_pipeline.store.exports import StoredRequest, create_export
from exports_pipeline.store.schema import export_subscriptions, exports, spaces


@dataclass(frozen=True)
class Subscription:
    id: int
    space_id: str
    params: dict[str, Any]
    start_date: dt.date
    created_at: dt.datetime
    active: bool

    def request_for(self, date: dt.date) -> StoredRequest:
        """The export request of this subscription for one day."""
        return StoredRequest(date, self.params)


def _subscription(row: Any) -> Subscription:
    return Subscription(**row._mapping)


def add_subscription(
    conn: Connection,
    *,
    space_id: str,
    params: dict[str, Any],
    start_date: dt.date,
    now: dt.datetime | None = None,
) -> int:
    """Insert an active subscription; `params` are an API body without `date`, already
    validated by the caller (`engine.request.parse_export_request`).

    Raises `LookupError` for an unknown space.
    """
    if conn.execute(select(spaces.c.id).where(spaces.c.id == space_id)).first() is None:
        raise LookupError(f"space {space_id!r} does not exist")
    result = conn.execute(
        insert(export_subscriptions)
        .values(
            space_id=space_id,
            params=params,
            start_date=start_date,
            created_at=now or utcnow(),
            active=True,
        )
        .returning(export_subscriptions.c.id)
    )
    return int(result.scalar_one())


def list_subscriptions(
    conn: Connection, *, space_id: str | None = None, include_inactive: bool = False
) -> list[Subscription]:
    query = select(export_subscriptions).order_by(export_subscriptions.c.id)
    if space_id is not None:
        query = query.where(export_subscriptions.c.space_id == space_id)
    if not include_inactive:
        query = query.where(export_subscriptions.c.active.is_(True))
    return [_subscription(r) for r in conn.execute(query)]


def remove_subscription(conn: Connection, subscription_id: int) -> bool:
    """Deactivate a subscription (its exports keep pointing at it); False if none active."""
    result = conn.execute(
        update(export_subscriptions)
        .where(export_subscriptions.c.id == subscription_id, export_subscriptions.c.active)
        .values(active=False)
    )
    return result.rowcount == 1


def due_subscription_days(
    conn: Connection, *, now: dt.datetime, catch_up_days: int
) -> list[tuple[Subscription, dt.date]]:
    """(subscription, day) pairs whose day has ended and that have no export yet.

    Active subscriptions of spaces with an active subscription only; at most the last
    `catch_up_days` ended days of each, never before its start date; oldest day first.
    """
    rows = conn.execute(
        select(export_subscriptions, spaces.c.timezone)
        .join(spaces, spaces.c.id == export_subscriptions.c.space_id)
        .where(export_subscriptions.c.active.is_(True), spaces.c.subscription_active.is_(True))
        .order_by(export_subscriptions.c.id)
    ).all()
    due: list[tuple[Subscription, dt.date]] = []
    for row in rows:
        mapping = dict(row._mapping)
        timezone = mapping.pop("timezone")
        subscription = Subscription(**mapping)
        last = today_in(timezone, now) - dt.timedelta(days=1)
        first = max(subscription.start_date, last - dt.timedelta(days=catch_up_days - 1))
        if first > last:
            continue
        done = set(
            conn.execute(
                select(exports.c.date).where(
                    exports.c.subscription_id == subscription.id,
                    exports.c.date >= first,
                    exports.c.date <= last,
                )
            ).scalars()
        )
        day = first
        while day <= last:
            if day not in done:
                due.append((subscription, day))
            day += dt.timedelta(days=1)
    return due


def create_subscription_export(
    engine: Engine, subscription: Subscription, date: dt.date, *, now: dt.datetime | None = None
) -> int | None:
    """Queue the export of `subscription` for `date`; None when that day already has one."""
    try:
        with engine.begin() as conn:
            return create_export(
                conn,
                space_id=subscription.space_id,
                request=subscription.request_for(date),
                trigger="schedule",
                subscription_id=subscription.id,
                now=now,
            )
    except IntegrityError:
        return None

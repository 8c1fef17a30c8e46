"""subscription_export_schedule queues one export per subscription per ended local day."""

import datetime as dt

import pytest
import sqlalchemy as sa
from dagster import build_schedule_context

from exports_pipeline.engine.request import parse_export_request
from exports_pipeline.pipeline.resources import StoreResource
from exports_pipeline.pipeline.schedules import subscription_export_schedule
from exports_pipeline.store import schema
from exports_pipeline.store.exports import exports_with_status
from exports_pipeline.store.subscriptions import (
    add_subscription,
    list_subscriptions,
    remove_subscription,
)

UTC = dt.UTC
PARAMS = {"sources": ["email"], "attribution_model": "last_touch", "attribution_window": 7}


def _subscribe(store, space_id: str, start: dt.date, params=None) -> int:
    """Subscribe as the CLI does: the request is validated, then stored."""
    request = parse_export_request({**(params or {}), "date": start.isoformat()})
    with store.engine.begin() as conn:
        return add_subscription(
            conn, space_id=space_id, params=request.to_params(), start_date=start
        )


def _tick(store, when: dt.datetime) -> list[tuple[int | None, str, dt.date]]:
    """Evaluate the tick scheduled at `when`; the exports it queued (subscription, space, day)."""
    with store.engine.connect() as conn:
        before = {r.id for r in exports_with_status(conn, "queued", limit=10_000)}
    with build_schedule_context(scheduled_execution_time=when, resources={"store": store}) as ctx:
        data = subscription_export_schedule.evaluate_tick(ctx)
    assert not data.run_requests  # the request sensor launches them
    with store.engine.connect() as conn:
        after = exports_with_status(conn, "queued", limit=10_000)
    return [(r.subscription_id, r.space_id, r.date) for r in after if r.id not in before]


@pytest.mark.parametrize(
    ("day", "not_yet", "due"),
    [
        # New York falls back on 2026-11-01 (25 hours): it ends at 05:00 UTC on the 2nd.
        (dt.date(2026, 11, 1), "2026-11-02T04:45", "2026-11-02T05:00"),
        # New York springs forward on 2026-03-08 (23 hours): it ends at 04:00 UTC on the 9th.
        (dt.date(2026, 3, 8), "2026-03-09T03:45", "2026-03-09T04:00"),
        # The day before the change still ends at 05:00 UTC (EST).
        (dt.date(2026, 3, 7), "2026-03-08T04:45", "2026-03-08T05:00"),
    ],
    ids=["fall-back", "spring-forward", "before-spring"],
)
def test_a_day_is_exported_once_it_has_ended_in_the_space(store, day, not_yet, due):
    subscription = _subscribe(store, "space-ny", day, PARAMS)
    assert _tick(store, dt.datetime.fromisoformat(not_yet).replace(tzinfo=UTC)) == []
    created = _tick(store, dt.datetime.fromisoformat(due).replace(tzinfo=UTC))
    assert created == [(subscription, "space-ny", day)]
    later = dt.datetime.fromisoformat(due).replace(tzinfo=UTC) + dt.timedelta(minutes=15)
    assert _tick(store, later) == []


def test_subscription_exports_carry_the_subscription_request(store):
    subscription = _subscribe(store, "space-ny", dt.date(2026, 11, 1), PARAMS)
    _tick(store, dt.datetime(2026, 11, 2, 5, 0, tzinfo=UTC))
    with store.engine.connect() as conn:
        (record,) = exports_with_status(conn, "queued")
    assert (record.trigger, record.subscription_id, record.params) == (
        "schedule",
        subscription,
        {"query_mode": "profile", **PARAMS},
    )


def test_missed_days_are_caught_up_within_the_bound(store):
    # The bound the code location takes from EXPORTS_SUBSCRIPTION_CATCH_UP_DAYS.
    store = StoreResource(database_url=store.database_url, subscription_catch_up_days=3)
    subscription = _subscribe(store, "space-berlin", dt.date(2026, 3, 1))
    # The daemon was down since early March; on 2026-03-10 at 00:15 Berlin time
    # (23:15 UTC on the 9th) the last ended day is 03-09.
    created = _tick(store, dt.datetime(2026, 3, 9, 23, 15, tzinfo=UTC))
    assert [c[2] for c in created] == [
        dt.date(2026, 3, 7),
        dt.date(2026, 3, 8),
        dt.date(2026, 3, 9),
    ]
    assert {c[0] for c in created} == {subscription}


def test_catch_up_never_goes_before_the_start_date(store):
    _subscribe(store, "space-berlin", dt.date(2026, 3, 8))
    created = _tick(store, dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    assert [c[2] for c in created] == [dt.date(2026, 3, 8), dt.date(2026, 3, 9)]


def test_a_day_already_exported_is_not_exported_again_after_a_gap(store):
    _subscribe(store, "space-berlin", dt.date(2026, 3, 8))
    first = _tick(store, dt.datetime(2026, 3, 9, 0, 0, tzinfo=UTC))
    assert [c[2] for c in first] == [dt.date(2026, 3, 8)]
    # Missed the whole next day; catching up adds only the days without an export.
    second = _tick(store, dt.datetime(2026, 3, 11, 0, 0, tzinfo=UTC))
    assert [c[2] for c in second] == [dt.date(2026, 3, 9), dt.date(2026, 3, 10)]


def test_removed_subscriptions_and_inactive_spaces_get_no_exports(store):
    removed = _subscribe(store, "space-berlin", dt.date(2026, 3, 8))
    _subscribe(store, "space-ny", dt.date(2026, 3, 8))
    with store.engine.begin() as conn:
        assert remove_subscription(conn, removed)
        assert not remove_subscription(conn, removed)
        conn.execute(
            sa.update(schema.spaces)
            .where(schema.spaces.c.id == "space-ny")
            .values(subscription_active=False)
        )
        assert [s.id for s in list_subscriptions(conn, include_inactive=True)] == [removed, 2]
    assert _tick(store, dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)) == []

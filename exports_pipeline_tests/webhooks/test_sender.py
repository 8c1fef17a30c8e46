"""The sender delivers signed bodies to a real receiver, retries with backoff, gives up after
the window, refuses non-public addresses at send time, and re-sends after a dead sender."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from exports_pipeline.sealing import SecretBox
from exports_pipeline.store.deliveries import claim_delivery, list_deliveries
from exports_pipeline.store.exports import get_export
from exports_pipeline.store.schema import exports, webhook_endpoints
from exports_pipeline.store.status import status_object
from exports_pipeline.store.webhooks import (
    EXPORT_CANCELLED,
    EXPORT_EXPIRED,
    enqueue_deliveries,
)
from exports_pipeline.webhooks.sender import SenderConfig, send_due_deliveries
from exports_pipeline_tests.support.receiver import Receiver, free_port, receiver
from exports_pipeline_tests.support.sealing import BOX
from exports_pipeline_tests.support.webhooks import (
    add_endpoint,
    complete,
    completed_export,
    deliveries,
    fail,
    move_to,
    next_due,
    processing_export,
)

DEV = SenderConfig(allow_private=True)


def _finish(engine: sa.Engine, export_id: int, event: str) -> None:
    """Change the export's status as whoever announces `event` does."""
    if event == "export.completed":
        complete(engine, export_id)
    elif event == "export.failed":
        fail(engine, export_id)
    else:
        # Cancel and retention are built later; they change the status the same way: a
        # guarded update and the outbox call in one transaction.
        status = {EXPORT_CANCELLED: "cancelled", EXPORT_EXPIRED: "expired"}[event]
        with engine.begin() as conn:
            conn.execute(
                sa.update(exports)
                .where(exports.c.id == export_id)
                .values(status=status, message=f"The export is {status}.")
            )
            enqueue_deliveries(conn, export_id, event)


@pytest.mark.parametrize(
    "event", ["export.completed", "export.failed", "export.cancelled", "export.expired"]
)
def test_each_event_arrives_signed_with_the_status_object(engine, event):
    with receiver() as hook:
        endpoint = add_endpoint(engine, hook.url, events=[event])
        export_id = processing_export(engine)
        _finish(engine, export_id, event)
        report = send_due_deliveries(engine, BOX, DEV)
        assert (report.delivered, report.retrying, report.given_up) == (1, 0, 0)
    [got] = hook.received
    # Verified by the Standard Webhooks library, as a receiver does.
    body = Webhook(endpoint.secret).verify(got.body, got.headers)
    with engine.connect() as conn:
        record = get_export(conn, export_id)
    assert body["type"] == event
    assert body["data"] == status_object(record)
    assert "download_url" not in body["data"]
    assert dt.datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    [delivery] = deliveries(engine)
    assert got.headers["Webhook-Id"] == delivery.message_id
    assert got.headers["Webhook-Id"].startswith("msg_")
    assert got.headers["Content-Type"] == "application/json"
    assert got.body.decode() == delivery.payload
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 44).verify(got.body, got.headers)


def test_a_receiver_answering_500_twice_then_200_gets_three_attempts(engine, clock):
    with receiver(answers=[500, 500, 200]) as hook:
        add_endpoint(engine, hook.url)
        completed_export(engine)
        [delivery] = deliveries(engine)
        reports = [send_due_deliveries(engine, BOX, DEV)]
        for _ in range(2):
            # Not due before its retry time.
            assert send_due_deliveries(engine, BOX, DEV).attempts == 0
            move_to(clock, next_due(engine, delivery.id))
            reports.append(send_due_deliveries(engine, BOX, DEV))
    assert [(r.delivered, r.retrying) for r in reports] == [(0, 1), (0, 1), (1, 0)]
    assert len(hook.received) == 3
    assert len({r.headers["Webhook-Id"] for r in hook.received}) == 1
    [view] = list_deliveries(engine.connect())
    assert (view.status, view.attempts) == ("delivered", 3)
    assert [a.status_code for a in view.attempt_log] == [500, 500, 200]
    assert all(a.duration_ms is not None for a in view.attempt_log)
    # First retry about 5 s after the first attempt, the second about 10 s after that.
    attempts = [a.attempted_at for a in view.attempt_log]
    assert 4 <= (attempts[1] - attempts[0]).total_seconds() <= 6.5
    assert 8 <= (attempts[2] - attempts[1]).total_seconds() <= 12.5
    gaps = [round((b - a).total_seconds(), 1) for a, b in itertools.pairwise(attempts)]
    print(f"\n500, 500, 200: {view.attempts} attempts, delivered once; gaps {gaps} s")


def test_a_receiver_down_then_up_gets_it_after_it_comes_back(engine, clock):
    port = free_port()
    down = Receiver(port=port)
    add_endpoint(engine, down.url)
    export_id = completed_export(engine)
    [delivery] = deliveries(engine)
    outcomes = []
    for _ in range(3):
        outcomes.append(send_due_deliveries(engine, BOX, DEV))
        move_to(clock, next_due(engine, delivery.id))
    with receiver(port=port) as hook:
        outcomes.append(send_due_deliveries(engine, BOX, DEV))
    assert [o.retrying for o in outcomes] == [1, 1, 1, 0]
    assert outcomes[-1].delivered == 1
    assert len(hook.received) == 1
    [view] = list_deliveries(engine.connect())
    assert (view.status, view.attempts) == ("delivered", 4)
    assert all("ConnectError" in (a.error or "") for a in view.attempt_log[:3])
    assert view.attempt_log[-1].status_code == 200
    with engine.connect() as conn:
        assert get_export(conn, export_id).status == "completed"
    print(f"\ndown for 3 attempts, then up: delivered on attempt {view.attempts}")


def test_a_receiver_never_up_is_given_up_after_the_retry_window(engine, clock):
    add_endpoint(engine, Receiver(port=free_port()).url)
    export_id = completed_export(engine)
    [delivery] = deliveries(engine)
    given_up = 0
    for _ in range(100):
        report = send_due_deliveries(engine, BOX, DEV)
        given_up += report.given_up
        [row] = deliveries(engine)
        if row.status != "pending":
            break
        # Its endpoint's backoff never holds it past its own retry time (and window).
        assert next_due(engine, delivery.id) == row.next_attempt_at
        move_to(clock, row.next_attempt_at)
    [view] = list_deliveries(engine.connect())
    assert view.status == "failed"
    assert given_up == 1
    assert view.last_error.startswith(f"given up after {view.attempts} attempts")
    times = [a.attempted_at for a in view.attempt_log]
    assert len(times) == view.attempts
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert max(gaps) <= 3600 + 1
    assert times[-1] - view.created_at <= dt.timedelta(hours=24)
    # The next retry would have fallen outside the 24 h window.
    assert times[-1] + dt.timedelta(seconds=0.8 * 3600) > view.created_at + dt.timedelta(hours=22)
    with engine.connect() as conn:
        assert get_export(conn, export_id).status == "completed"
    print(
        f"\nnever up: {view.attempts} attempts over {(times[-1] - times[0])} then given up; "
        f"first gaps {[round(g, 1) for g in gaps[:6]]}"
    )


def test_a_failing_endpoint_does_not_hold_up_the_others(engine, clock):
    config = SenderConfig(allow_private=True, timeout_seconds=0.5)
    with receiver(delay=2.0) as slow, receiver() as healthy:
        add_endpoint(engine, slow.url)
        add_endpoint(engine, healthy.url)
        for _ in range(3):
            completed_export(engine)
        first = send_due_deliveries(engine, BOX, config)
        again = send_due_deliveries(engine, BOX, config)
    # The healthy endpoint gets all three; the slow one one attempt, then its backoff.
    assert (first.delivered, first.retrying) == (3, 1)
    assert again.attempts == 0
    assert len(healthy.received) == 3
    assert len(slow.received) == 1
    slow_rows = [d for d in deliveries(engine) if d.status == "pending"]
    assert sorted(d.attempts for d in slow_rows) == [0, 0, 1]
    [timed_out] = [d for d in slow_rows if d.attempts == 1]
    assert timed_out.last_error == "timed out after 0.5 s"


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://127.0.0.1:{port}/hook", "must be an https:// URL"),
        ("https://127.0.0.1:{port}/hook", "loopback"),
        ("https://localhost:{port}/hook", "loopback"),
        ("https://[::1]:{port}/hook", "loopback"),
        ("https://169.254.169.254:{port}/hook", "metadata"),
        ("https://10.0.0.7:{port}/hook", "private"),
    ],
)
def test_an_address_refused_at_send_time_is_a_failed_attempt(engine, url, rule):
    with receiver() as hook:
        # Written directly: an endpoint made under the dev flag, or whose DNS changed since.
        add_endpoint(engine, url.format(port=hook.server.port))
        completed_export(engine)
        report = send_due_deliveries(engine, BOX, SenderConfig())
    assert hook.received == []
    assert (report.retrying, report.delivered) == (1, 0)
    [view] = list_deliveries(engine.connect())
    [attempt] = view.attempt_log
    assert attempt.status_code is None
    assert attempt.error.startswith("refused before sending: url ")
    assert rule in attempt.error


def test_the_request_goes_to_the_checked_address_with_the_hosts_name(engine):
    with receiver() as hook:
        add_endpoint(engine, f"http://localhost:{hook.server.port}/hook?space=acme")
        completed_export(engine)
        assert send_due_deliveries(engine, BOX, DEV).delivered == 1
    [got] = hook.received
    assert got.headers["Host"] == f"localhost:{hook.server.port}"


def test_a_sender_that_died_mid_send_is_followed_by_a_resend_after_the_lease(engine, clock):
    config = SenderConfig(allow_private=True, lease=dt.timedelta(seconds=60))
    with receiver() as hook:
        add_endpoint(engine, hook.url)
        completed_export(engine)
        [delivery] = deliveries(engine)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with engine.begin() as conn:
            # Claimed, and then the sender is gone: nothing recorded after the claim.
            assert claim_delivery(conn, delivery.id, now=now, lease_until=now + config.lease)
        assert send_due_deliveries(engine, BOX, config).attempts == 0
        move_to(clock, now + config.lease)
        assert send_due_deliveries(engine, BOX, config).delivered == 1
    [got] = hook.received
    assert got.headers["Webhook-Id"] == delivery.message_id
    [view] = list_deliveries(engine.connect())
    assert (view.status, view.attempts) == ("delivered", 2)
    first, second = view.attempt_log
    assert (first.status_code, first.error, first.duration_ms) == (None, None, None)
    assert second.status_code == 200


def test_each_attempt_is_signed_at_its_own_time_over_the_same_body(engine, clock):
    with receiver(answers=[503]) as hook:
        endpoint = add_endpoint(engine, hook.url)
        completed_export(engine)
        [delivery] = deliveries(engine)
        send_due_deliveries(engine, BOX, DEV)
        move_to(clock, next_due(engine, delivery.id))
        send_due_deliveries(engine, BOX, DEV)
    first, second = hook.received
    assert first.body == second.body
    assert int(second.headers["Webhook-Timestamp"]) > int(first.headers["Webhook-Timestamp"])
    assert Webhook(endpoint.secret).verify(second.body, second.headers) == json.loads(first.body)


def test_an_attempt_that_cannot_even_be_made_is_a_failed_attempt(engine):
    endpoint = add_endpoint(engine, "http://127.0.0.1:9/hook")
    with engine.begin() as conn:
        # A secret broken by hand: signing fails before any request.
        conn.execute(
            sa.update(webhook_endpoints)
            .where(webhook_endpoints.c.id == endpoint.id)
            .values(secret=BOX.seal("whsec_"))
        )
    completed_export(engine)
    report = send_due_deliveries(engine, BOX, DEV)
    assert (report.retrying, report.errors) == (1, 0)
    [view] = list_deliveries(engine.connect())
    assert view.attempt_log[0].error == "sender error: EmptyWebhookSecretError"


def test_a_secret_sealed_under_another_key_is_a_failed_attempt_never_sent(engine):
    with receiver() as hook:
        add_endpoint(engine, hook.url)
        completed_export(engine)
        report = send_due_deliveries(
            engine, SecretBox.from_key("another key, also 32 bytes long"), DEV
        )
    assert (report.retrying, report.errors) == (1, 0)
    assert hook.received == []
    [view] = list_deliveries(engine.connect())
    assert view.attempt_log[0].error == "sender error: SecretUnreadable"

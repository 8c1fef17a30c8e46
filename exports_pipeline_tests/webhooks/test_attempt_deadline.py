"""An attempt has one deadline (SPEC 6.5's 10 s) for connecting, the headers and the body:
a receiver that trickles its answer is cut off and the attempt recorded as timed out, while
the export's other endpoint is delivered meanwhile; an endless 2xx body is read only up to
the cap, and delivered; a pass never waits on a stalled attempt past its deadline."""

from __future__ import annotations

import datetime as dt
import socket
import time

from exports_pipeline.store.deliveries import list_deliveries
from exports_pipeline.webhooks import sender
from exports_pipeline.webhooks.addresses import Target, check_url
from exports_pipeline.webhooks.sender import ATTEMPT_SECONDS, SenderConfig, send_due_deliveries
from exports_pipeline.webhooks.watchdog import Watchdog
from exports_pipeline_tests.support.receiver import (
    EndlessAnswer,
    SocketReceiver,
    Trickler,
    receiver,
)
from exports_pipeline_tests.support.sealing import BOX
from exports_pipeline_tests.support.webhooks import (
    add_endpoint,
    completed_export,
    deliveries,
)

DEV = SenderConfig(allow_private=True)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _hung_up(receiver: SocketReceiver) -> float:
    """When (monotonic) the sender hung up on the receiver's one request (waits a little)."""
    waited_until = time.monotonic() + 5
    while not receiver.hung_up_at and time.monotonic() < waited_until:
        time.sleep(0.05)
    [when] = receiver.hung_up_at
    return when


def test_a_trickling_receiver_is_cut_off_at_the_deadline_while_the_other_is_delivered(engine):
    assert DEV.timeout_seconds == ATTEMPT_SECONDS == 10.0
    with Trickler(interval=1.5) as trickler, receiver() as healthy:
        slow = add_endpoint(engine, trickler.url)
        fast = add_endpoint(engine, healthy.url)
        completed_export(engine)
        started, started_at = time.monotonic(), _utcnow()
        report = send_due_deliveries(engine, BOX, DEV)
        passed = time.monotonic() - started
        # The sender hung up on the trickler, not the other way round.
        assert trickler.requests == 1
        assert _hung_up(trickler) - started <= 12.0
    assert passed <= 12.0
    assert (report.delivered, report.retrying, report.errors) == (1, 1, 0)
    assert len(healthy.received) == 1
    views = {v.endpoint_id: v for v in list_deliveries(engine.connect())}
    timed_out, delivered = views[slow.id], views[fast.id]
    assert (timed_out.status, timed_out.attempts) == ("pending", 1)
    assert timed_out.last_error == "timed out after 10 s"
    [attempt] = timed_out.attempt_log
    assert (attempt.status_code, attempt.error) == (None, "timed out after 10 s")
    assert attempt.duration_ms is not None and 10_000 <= attempt.duration_ms <= 12_000
    ended = attempt.attempted_at + dt.timedelta(milliseconds=attempt.duration_ms)
    assert ended <= started_at + dt.timedelta(seconds=12)
    # Meanwhile: the same export's other endpoint had it long before the trickler was cut.
    assert delivered.status == "delivered"
    assert delivered.delivered_at is not None
    assert delivered.delivered_at < started_at + dt.timedelta(seconds=5) < ended
    print(f"\ntrickler cut after {attempt.duration_ms} ms; the pass took {passed:.1f} s")


def test_a_short_deadline_cuts_a_trickling_answer_just_as_well(engine):
    config = SenderConfig(allow_private=True, timeout_seconds=2.0)
    with Trickler(interval=0.5) as trickler:
        add_endpoint(engine, trickler.url)
        completed_export(engine)
        started = time.monotonic()
        report = send_due_deliveries(engine, BOX, config)
        assert time.monotonic() - started < 4.0
    assert (report.delivered, report.retrying) == (0, 1)
    [view] = list_deliveries(engine.connect())
    assert view.last_error == "timed out after 2 s"


def test_an_endless_2xx_body_is_read_only_up_to_the_cap_and_delivered(engine):
    with EndlessAnswer() as endless:
        add_endpoint(engine, endless.url)
        completed_export(engine)
        started = time.monotonic()
        report = send_due_deliveries(engine, BOX, DEV)
        took = time.monotonic() - started
        _hung_up(endless)
    assert report.delivered == 1
    assert took < ATTEMPT_SECONDS / 2
    [view] = list_deliveries(engine.connect())
    assert (view.status, view.attempt_log[0].status_code) == ("delivered", 200)


def test_a_pass_does_not_wait_on_an_attempt_stalled_where_the_watchdog_cannot_reach(
    engine, monkeypatch
):
    # E.g. a DNS lookup that hangs: it comes before the connection, which the watchdog cuts.
    def hanging_lookup(url: str, *, allow_private: bool) -> Target:
        time.sleep(5.0)
        return check_url(url, allow_private=allow_private)

    monkeypatch.setattr(sender, "check_url", hanging_lookup)
    config = SenderConfig(allow_private=True, timeout_seconds=0.5, budget_seconds=1.0)
    with receiver() as hook:
        add_endpoint(engine, hook.url)
        completed_export(engine)
        started = time.monotonic()
        report = send_due_deliveries(engine, BOX, config)
        took = time.monotonic() - started
        assert took < 1.0 + 0.5 + sender.PASS_GRACE_SECONDS + 0.5
        assert (report.attempts, report.errors) == (0, 1)
        # Its thread goes on and records the attempt once the lookup returns.
        waited_until = time.monotonic() + 15
        while deliveries(engine)[0].status != "delivered" and time.monotonic() < waited_until:
            time.sleep(0.1)
    assert deliveries(engine)[0].status == "delivered"
    assert len(hook.received) == 1


class _Stream:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, info: str) -> object:
        return self.sock if info == "socket" else None


def test_the_watchdog_cuts_a_connection_made_after_its_time_and_none_after_its_attempt():
    left, right = socket.socketpair()
    with left, right, Watchdog(0.05) as late:
        time.sleep(0.2)
        assert late.fired
        late.trace("connection.connect_tcp.complete", {"return_value": _Stream(left)})
        right.settimeout(2)
        assert right.recv(1) == b""  # shut down as soon as it was known
    other_left, other_right = socket.socketpair()
    with other_left, other_right:
        with Watchdog(0.2) as in_time:
            in_time.trace("connection.connect_tcp.complete", {"return_value": _Stream(other_left)})
        time.sleep(0.4)
        assert not in_time.fired
        other_left.sendall(b"x")
        assert other_right.recv(1) == b"x"

"""Sending due webhook deliveries, signed as Standard Webhooks says, with retries.

One call (`send_due_deliveries`) is one pass: the due deliveries are grouped by endpoint;
up to `max_workers` endpoints are served at once, each one delivery at a time, so an
endpoint never has more than one attempt in flight. A failed attempt puts its endpoint in
backoff (its other deliveries wait too) and schedules the delivery's retry: the n-th retry
about 5 * 2^(n-1) seconds after the attempt before it (jittered +-20 %, never more than an
hour), until the retry window (24 h) since the delivery was written is spent; then it is
given up (`failed`). Every attempt is recorded. A 2xx answer is a delivery.

At least once: a delivery is claimed (a lease) before it is sent; if the sender dies
mid-send, the delivery is due again once the lease has run out, with the same
`webhook-id`, so receivers deduplicate. The URL's address rule is checked again before
each attempt, and the request goes to the address that was checked (no second lookup).

An attempt has one deadline, 10 s, for connecting, the answer's headers and its body (of
which at most 64 KiB are read): a watchdog then shuts its connection down and the attempt
is a failed one, "timed out". A pass waits for its endpoints no longer than its last
attempt's deadline (and a grace): a stalled attempt never stalls the pass.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import ssl
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import Engine
from standardwebhooks import Webhook

from exports_pipeline.sealing import SecretBox
from exports_pipeline.settings import Settings
from exports_pipeline.store.deliveries import (
    DueDelivery,
    claim_delivery,
    due_deliveries,
    record_delivered,
    record_failure,
)
from exports_pipeline.webhooks.addresses import RefusedUrl, check_url
from exports_pipeline.webhooks.watchdog import Watchdog

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 3600.0
JITTER = 0.2
USER_AGENT = "exports-pipeline-webhooks/1"
# SPEC 6.5: an attempt not answered in full (connect, headers, body) within 10 s timed out.
ATTEMPT_SECONDS = 10.0
# How much of an answer's body is read; a receiver's answer is its status, the rest is unread.
MAX_RESPONSE_BYTES = 64 * 1024
# How long past its last possible attempt's deadline a pass still waits for an endpoint.
PASS_GRACE_SECONDS = 2.0


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def retry_delay(retry: int, *, rng: random.Random | None = None) -> dt.timedelta:
    """How long after a failed attempt the `retry`-th retry comes (1 = the first):
    5 * 2^(retry-1) seconds, jittered by +-20 %, at most one hour."""
    base = min(FIRST_RETRY_SECONDS * 2 ** min(retry - 1, 30), MAX_RETRY_SECONDS)
    factor = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    return dt.timedelta(seconds=min(base * factor, MAX_RETRY_SECONDS))


@dataclass(frozen=True)
class SenderConfig:
    """How the sender works; `from_settings` reads the service's settings."""

    allow_private: bool = False
    retry_window: dt.timedelta = dt.timedelta(hours=24)
    # The deadline of one whole attempt (the watchdog's), and of each read within it.
    timeout_seconds: float = ATTEMPT_SECONDS
    max_workers: int = 8
    batch: int = 200
    lease: dt.timedelta = dt.timedelta(seconds=60)
    # A pass starts no new attempt after this long (a sensor tick must end in time).
    budget_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Settings) -> SenderConfig:
        return cls(
            allow_private=settings.webhook_allow_private,
            retry_window=dt.timedelta(hours=settings.webhook_retry_hours),
            lease=dt.timedelta(seconds=settings.webhook_lease_seconds),
        )


@dataclass
class SendReport:
    """What one pass did: attempts made and how they ended."""

    delivered: int = 0
    retrying: int = 0
    given_up: int = 0
    errors: int = 0
    delivered_ids: list[int] = field(default_factory=list)

    @property
    def attempts(self) -> int:
        return self.delivered + self.retrying + self.given_up

    def add(self, other: SendReport) -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.given_up += other.given_up
        self.errors += other.errors
        self.delivered_ids.extend(other.delivered_ids)

    def summary(self) -> str:
        text = (
            f"{self.attempts} webhook attempts: {self.delivered} delivered, "
            f"{self.retrying} failed and retrying, {self.given_up} given up"
        )
        return text + (f", {self.errors} sender errors (see logs)" if self.errors else "")


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_headers(delivery: DueDelivery, secret: str, *, now: dt.datetime) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (timestamp = the attempt's time), signed
    with the endpoint's `secret`."""
    stamp = now.astimezone(dt.UTC).replace(microsecond=0)
    signature = Webhook(secret).sign(delivery.message_id, stamp, delivery.payload)
    return {
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def _pinned_url(url: str, address: str, port: int) -> str:
    """`url` with its host replaced by the checked address (the Host header keeps the name)."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    return urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))


def attempt_delivery(
    delivery: DueDelivery, secret: str, config: SenderConfig, ssl_context: ssl.SSLContext
) -> Outcome:
    """POST the delivery once, signed with `secret`; its outcome (never raises for a
    network problem). Connecting, the answer's headers and its body (read up to
    `MAX_RESPONSE_BYTES`) get `config.timeout_seconds` in all: then a watchdog shuts the
    connection down and the attempt has timed out."""
    import httpx  # here, not at the top: every run worker loads this module, none sends

    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = check_url(delivery.url, allow_private=config.allow_private)
    except RefusedUrl as exc:
        return Outcome(None, f"refused before sending: url {exc}", elapsed())
    headers = signed_headers(delivery, secret, now=dt.datetime.now(dt.UTC))
    headers["host"] = urlsplit(delivery.url).netloc
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    timed_out = f"timed out after {config.timeout_seconds:g} s"
    watchdog = Watchdog(config.timeout_seconds)
    try:
        with (
            httpx.Client(
                verify=ssl_context,
                timeout=config.timeout_seconds,
                trust_env=False,
                follow_redirects=False,
            ) as client,
            watchdog,
        ):
            request = client.build_request(
                "POST",
                _pinned_url(delivery.url, target.addresses[0], target.port),
                content=delivery.payload.encode("utf-8"),
                headers=headers,
                extensions={**extensions, "trace": watchdog.trace},
            )
            code = _answer_status(client, request)
    except Exception as exc:
        # After the watchdog fired, whatever the cut connection raised is the timeout.
        if watchdog.fired or isinstance(exc, httpx.TimeoutException):
            return Outcome(None, timed_out, elapsed())
        if isinstance(exc, httpx.HTTPError):
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:500], elapsed())
        raise
    if watchdog.fired:
        return Outcome(None, timed_out, elapsed())
    return Outcome(code, None if 200 <= code < 300 else f"HTTP {code}", elapsed())


def _answer_status(client: httpx.Client, request: httpx.Request) -> int:
    """Send the request; the answer's status, once at most `MAX_RESPONSE_BYTES` of its body
    (as sent, not decompressed) are read. The rest is never read: the connection is
    closed, and a long 2xx answer is still a delivery."""
    response = client.send(request, stream=True)
    try:
        read = 0
        for chunk in response.iter_raw():
            read += len(chunk)
            if read >= MAX_RESPONSE_BYTES:
                break
    finally:
        response.close()
    return response.status_code


def _serve_endpoint(
    engine: Engine,
    deliveries: list[DueDelivery],
    box: SecretBox,
    config: SenderConfig,
    ssl_context: ssl.SSLContext,
    deadline: float,
    rng: random.Random,
) -> SendReport:
    """Send one endpoint's due deliveries one after another, stopping at its first failure."""
    report = SendReport()
    for delivery in deliveries:
        if time.monotonic() > deadline:
            break
        try:
            now = _utcnow()
            with engine.begin() as conn:
                attempt_id = claim_delivery(
                    conn, delivery.id, now=now, lease_until=now + config.lease
                )
            if attempt_id is None:
                continue
            outcome = _attempt(delivery, box, config, ssl_context)
            ended = _utcnow()
            if outcome.delivered:
                with engine.begin() as conn:
                    record_delivered(
                        conn,
                        delivery,
                        attempt_id,
                        status_code=outcome.status_code or 200,
                        duration_ms=outcome.duration_ms,
                        now=ended,
                    )
                report.delivered += 1
                report.delivered_ids.append(delivery.id)
                continue
            if _record_failed_attempt(engine, delivery, attempt_id, outcome, ended, config, rng):
                report.retrying += 1
            else:
                report.given_up += 1
            # The endpoint is in backoff now: its other deliveries wait for it.
            break
        except Exception:
            logger.exception("webhook delivery %s: the sender failed", delivery.id)
            report.errors += 1
            break
    return report


def _attempt(
    delivery: DueDelivery, box: SecretBox, config: SenderConfig, ssl_context: ssl.SSLContext
) -> Outcome:
    """`attempt_delivery` with the endpoint's secret opened from the store's sealed one, and
    an error of the sender itself as a failed attempt."""
    try:
        return attempt_delivery(delivery, box.open(delivery.sealed_secret), config, ssl_context)
    except Exception as exc:
        # E.g. a secret sealed under another key, or no valid base64: a failed attempt
        # like any other, so the delivery is retried and in the end given up, never left
        # in flight.
        logger.exception("webhook delivery %s: the attempt failed", delivery.id)
        return Outcome(None, f"sender error: {type(exc).__name__}", 0)


def _retry_at(
    delivery: DueDelivery, ended: dt.datetime, config: SenderConfig, rng: random.Random
) -> dt.datetime | None:
    """When a delivery whose attempt failed at `ended` is tried again; None once the next
    try would fall past the retry window (the delivery is given up)."""
    retry_at = ended + retry_delay(delivery.attempts + 1, rng=rng)
    return None if retry_at > delivery.created_at + config.retry_window else retry_at


def _record_failed_attempt(
    engine: Engine,
    delivery: DueDelivery,
    attempt_id: int,
    outcome: Outcome,
    ended: dt.datetime,
    config: SenderConfig,
    rng: random.Random,
) -> bool:
    """Record a failed attempt and put its endpoint in backoff; whether it is retried.
    The backoff ends no later than this delivery's retry, which is the endpoint's next
    probe: a delivery is never held past the time (and the window) its retry was given."""
    retry_at = _retry_at(delivery, ended, config, rng)
    backoff_until = ended + retry_delay(delivery.endpoint_failures + 1, rng=rng)
    if retry_at is not None:
        backoff_until = min(backoff_until, retry_at)
    error = outcome.error or "failed"
    if retry_at is None:
        error = f"given up after {delivery.attempts + 1} attempts: {error}"
    with engine.begin() as conn:
        record_failure(
            conn,
            delivery,
            attempt_id,
            status_code=outcome.status_code,
            error=error,
            duration_ms=outcome.duration_ms,
            retry_at=retry_at,
            endpoint_backoff_until=backoff_until,
        )
    logger.info(
        "webhook delivery %s (export %s, endpoint %s) failed: %s",
        delivery.id,
        delivery.export_id,
        delivery.endpoint_id,
        error,
    )
    return retry_at is not None


def send_due_deliveries(
    engine: Engine, box: SecretBox, config: SenderConfig | None = None
) -> SendReport:
    """One pass over the due deliveries (see the module's docstring), their endpoints'
    secrets opened with `box`; what it did."""
    config = config or SenderConfig()
    deadline = time.monotonic() + config.budget_seconds
    with engine.connect() as conn:
        due = due_deliveries(conn, now=_utcnow(), limit=config.batch)
    by_endpoint: dict[int, list[DueDelivery]] = {}
    for delivery in due:
        by_endpoint.setdefault(delivery.endpoint_id, []).append(delivery)
    report = SendReport()
    if not by_endpoint:
        return report
    import httpx  # see attempt_delivery

    ssl_context = httpx.create_ssl_context()
    rng = random.Random()
    pool = ThreadPoolExecutor(
        max_workers=min(config.max_workers, len(by_endpoint)), thread_name_prefix="webhooks"
    )
    futures = [
        pool.submit(_serve_endpoint, engine, group, box, config, ssl_context, deadline, rng)
        for group in by_endpoint.values()
    ]
    # No attempt starts after `deadline` and each ends by its own: waiting longer than
    # that (and a grace) would be waiting on a stalled one. Its thread records it when done.
    waited = deadline + config.timeout_seconds + PASS_GRACE_SECONDS - time.monotonic()
    finished, stalled = wait(futures, timeout=max(waited, 0.0))
    pool.shutdown(wait=False, cancel_futures=True)
    for future in futures:
        if future in finished:
            report.add(future.result())
    if stalled:
        logger.warning("webhooks: %d endpoints still sending when the pass ended", len(stalled))
        report.errors += len(stalled)
    return report

"""Op retry policies, and which errors are worth a retry.

Storage writes (S3 500/503, a dropped connection) and store reads (a dropped database
connection) fail transiently; `publish_export`, `extract_events` and
`resolve_ad_hierarchy` retry them with exponential backoff. Everything else (a full or
unwritable disk, a bug) fails at once: a retry would only delay the same answer.
An attempt that will be retried leaves its export `processing`; only the last one marks
it failed (`ops._Stage`), so the status never shows a failure that a retry then fixes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import botocore.exceptions
import sqlalchemy.exc
from dagster import Backoff, DagsterError, Jitter, OpExecutionContext, RetryPolicy

# 1 s, 2 s, 4 s (±jitter) between the 4 attempts: rides out a short S3 or database blip.
RETRY_POLICY = RetryPolicy(
    max_retries=3, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)

STORAGE = "storage"
STORE = "store"

# S3 error codes that mean "try again" whatever the HTTP status says.
_S3_RETRY_CODES = frozenset(
    {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "Throttling"}
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from or during (boto3 wraps ClientError)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _transient(exc: BaseException) -> str | None:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return STORAGE if status >= 500 or error.get("Code") in _S3_RETRY_CODES else None
    if isinstance(exc, botocore.exceptions.ConnectionError | botocore.exceptions.HTTPClientError):
        return STORAGE
    if isinstance(exc, sqlalchemy.exc.DBAPIError):
        dropped = exc.connection_invalidated or isinstance(exc, sqlalchemy.exc.OperationalError)
        return STORE if dropped else None
    if isinstance(exc, sqlite3.OperationalError):
        return STORE if "locked" in str(exc) else None
    # The engine reads through ADBC: a dropped or terminated server connection surfaces as
    # the driver's own error class, never as a SQLAlchemy error.
    module = type(exc).__module__ or ""
    if module.startswith(("adbc_driver", "psycopg")):
        text = str(exc).lower()
        if type(exc).__name__ in ("OperationalError", "InterfaceError") or any(
            word in text for word in ("connection", "terminat", "server closed")
        ):
            return STORE
    return None


def transient_kind(exc: BaseException) -> str | None:
    """`STORAGE` or `STORE` when `exc` (or what it wraps) is an error a retry may fix."""
    return next((kind for e in _chain(exc) if (kind := _transient(e))), None)


def will_retry(context: OpExecutionContext, exc: BaseException) -> bool:
    """True when Dagster will run this op again after `exc`: transient, attempts left."""
    if transient_kind(exc) is None:
        return False
    try:
        policy = context.get_step_execution_context().op_retry_policy
    except DagsterError:
        return False  # a directly invoked op (tests) has no step, so no retries
    return policy is not None and context.retry_number < policy.max_retries

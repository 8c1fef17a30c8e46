"""User-facing reasons an export failed.

Messages are sentences a customer can act on; details for engineers go to the run's logs.
"""

from __future__ import annotations

import errno

from dagster import DagsterExecutionInterruptedError

from exports_pipeline.pipeline.retries import STORAGE, STORE, transient_kind

INTERNAL_ERROR = (
    "The export could not be generated because of an internal error. "
    "Please try again later; if it keeps failing, contact support."
)
WORKER_DIED = (
    "The export stopped unexpectedly while it was being generated. Please request it again."
)
CANCELED = "The export was cancelled before it completed. Please request it again if needed."
RUN_LOST = (
    "The export could not be started because its run record was lost. Please request it again."
)


def invalid_request_message(reason: str) -> str:
    return f"The export request is invalid: {reason}."


STORAGE_UNAVAILABLE = (
    "The export file could not be stored because the file storage was unavailable. "
    "Please try again later; if it keeps failing, contact support."
)
STORE_UNAVAILABLE = (
    "The export could not be generated because the events database was unavailable. "
    "Please try again later; if it keeps failing, contact support."
)
STORAGE_FULL = (
    "The export file could not be saved because the export storage is full. "
    "Please try again later; if it keeps failing, contact support."
)
STORAGE_NOT_WRITABLE = (
    "The export file could not be saved because the export storage is not writable. "
    "Please contact support."
)

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST)


def failure_message(exc: BaseException) -> str:
    """The failed export's message for `exc`: what went wrong, in terms the customer can
    act on (a full or unwritable disk, an unavailable store or storage, a cancel)."""
    if isinstance(exc, DagsterExecutionInterruptedError):
        return CANCELED
    if isinstance(exc, OSError) and exc.errno in _NO_SPACE:
        return STORAGE_FULL
    if isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE:
        return STORAGE_NOT_WRITABLE
    kind = transient_kind(exc)
    if kind == STORAGE:
        return STORAGE_UNAVAILABLE
    if kind == STORE:
        return STORE_UNAVAILABLE
    return INTERNAL_ERROR

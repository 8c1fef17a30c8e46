"""User-facing reasons an export failed.

Messages are sentences a customer can act on; details for engineers go to the run's logs.
"""

from __future__ import annotations

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

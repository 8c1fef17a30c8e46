"""User-facing reasons an export failed, and recording them on the export.

Messages are sentences a customer can act on; details for engineers go to the run's logs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from exports_pipeline.store.exports import mark_failed

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


class ExportFailed(Exception):
    """An export cannot be produced; `user_message` is what the status endpoint shows."""

    def __init__(self, user_message: str) -> None:
        self.user_message = user_message
        super().__init__(user_message)


def invalid_request_message(reason: str) -> str:
    return f"The export request is invalid: {reason}."


@contextmanager
def failing_export_on_error(engine: Engine, export_id: int) -> Iterator[None]:
    """Mark the export failed when the block raises, then let the error propagate.

    `ExportFailed` carries its own message; anything else is an internal error.
    """
    try:
        yield
    except ExportFailed as exc:
        with engine.begin() as conn:
            mark_failed(conn, export_id, message=exc.user_message)
        raise
    except BaseException:
        with engine.begin() as conn:
            mark_failed(conn, export_id, message=INTERNAL_ERROR)
        raise

"""The status object of an export (SPEC 2.2) without `download_url`, as JSON-ready values.

Built from the stored record alone, so that whoever changes a status (an op, a sensor, a
route) can write it into a webhook payload without the API. The status endpoint's answer
is this object plus the parts minted per call (`download_url`, `expires_at`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Protocol

Status = Literal["queued", "processing", "completed", "failed", "cancelled", "expired"]
"""The status of an export (SPEC 2.2, 6.3, 6.4), as stored and as answered."""

COMPLETED: Status = "completed"

DEFAULT_MESSAGES: dict[str, str] = {
    "queued": "Your export is being prepared.",
    "processing": "Your export is being prepared.",
    "failed": "The export failed; please create it again.",
    "cancelled": "The export was cancelled.",
    "expired": (
        "The export's file was deleted after the retention period; create the export again."
    ),
}


def iso_utc(value: dt.datetime) -> str:
    """RFC 3339 UTC to the second with `Z` (a naive value is UTC, as in the store)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class StatusColumns(Protocol):
    """The columns of an export its status object is made of (an `ExportRecord`, a row of
    the `exports` table)."""

    @property
    def id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def created_at(self) -> dt.datetime: ...
    @property
    def completed_at(self) -> dt.datetime | None: ...
    @property
    def row_count(self) -> int | None: ...
    @property
    def file_size_bytes(self) -> int | None: ...
    @property
    def sha256(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...


def status_object(record: StatusColumns) -> dict[str, Any]:
    """`export_id`, `status`, `created_at`; `message` unless completed; `completed_at`,
    `row_count`, `file_size_bytes`, `sha256` when completed. Absent keys are left out.
    """
    body: dict[str, Any] = {
        "export_id": int(record.id),
        "status": record.status,
        "created_at": iso_utc(record.created_at),
    }
    if record.status == COMPLETED:
        if record.completed_at is not None:
            body["completed_at"] = iso_utc(record.completed_at)
        for name in ("row_count", "file_size_bytes", "sha256"):
            value = getattr(record, name)
            if value is not None:
                body[name] = value
    else:
        body["message"] = record.message or DEFAULT_MESSAGES.get(record.status, "")
    return body

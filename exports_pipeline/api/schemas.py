"""Response models of the export endpoints and their documented errors.

The create body is `engine.request.ExportRequest`, documented from that model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, field_serializer

from exports_pipeline.store.status import Status


class FieldErrorBody(BaseModel):
    field: str = Field(description="The request field (`body` for the body as a whole).")
    message: str = Field(description="The rule the field breaks.")


class ErrorBody(BaseModel):
    """Every error response."""

    message: str
    errors: list[FieldErrorBody] | None = Field(
        default=None, description="Every broken rule of the request (422 only)."
    )


class ExportCreated(BaseModel):
    export_id: int
    status: Literal["queued"]
    message: str


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).replace(microsecond=0)


class ExportFilePart(BaseModel):
    """One part of an export split by `max_rows_per_file` (SPEC 6.6)."""

    part: int = Field(description="Part number, from 1, in file order.")
    download_url: str = Field(description="URL of this part, freshly minted on every call.")
    row_count: int
    file_size_bytes: int
    sha256: str = Field(description="sha256 hex of the part's file.")


class ExportStatus(BaseModel):
    """SPEC 2.2 (and 6.3/6.4: cancelled, expired). Absent keys are omitted, never null."""

    export_id: int
    status: Status
    created_at: dt.datetime = Field(description="ISO 8601 UTC, e.g. 2024-01-15T10:00:00Z.")
    message: str | None = Field(
        default=None,
        description="User-facing sentence unless completed (queued, processing, failed, "
        "cancelled, expired).",
    )
    download_url: str | None = Field(
        default=None, description="Presigned URL, freshly minted on every call (completed)."
    )
    completed_at: dt.datetime | None = None
    expires_at: dt.datetime | None = Field(
        default=None, description="When download_url stops working (now + 15 minutes)."
    )
    row_count: int | None = None
    file_size_bytes: int | None = None
    sha256: str | None = Field(
        default=None,
        description="sha256 hex of the file (of the manifest when the export has parts).",
    )
    files: list[ExportFilePart] | None = Field(
        default=None,
        description="The parts, when max_rows_per_file was given (completed); row_count and "
        "file_size_bytes above are then their totals, download_url and sha256 the manifest's.",
    )
    manifest_url: str | None = Field(
        default=None,
        description="URL of the JSON manifest listing the parts (with max_rows_per_file).",
    )
    row_count_expected: int | None = Field(
        default=None,
        description="While processing, once known: the exact rows the export will have.",
    )
    rows_written: int | None = Field(
        default=None, description="While processing: rows written so far (updated as it runs)."
    )

    @field_serializer("created_at", "completed_at", "expires_at")
    def _iso_utc(self, value: dt.datetime | None) -> str | None:
        return None if value is None else _utc(value).isoformat().replace("+00:00", "Z")


class ExportSummary(BaseModel):
    """An export in a list (SPEC 6.2): its status object without the download URL."""

    export_id: int
    status: Status
    created_at: dt.datetime = Field(description="ISO 8601 UTC, e.g. 2024-01-15T10:00:00Z.")
    message: str | None = Field(default=None, description="User-facing sentence unless completed.")
    completed_at: dt.datetime | None = None
    row_count: int | None = None
    file_size_bytes: int | None = None
    sha256: str | None = Field(default=None, description="sha256 hex of the gzip file.")

    @field_serializer("created_at", "completed_at")
    def _iso_utc(self, value: dt.datetime | None) -> str | None:
        return None if value is None else _utc(value).isoformat().replace("+00:00", "Z")


class ExportList(BaseModel):
    """A page of the space's exports, newest first."""

    data: list[ExportSummary]
    has_more: bool = Field(
        description="More exports follow: pass the last export_id as `starting_after` to get them."
    )


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]


RATE_LIMIT_HEADERS: dict[str, Any] = {
    "X-RateLimit-Limit": {
        "description": "Requests per minute per space on this endpoint.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current minute.",
        "schema": {"type": "integer"},
    },
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        401: "Missing, malformed, unknown or revoked API key.",
        403: "The key lacks the export permission, or the subscription is inactive.",
        404: "No such export in this space.",
        409: "The export is already completed, failed, cancelled or expired.",
        413: "Request body larger than 64 KiB.",
        422: "Invalid parameters; `errors` lists every broken rule.",
        429: "Over the space's per-minute limit; retry after `Retry-After` seconds.",
    }
    responses: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        headers = dict(RATE_LIMIT_HEADERS) if code not in (401,) else {}
        if code == 429:
            headers["Retry-After"] = {
                "description": "Seconds until the next window opens.",
                "schema": {"type": "integer"},
            }
        responses[code] = {"model": ErrorBody, "description": descriptions[code]}
        if headers:
            responses[code]["headers"] = headers
    return responses

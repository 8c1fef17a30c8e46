"""Response models of the export endpoints and their documented errors.

The create body is `engine.request.ExportRequest`, documented from that model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, field_serializer


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


class ExportStatus(BaseModel):
    """SPEC 2.2. Absent keys are omitted, never null."""

    export_id: int
    status: Literal["queued", "processing", "completed", "failed"]
    created_at: dt.datetime = Field(description="ISO 8601 UTC, e.g. 2024-01-15T10:00:00Z.")
    message: str | None = Field(
        default=None, description="User-facing sentence when queued, processing or failed."
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
    sha256: str | None = Field(default=None, description="sha256 hex of the gzip file.")
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

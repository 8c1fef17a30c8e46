"""Reading and validating the create request body from raw bytes.

The body is decoded with `json.loads` (not by FastAPI) so that malformed JSON, a
non-object body, wrong JSON types, nulls and unknown keys all become a 422 listing
every broken rule, with the same rules the pipeline applies (`engine.request`).
"""

from __future__ import annotations

import datetime as dt
import json

from fastapi import Request

from exports_pipeline.api.errors import ApiError
from exports_pipeline.engine.request import (
    ExportRequest,
    FieldError,
    InvalidExportRequest,
    check_export_date,
    parse_export_request,
)

MAX_BODY_BYTES = 64 * 1024


async def read_body(request: Request) -> bytes:
    """The raw request body; 413 when it is larger than `MAX_BODY_BYTES`."""
    too_large = ApiError(413, f"Request body too large: at most {MAX_BODY_BYTES} bytes.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _date_of(data: object) -> dt.date | None:
    if isinstance(data, dict) and isinstance(data.get("date"), str):
        try:
            return dt.date.fromisoformat(data["date"]) if len(data["date"]) == 10 else None
        except ValueError:
            return None
    return None


def parse_create_body(
    raw: bytes, *, timezone: str, earliest: dt.date, now: dt.datetime | None = None
) -> ExportRequest:
    """The validated request of a space in `timezone`, or `InvalidExportRequest` listing
    every broken rule (shape, values, combinations and the date against today there)."""
    if not raw.strip():
        raise InvalidExportRequest([FieldError("body", "must be a JSON object, got an empty body")])
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidExportRequest([FieldError("body", "is not valid JSON")]) from None
    errors: list[FieldError] = []
    request: ExportRequest | None = None
    try:
        request = parse_export_request(data)
    except InvalidExportRequest as exc:
        errors.extend(exc.errors)
    except RecursionError:
        errors.append(FieldError("body", "is nested too deeply"))
    date = request.date if request is not None else _date_of(data)
    if date is not None:
        try:
            check_export_date(date, timezone=timezone, earliest=earliest, now=now)
        except InvalidExportRequest as exc:
            errors.extend(exc.errors)
    if errors:
        raise InvalidExportRequest(errors)
    if request is None:
        raise InvalidExportRequest([FieldError("body", "is not a valid export request")])
    return request

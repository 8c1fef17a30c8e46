"""`POST /events/exports` queues an export; `GET /events/exports/{id}` reports on it."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated
from urllib.parse import urljoin

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BeforeValidator

from exports_pipeline.api.body import read_body
from exports_pipeline.api.deps import (
    CreateCaller,
    EngineDep,
    SettingsDep,
    StatusCaller,
    StorageDep,
)
from exports_pipeline.api.errors import ApiError
from exports_pipeline.api.schemas import (
    RATE_LIMIT_HEADERS,
    ExportCreated,
    ExportStatus,
    error_responses,
)
from exports_pipeline.engine.request import (
    ExportRequest,
    InvalidExportRequest,
    parse_export_body,
)
from exports_pipeline.store.exports import (
    COMPLETED,
    FAILED,
    PROCESSING,
    QUEUED,
    create_export,
    get_export,
)

EXPORTS_PATH = "/public-api/v1/events/exports"
MAX_EXPORT_ID = 2**63 - 1

router = APIRouter(prefix=EXPORTS_PATH, tags=["exports"])


def _whole_number(value: object) -> object:
    """An export id is written in decimal digits: `1.0`, `1e3` or `+1` name no export."""
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        raise ValueError("must be a whole number written in digits")
    return value


ExportId = Annotated[int, BeforeValidator(_whole_number)]


def parse_export_id(text: str) -> int | None:
    """The export id written in `text` (ASCII decimal digits, 1 to 2**63-1), else None.

    At most 19 digits are read: int() refuses more than 4300 with a ValueError (a 500).
    """
    if not (0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 1 <= value <= MAX_EXPORT_ID else None


# The documented create body is the model the rules live in: the limits cannot drift.
CREATE_OPENAPI_EXTRA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ExportRequest.model_json_schema()}},
    }
}

CREATED_MESSAGE = (
    "Export queued. Poll the URL in the Location header for its status and download link."
)


def status_path(export_id: int) -> str:
    return f"{EXPORTS_PATH}/{export_id}"


@router.post(
    "",
    status_code=202,
    response_model=ExportCreated,
    summary="Create an event export",
    responses={
        202: {
            "description": "Queued; `Location` is the status URL.",
            "headers": {
                "Location": {"description": "Status URL.", "schema": {"type": "string"}},
                **RATE_LIMIT_HEADERS,
            },
        },
        **error_responses(401, 403, 413, 422, 429),
    },
    openapi_extra=CREATE_OPENAPI_EXTRA,
)
def create_event_export(
    caller: CreateCaller,
    raw: Annotated[bytes, Depends(read_body)],
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
) -> ExportCreated:
    """Queue an export of one day of events; answered only once the export is stored."""
    try:
        request = parse_export_body(
            raw, timezone=caller.space.timezone, earliest=settings.earliest_date
        )
    except InvalidExportRequest as exc:
        raise ApiError(422, f"Invalid export request: {exc}", errors=exc.errors) from None
    with engine.begin() as conn:
        export_id = create_export(
            conn, space_id=caller.space.id, request=request, trigger="api", status=QUEUED
        )
    response.headers["Location"] = status_path(export_id)
    return ExportCreated(export_id=export_id, status="queued", message=CREATED_MESSAGE)


@router.get(
    "/{export_id}",
    response_model=ExportStatus,
    response_model_exclude_none=True,
    summary="Get the status of an event export",
    responses={
        200: {"description": "The export's status.", "headers": RATE_LIMIT_HEADERS},
        **error_responses(401, 403, 404, 422, 429),
    },
)
def get_event_export(
    request: Request,
    caller: StatusCaller,
    export_id: ExportId,
    engine: EngineDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> ExportStatus:
    """The export's status; when completed, a download URL minted for this call."""
    record = None
    numeric_id = parse_export_id(str(export_id))
    if numeric_id is not None:
        with engine.connect() as conn:
            record = get_export(conn, numeric_id, space_id=caller.space.id)
    if record is None:
        raise ApiError(404, f"Export {export_id} not found.")
    status = ExportStatus(
        export_id=record.id,
        status=record.status,  # type: ignore[arg-type]
        created_at=record.created_at,
    )
    if record.status == COMPLETED and record.storage_key:
        now = int(time.time())
        ttl = settings.download_url_ttl_seconds
        url = storage.download_url(
            record.storage_key, export_id=record.id, date=record.date, expires_in_seconds=ttl
        )
        if url.startswith("/"):
            # A path on the API (local storage without EXPORTS_PUBLIC_BASE_URL): on the
            # scheme, host and port this request came to.
            url = urljoin(str(request.base_url), url)
        status.download_url = url
        status.completed_at = record.completed_at
        status.expires_at = dt.datetime.fromtimestamp(now + ttl, dt.UTC)
        status.row_count = record.row_count
        status.file_size_bytes = record.file_size_bytes
        status.sha256 = record.sha256
    else:
        status.message = record.message or _default_message(record.status)
        if record.status == PROCESSING and record.row_count_expected is not None:
            status.row_count_expected = record.row_count_expected
            status.rows_written = record.rows_written or 0
    return status


def _default_message(status: str) -> str:
    if status == FAILED:
        return "The export failed; please create it again."
    return "Your export is being prepared."

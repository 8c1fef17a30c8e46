"""Export endpoints: create (idempotent with a key), status, list, cancel."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Annotated
from urllib.parse import urljoin

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Engine

from exports_pipeline.api.body import read_body
from exports_pipeline.api.deps import (
    CreateCaller,
    EngineDep,
    KeyedCreateCaller,
    SettingsDep,
    StatusCaller,
    StorageDep,
)
from exports_pipeline.api.errors import ApiError
from exports_pipeline.api.export_ids import ExportId, is_export_id
from exports_pipeline.api.idempotency import IDEMPOTENCY_OPENAPI, IdempotentCreate
from exports_pipeline.api.listing import LIST_OPENAPI_PARAMETERS, parse_list_query
from exports_pipeline.api.schemas import (
    RATE_LIMIT_HEADERS,
    ExportCreated,
    ExportFilePart,
    ExportList,
    ExportStatus,
    ExportSummary,
    error_responses,
)
from exports_pipeline.engine.request import (
    ExportRequest,
    FieldError,
    InvalidExportRequest,
    parse_export_body,
)
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.store.exports import (
    COMPLETED,
    FAILED,
    PROCESSING,
    QUEUED,
    ExportRecord,
    create_export,
    get_export,
    list_exports,
    mark_cancelled,
)

EXPORTS_PATH = "/public-api/v1/events/exports"

router = APIRouter(prefix=EXPORTS_PATH, tags=["exports"])


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


NO_STORE_HEADER = {
    "Cache-Control": {
        "description": "`no-store` when the answer carries a download URL (completed).",
        "schema": {"type": "string"},
    }
}


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
                **IDEMPOTENCY_OPENAPI["headers"],
            },
        },
        **error_responses(401, 403, 413, 422, 429),
    },
    openapi_extra={**CREATE_OPENAPI_EXTRA, "parameters": IDEMPOTENCY_OPENAPI["parameters"]},
)
def create_event_export(
    caller: KeyedCreateCaller,
    raw: Annotated[bytes, Depends(read_body)],
    response: Response,
    engine: EngineDep,
    settings: SettingsDep,
    http_request: Request,
) -> ExportCreated:
    """Queue an export of one day of events; answered only once the export is stored."""
    keyed = IdempotentCreate(http_request, response, caller, engine, settings)
    if (key := keyed.key()) is not None:
        export_id = keyed.create(
            key,
            lambda b: parse_export_body(
                b, timezone=caller.space.timezone, earliest=settings.earliest_date
            ),
            raw,
        )
        response.headers["Location"] = status_path(export_id)
        return ExportCreated(export_id=export_id, status="queued", message=CREATED_MESSAGE)
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
        200: {
            "description": "The export's status.",
            "headers": {**RATE_LIMIT_HEADERS, **NO_STORE_HEADER},
        },
        **error_responses(401, 403, 404, 422, 429),
    },
)
def get_event_export(
    request: Request,
    response: Response,
    caller: StatusCaller,
    export_id: ExportId,
    engine: EngineDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> ExportStatus:
    """The export's status; when completed, a download URL minted for this call."""
    record = _export_of_space(engine, export_id, caller.space.id)
    if record.status == COMPLETED and record.storage_key:
        ttl = settings.download_url_ttl_seconds
        expires_at = dt.datetime.fromtimestamp(int(time.time()) + ttl, dt.UTC)
        url_of = _url_minter(request, storage, record, ttl)
        # A live download URL: no cache (a proxy's, the browser's) may keep the answer.
        response.headers["Cache-Control"] = "no-store"
        return _completed_status(record, record.storage_key, expires_at, url_of)
    return _pending_status(record)


def _export_of_space(engine: Engine, export_id: int, space_id: str) -> ExportRecord:
    """The export `export_id` of the space; a 404 when there is none."""
    record = None
    if is_export_id(export_id):
        with engine.connect() as conn:
            record = get_export(conn, export_id, space_id=space_id)
    if record is None:
        raise ApiError(404, f"Export {export_id} not found.")
    return record


def _url_minter(
    request: Request, storage: ExportStorage, record: ExportRecord, ttl: int
) -> Callable[[str], str]:
    """A function giving a download URL of a stored object of `record`, valid `ttl` s."""

    def url_of(key: str) -> str:
        url = storage.download_url(
            key, export_id=record.id, date=record.date, expires_in_seconds=ttl
        )
        if url.startswith("/"):
            # A path on the API (local storage without EXPORTS_PUBLIC_BASE_URL): on the
            # scheme, host and port this request came to.
            url = urljoin(str(request.base_url), url)
        return url

    return url_of


def _completed_status(
    record: ExportRecord,
    storage_key: str,
    expires_at: dt.datetime,
    url_of: Callable[[str], str],
) -> ExportStatus:
    """A completed export's status: the URL of its file (or manifest, `storage_key`), then
    its parts' URLs."""
    download_url = url_of(storage_key)
    files = None
    if record.files is not None:
        files = [
            ExportFilePart(
                part=part.part,
                download_url=url_of(part.key),
                row_count=part.row_count,
                file_size_bytes=part.file_size_bytes,
                sha256=part.sha256,
            )
            for part in record.files
        ]
    return ExportStatus(
        export_id=record.id,
        status=record.status,
        created_at=record.created_at,
        download_url=download_url,
        completed_at=record.completed_at,
        expires_at=expires_at,
        row_count=record.row_count,
        file_size_bytes=record.file_size_bytes,
        sha256=record.sha256,
        files=files,
        manifest_url=download_url if files is not None else None,
    )


def _pending_status(record: ExportRecord) -> ExportStatus:
    """The status of an export not (or no longer) downloadable: its message, and while
    processing its progress once the rows it will have are known."""
    status = ExportStatus(
        export_id=record.id,
        status=record.status,
        created_at=record.created_at,
        message=record.message or _default_message(record.status),
    )
    if record.status == PROCESSING and record.row_count_expected is not None:
        status.row_count_expected = record.row_count_expected
        status.rows_written = record.rows_written or 0
    return status


def _default_message(status: str) -> str:
    if status == FAILED:
        return "The export failed; please create it again."
    return "Your export is being prepared."


def _summary(record: ExportRecord) -> ExportSummary:
    summary = ExportSummary(
        export_id=record.id,
        status=record.status,
        created_at=record.created_at,
    )
    if record.status == COMPLETED:
        summary.completed_at = record.completed_at
        summary.row_count = record.row_count
        summary.file_size_bytes = record.file_size_bytes
        summary.sha256 = record.sha256
    else:
        summary.message = record.message or _default_message(record.status)
    return summary


@router.get(
    "",
    response_model=ExportList,
    response_model_exclude_none=True,
    summary="List the space's event exports, newest first",
    responses={
        200: {"description": "A page of exports.", "headers": RATE_LIMIT_HEADERS},
        **error_responses(401, 403, 422, 429),
    },
    openapi_extra={"parameters": LIST_OPENAPI_PARAMETERS},
)
def list_event_exports(request: Request, caller: StatusCaller, engine: EngineDep) -> ExportList:
    """The space's exports, newest first; `has_more` tells whether older ones follow."""
    query, errors = parse_list_query(request.query_params)
    with engine.connect() as conn:
        if (
            query.starting_after is not None
            and not errors
            and get_export(conn, query.starting_after, space_id=caller.space.id) is None
        ):
            errors.append(
                FieldError(
                    "starting_after", f"export {query.starting_after} not found in this space"
                )
            )
        if errors:
            raise ApiError(
                422, f"Invalid list request: {InvalidExportRequest(errors)}", errors=errors
            )
        records, has_more = list_exports(
            conn,
            caller.space.id,
            limit=query.limit,
            before_id=query.starting_after,
            status=query.status,
            date=query.date,
        )
    return ExportList(data=[_summary(r) for r in records], has_more=has_more)


@router.post(
    "/{export_id}/cancel",
    response_model=ExportStatus,
    response_model_exclude_none=True,
    summary="Cancel a queued or processing event export",
    responses={
        200: {"description": "Cancelled; the status object.", "headers": RATE_LIMIT_HEADERS},
        **error_responses(401, 403, 404, 409, 422, 429),
    },
)
def cancel_event_export(
    caller: CreateCaller, export_id: ExportId, engine: EngineDep
) -> ExportStatus:
    """Cancel the export: nothing is ever published for it; its run is terminated."""
    record = None
    if is_export_id(export_id):
        with engine.begin() as conn:
            cancelled = mark_cancelled(conn, export_id, space_id=caller.space.id)
            record = get_export(conn, export_id, space_id=caller.space.id)
    if record is None:
        raise ApiError(404, f"Export {export_id} not found.")
    if not cancelled:
        raise ApiError(
            409,
            f"Export {export_id} is already {record.status}; only a queued or processing "
            "export can be cancelled.",
        )
    return ExportStatus(
        export_id=record.id,
        status=record.status,
        created_at=record.created_at,
        message=record.message,
    )

"""Every error is `{"message": ...}` (plus `errors` for field errors), with the caller's
rate limit headers once the caller's space is known."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from exports_pipeline.engine.request import FieldError

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """An error response: status, user-facing message, optional field errors and headers."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.errors = list(errors)
        self.headers = dict(headers or {})


def rate_limit_headers(request: Request) -> dict[str, str]:
    """The rate limit headers a dependency recorded for this request (empty before auth)."""
    return dict(getattr(request.state, "rate_limit_headers", None) or {})


def error_response(
    request: Request,
    status_code: int,
    message: str,
    *,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {"message": message}
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return JSONResponse(
        body, status_code=status_code, headers={**rate_limit_headers(request), **(headers or {})}
    )


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(
        request, exc.status_code, exc.message, errors=exc.errors, headers=exc.headers
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(
        request, exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None)
    )


def _field_of(loc: Sequence[object]) -> str:
    parts = [str(p) for p in loc if p not in ("path", "query", "header", "body")]
    return ".".join(parts)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [FieldError(_field_of(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors()]
    message = "Invalid request: " + "; ".join(str(e) for e in errors)
    return error_response(request, 422, message, errors=errors)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "Internal server error; please retry later.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)

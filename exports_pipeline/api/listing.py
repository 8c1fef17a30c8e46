"""The query of `GET /events/exports` (SPEC 6.2), checked parameter by parameter.

Every problem is a 422 naming the parameter: `limit` (whole number 1-100, default 20),
`starting_after` (the id of an export of the caller's space: the page holds the exports
with lower ids), `status` (one of the statuses), `date` (YYYY-MM-DD), and any parameter
that is unknown or given more than once (as unknown body keys of a create are).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from exports_pipeline.api.export_ids import parse_export_id
from exports_pipeline.engine.request import FieldError
from exports_pipeline.store.exports import STATUSES
from exports_pipeline.store.status import Status

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
PARAMETERS = ("limit", "starting_after", "status", "date")


@dataclass(frozen=True)
class ListQuery:
    limit: int = DEFAULT_LIMIT
    starting_after: int | None = None
    status: Status | None = None
    date: dt.date | None = None


def _digits(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 19


def parse_list_query(params: QueryParams) -> tuple[ListQuery, list[FieldError]]:
    """The query and every broken rule (empty when it is valid)."""
    errors: list[FieldError] = []
    for name in dict.fromkeys(params.keys()):
        if name not in PARAMETERS:
            errors.append(FieldError(name, "unknown parameter (not part of the list request)"))
        elif len(params.getlist(name)) > 1:
            errors.append(FieldError(name, "must be given at most once"))
    values: dict[str, Any] = {}
    if (limit := params.get("limit")) is not None:
        if _digits(limit) and 1 <= int(limit) <= MAX_LIMIT:
            values["limit"] = int(limit)
        else:
            errors.append(FieldError("limit", f"must be a whole number from 1 to {MAX_LIMIT}"))
    if (after := params.get("starting_after")) is not None:
        if (export_id := parse_export_id(after)) is not None:
            values["starting_after"] = export_id
        else:
            errors.append(FieldError("starting_after", "must be an export id"))
    if (status := params.get("status")) is not None:
        if status in STATUSES:
            values["status"] = status
        else:
            errors.append(FieldError("status", f"must be one of {', '.join(STATUSES)}"))
    if (date := params.get("date")) is not None:
        try:
            if len(date) != 10:
                raise ValueError(date)
            values["date"] = dt.date.fromisoformat(date)
        except ValueError:
            errors.append(FieldError("date", "must be a real calendar date as YYYY-MM-DD"))
    return ListQuery(**values), errors


LIST_OPENAPI_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "Exports per page.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 20},
    },
    {
        "name": "starting_after",
        "in": "query",
        "required": False,
        "description": "Cursor: an export id of this space (the last of the previous page); "
        "the page holds the older exports (lower ids).",
        "schema": {"type": "integer", "minimum": 1},
    },
    {
        "name": "status",
        "in": "query",
        "required": False,
        "description": "Only exports in this status.",
        "schema": {"type": "string", "enum": list(STATUSES)},
    },
    {
        "name": "date",
        "in": "query",
        "required": False,
        "description": "Only exports of this day (YYYY-MM-DD).",
        "schema": {"type": "string", "format": "date"},
    },
]

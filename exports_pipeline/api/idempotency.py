"""Idempotent creates (SPEC 6.1): the `Idempotency-Key` header of `POST /events/exports`.

- The key is 1-255 printable ASCII characters (0x20-0x7E; HTTP strips spaces around a
  header value), sent once; anything else is a 422 naming `Idempotency-Key`.
- A key the space used less than 24 hours ago with the same request (compared after
  parsing: the canonical JSON of the validated request, date included) is answered with
  the first answer again plus `Idempotent-Replayed: true`, without counting against the
  create limit, so it is answered even when the limit is spent.
- Otherwise the request is validated (a 422 is counted) and the export, its key and the
  request's count are written in one transaction, so a refused request (401/403/413/422/
  429) stores no key. Of concurrent creates with one key exactly one commits; the others
  roll back (their count with them) and replay it: only the create that made the export
  used up the limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

from fastapi import Request, Response
from sqlalchemy import Engine

from exports_pipeline.api.deps import (
    CREATE_BUCKET,
    IDEMPOTENCY_KEY_HEADER,
    Caller,
    count_request,
    count_within,
    current_quota,
)
from exports_pipeline.api.errors import ApiError
from exports_pipeline.engine.request import ExportRequest, FieldError, InvalidExportRequest
from exports_pipeline.settings import Settings
from exports_pipeline.store.exports import QUEUED, create_export
from exports_pipeline.store.idempotency import (
    KeyTaken,
    StoredKey,
    find_key,
    request_hash,
    store_key,
)

REPLAYED_HEADER = "Idempotent-Replayed"


class _OverLimit(Exception):
    """The create is over the space's limit: roll its transaction back."""


MAX_KEY_LENGTH = 255


def _key_problem(values: list[str]) -> str | None:
    if len(values) != 1:
        return "must be sent once"
    value = values[0]
    if not 1 <= len(value) <= MAX_KEY_LENGTH:
        return f"must be 1-{MAX_KEY_LENGTH} characters long"
    if not all(" " <= c <= "~" for c in value):
        return "must be printable ASCII characters only"
    return None


class IdempotentCreate:
    """One create with an `Idempotency-Key`: replay, refuse or create (and remember)."""

    def __init__(
        self,
        request: Request,
        response: Response,
        caller: Caller,
        engine: Engine,
        settings: Settings,
    ) -> None:
        self.request, self.response, self.caller = request, response, caller
        self.engine, self.settings = engine, settings
        self.space_id = caller.space.id

    def key(self) -> str | None:
        """The request's key, None without one; a malformed one is a counted 422."""
        values = self.request.headers.getlist(IDEMPOTENCY_KEY_HEADER)
        if not values:
            return None
        problem = _key_problem(values)
        if problem is not None:
            self._count()
            raise ApiError(
                422,
                f"Invalid {IDEMPOTENCY_KEY_HEADER} header: {problem}.",
                errors=[FieldError(IDEMPOTENCY_KEY_HEADER, problem)],
            )
        return values[0]

    def create(self, key: str, parse: Callable[[bytes], ExportRequest], raw: bytes) -> int:
        """The export id to answer with: the stored one (a replay) or a new export's."""
        stored = self._find(key)
        request = self._parsed(parse, raw, counted=False)
        if stored is not None:
            return self._replay(stored, request)
        digest = request_hash(request.date, request.to_params())
        counted = False
        while True:
            try:
                # Export, key and count commit together: a create that loses the key to a
                # concurrent one is rolled back whole, count included, and replays it.
                with self.engine.begin() as conn:
                    export_id = create_export(
                        conn, space_id=self.space_id, request=request, trigger="api", status=QUEUED
                    )
                    store_key(
                        conn,
                        space_id=self.space_id,
                        key=key,
                        request_hash=digest,
                        export_id=export_id,
                    )
                    if not counted and count_within(
                        conn, self.request, self.response, self.caller, self.settings, CREATE_BUCKET
                    ):
                        raise _OverLimit
            except KeyTaken:
                # A concurrent create with this key committed first (on PostgreSQL this
                # insert waited for it): answer with its export.
                stored = self._find(key)
                if stored is None:
                    raise
                return self._replay(stored, request, counted=counted)
            except _OverLimit:
                # Rolled back; counted on its own and refused (429), unless a new window
                # opened meanwhile: then it is counted there and created.
                self._count()
                counted = True
                continue
            return export_id

    def _find(self, key: str) -> StoredKey | None:
        with self.engine.connect() as conn:
            return find_key(conn, space_id=self.space_id, key=key)

    def _count(self) -> None:
        count_request(
            self.request, self.response, self.caller, self.engine, self.settings, CREATE_BUCKET
        )

    def _parsed(
        self, parse: Callable[[bytes], ExportRequest], raw: bytes, *, counted: bool
    ) -> ExportRequest:
        try:
            return parse(raw)
        except InvalidExportRequest as exc:
            if not counted:
                self._count()
            raise ApiError(422, f"Invalid export request: {exc}", errors=exc.errors) from None

    def _replay(self, stored: StoredKey, request: ExportRequest, *, counted: bool = False) -> int:
        if request_hash(request.date, request.to_params()) != stored.request_hash:
            if not counted:
                self._count()
            rule = "was used with a different request in the last 24 hours"
            raise ApiError(
                422,
                f"{IDEMPOTENCY_KEY_HEADER} {rule}; send a new key for a new request.",
                errors=[FieldError(IDEMPOTENCY_KEY_HEADER, rule)],
            )
        if not counted:
            quota = current_quota(self.caller, self.engine, self.settings, CREATE_BUCKET)
            self.request.state.rate_limit_headers = quota
            self.response.headers.update(quota)
        self.response.headers[REPLAYED_HEADER] = "true"
        return stored.export_id


class OpenApiParts(TypedDict):
    """What the `Idempotency-Key` adds to the create's OpenAPI operation."""

    parameters: list[dict[str, Any]]
    headers: dict[str, Any]


IDEMPOTENCY_OPENAPI: OpenApiParts = {
    "parameters": [
        {
            "name": IDEMPOTENCY_KEY_HEADER,
            "in": "header",
            "required": False,
            "description": "Makes the create safe to retry for 24 hours: the same key with "
            "the same request answers the first answer again (`Idempotent-Replayed: true`), "
            "creating nothing; with another request it is a 422.",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_KEY_LENGTH,
                "pattern": "^[\\x20-\\x7E]+$",
            },
        }
    ],
    "headers": {
        REPLAYED_HEADER: {
            "description": "`true` when this is the stored answer of an earlier create.",
            "schema": {"type": "string", "enum": ["true"]},
        }
    },
}

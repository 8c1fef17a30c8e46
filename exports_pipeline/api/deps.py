"""Dependencies of the routes, as `Annotated` aliases: settings, store, storage, the box
of the store's secrets, caller.

Order of checks on the export endpoints (each a dependency of the next):
1. `Caller`: the `Authorization: Bearer <key>` header names a live key (else 401).
2. `CreateCaller` / `StatusCaller`: the key may export and the space's subscription is
   active (else 403), then the request is counted against the space's per-minute limit
   of that endpoint (else 429). Authentication comes first because the limit is per
   space: an unauthenticated request has no space to be counted against.
Every authenticated request counts, whatever its outcome afterwards (a 404, 413 or 422
costs one request of the quota like a success); a 403 is not counted but reports the
space's current quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine

from exports_pipeline.api.errors import ApiError
from exports_pipeline.sealing import SecretBox
from exports_pipeline.settings import Settings
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.store import ratelimit
from exports_pipeline.store.keys import ApiKey, find_key
from exports_pipeline.store.spaces import Space, get_space

CREATE_BUCKET = "create"
STATUS_BUCKET = "status"


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_storage(request: Request) -> ExportStorage:
    return request.app.state.storage


def get_secret_box(request: Request) -> SecretBox:
    return request.app.state.secret_box


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
StorageDep = Annotated[ExportStorage, Depends(get_storage)]
SecretBoxDep = Annotated[SecretBox, Depends(get_secret_box)]


# No dependency yields a store connection: each sync dependency and the route run in
# separate worker threads, so a connection held from one to the other waits for a free
# thread while the threads wait for a free connection (under load every request then
# times out on the pool, a 500). Every connection is checked out and returned within one
# function: `with engine.connect()` / `with engine.begin()` where it is used.


@dataclass(frozen=True)
class Caller:
    """The authenticated caller: its key and the space the key belongs to."""

    key: ApiKey
    space: Space


_BEARER_HINT = {"WWW-Authenticate": 'Bearer realm="exports"'}


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if header is None or not header.strip():
        raise ApiError(
            401, "Missing API key: send 'Authorization: Bearer <api key>'.", headers=_BEARER_HINT
        )
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
        raise ApiError(
            401,
            "Malformed Authorization header: expected 'Bearer <api key>'.",
            headers=_BEARER_HINT,
        )
    return token


# Declares the bearer scheme in OpenAPI (and /docs' Authorize button); the header itself
# is parsed by `_bearer_token`, which answers every bad header with our 401 body.
_bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="ApiKey", description="Authorization: Bearer <api key>"
)


def get_caller(
    request: Request,
    engine: EngineDep,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)],
) -> Caller:
    """The caller of an authenticated endpoint; 401 unless the key is known and live."""
    token = _bearer_token(request)
    with engine.connect() as conn:
        key = find_key(conn, token)
        space = get_space(conn, key.space_id) if key and not key.revoked else None
    if key is None or key.revoked:
        raise ApiError(401, "Invalid or revoked API key.", headers=_BEARER_HINT)
    if space is None:
        raise ApiError(403, "The space of this API key does not exist any more.")
    return Caller(key=key, space=space)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


def _limit_of(settings: Settings, bucket: str) -> int:
    if bucket == CREATE_BUCKET:
        return settings.rate_limit_create_per_minute
    return settings.rate_limit_status_per_minute


def _quota_headers(limit: int, count: int) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(max(0, limit - count))}


def current_quota(
    caller: Caller, engine: Engine, settings: Settings, bucket: str
) -> dict[str, str]:
    """The space's `X-RateLimit-*` headers of `bucket` now, without counting a request."""
    with engine.connect() as conn:
        count = ratelimit.current_count(
            conn,
            space_id=caller.space.id,
            bucket=bucket,
            window_start=ratelimit.window_of(time.time()),
        )
    return _quota_headers(_limit_of(settings, bucket), count)


def count_within(
    conn: Connection,
    request: Request,
    response: Response,
    caller: Caller,
    settings: Settings,
    bucket: str,
) -> bool:
    """Count the request in the caller's transaction (it commits with what the request
    does) and set its quota headers; True when over the limit: the caller then rolls back
    and answers with `count_request`, which commits the count and raises the 429."""
    limit = _limit_of(settings, bucket)
    count = ratelimit.hit(
        conn, space_id=caller.space.id, bucket=bucket, window_start=ratelimit.window_of(time.time())
    )
    headers = _quota_headers(limit, count)
    request.state.rate_limit_headers = headers
    response.headers.update(headers)
    return count > limit


def count_request(
    request: Request,
    response: Response,
    caller: Caller,
    engine: Engine,
    settings: Settings,
    bucket: str,
) -> None:
    """Count the request against the space's limit of `bucket`; 429 when over it."""
    limit = _limit_of(settings, bucket)
    now = time.time()
    with engine.begin() as conn:
        count = ratelimit.hit(
            conn, space_id=caller.space.id, bucket=bucket, window_start=ratelimit.window_of(now)
        )
    headers = _quota_headers(limit, count)
    request.state.rate_limit_headers = headers
    response.headers.update(headers)
    if count > limit:
        raise ApiError(
            429,
            f"Rate limit exceeded: {limit} requests per minute per space on this endpoint.",
            headers={"Retry-After": str(ratelimit.seconds_to_next_window(now))},
        )


# A create with an Idempotency-Key is counted by the route (api/idempotency.py): the
# replay of a stored answer costs nothing (SPEC 6.1).
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"


def _permitted_and_counted(bucket: str, *, unless_keyed: bool = False) -> Callable[..., Caller]:
    def dependency(
        request: Request,
        response: Response,
        caller: CurrentCaller,
        engine: EngineDep,
        settings: SettingsDep,
    ) -> Caller:
        forbidden = None
        if not caller.key.can_export:
            forbidden = "This API key does not have the export permission."
        elif not caller.space.subscription_active:
            forbidden = "The subscription of this space is inactive."
        if forbidden:
            request.state.rate_limit_headers = current_quota(caller, engine, settings, bucket)
            raise ApiError(403, forbidden)
        if unless_keyed and IDEMPOTENCY_KEY_HEADER in request.headers:
            return caller
        count_request(request, response, caller, engine, settings, bucket)
        return caller

    dependency.__name__ = f"{bucket}_quota"
    return dependency


CreateCaller = Annotated[Caller, Depends(_permitted_and_counted(CREATE_BUCKET))]
StatusCaller = Annotated[Caller, Depends(_permitted_and_counted(STATUS_BUCKET))]
# Permitted; counted here unless the request carries an Idempotency-Key (then by the route).
KeyedCreateCaller = Annotated[
    Caller, Depends(_permitted_and_counted(CREATE_BUCKET, unless_keyed=True))
]

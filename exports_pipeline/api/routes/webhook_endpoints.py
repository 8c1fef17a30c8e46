"""`/webhook-endpoints`: a space's webhook receivers (SPEC 6.5) — create, list, delete.

Same keys and permissions as the export endpoints. Creating and deleting count against
the space's create limit, listing against its status limit. The secret is in the create
answer only; it is stored in plain (the sender signs with it) but never listed or logged.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, BeforeValidator, Field, field_serializer

from exports_pipeline.api.body import read_body
from exports_pipeline.api.deps import (
    CreateCaller,
    EngineDep,
    SecretBoxDep,
    SettingsDep,
    StatusCaller,
)
from exports_pipeline.api.errors import ApiError
from exports_pipeline.api.schemas import RATE_LIMIT_HEADERS, ErrorBody, error_responses
from exports_pipeline.engine.request import FieldError
from exports_pipeline.store.status import iso_utc
from exports_pipeline.store.webhooks import (
    EVENT_TYPES,
    MAX_ENDPOINTS_PER_SPACE,
    EndpointLimitReached,
    WebhookEndpoint,
    create_endpoint,
    delete_endpoint,
    list_endpoints,
)
from exports_pipeline.webhooks.addresses import RefusedUrl, check_url

WEBHOOK_ENDPOINTS_PATH = "/public-api/v1/webhook-endpoints"
MAX_ENDPOINT_ID = 2**63 - 1
BODY_KEYS = ("url", "events")

router = APIRouter(prefix=WEBHOOK_ENDPOINTS_PATH, tags=["webhooks"])


class InvalidEndpointRequest(ValueError):
    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


def _events_errors(value: object) -> list[FieldError]:
    if value is None:
        return [FieldError("events", "must not be null (leave it out for every event type)")]
    if not isinstance(value, list):
        return [FieldError("events", "must be a list of event types")]
    if not value:
        return [FieldError("events", "must list at least one event type")]
    errors: list[FieldError] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, str):
            errors.append(FieldError(f"events.{index}", "must be a string"))
        elif item not in EVENT_TYPES:
            errors.append(
                FieldError(
                    f"events.{index}",
                    f"unknown event type {item!r} (one of {', '.join(EVENT_TYPES)})",
                )
            )
        elif item in seen:
            errors.append(FieldError(f"events.{index}", f"repeats {item!r}"))
        else:
            seen.add(item)
    return errors


def parse_endpoint_body(raw: bytes, *, allow_private: bool) -> tuple[str, list[str]]:
    """The URL and event types of a create request, or `InvalidEndpointRequest` listing
    every broken rule; the URL's address rule is checked last (it resolves the host)."""
    if not raw.strip():
        raise InvalidEndpointRequest(
            [FieldError("body", "must be a JSON object, got an empty body")]
        )
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidEndpointRequest([FieldError("body", "is not valid JSON")]) from None
    if not isinstance(data, dict):
        raise InvalidEndpointRequest([FieldError("body", "must be a JSON object")])
    errors = [
        FieldError(str(key), "unknown field (not part of the request)")
        for key in data
        if key not in BODY_KEYS
    ]
    url = data.get("url")
    if "url" not in data:
        errors.append(FieldError("url", "field required"))
    elif url is None:
        errors.append(FieldError("url", "must not be null"))
    elif not isinstance(url, str):
        errors.append(FieldError("url", "must be a string"))
    events = data.get("events", list(EVENT_TYPES))
    errors.extend(_events_errors(events))
    if errors:
        raise InvalidEndpointRequest(errors)
    assert isinstance(url, str)
    try:
        check_url(url, allow_private=allow_private)
    except RefusedUrl as exc:
        raise InvalidEndpointRequest([FieldError("url", str(exc))]) from None
    return url, list(events)


class WebhookEndpointBody(BaseModel):
    """A webhook endpoint as listed (never with its secret)."""

    id: int
    url: str
    events: list[str] = Field(description="The event types it receives.")
    created_at: dt.datetime = Field(description="ISO 8601 UTC.")

    @field_serializer("created_at")
    def _iso_utc(self, value: dt.datetime) -> str:
        return iso_utc(value)

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointBody:
        return cls(
            id=endpoint.id, url=endpoint.url, events=endpoint.events, created_at=endpoint.created_at
        )


class WebhookEndpointCreated(WebhookEndpointBody):
    secret: str = Field(
        description="`whsec_<base64>`: verify signatures with it. Shown only in this answer."
    )


class WebhookEndpointList(BaseModel):
    data: list[WebhookEndpointBody]


def _whole_number(value: object) -> object:
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        raise ValueError("must be a whole number written in digits")
    return value


EndpointId = Annotated[int, BeforeValidator(_whole_number)]

CREATE_REQUEST_SCHEMA: dict[str, Any] = {
    "title": "CreateWebhookEndpointRequest",
    "type": "object",
    "additionalProperties": False,
    "required": ["url"],
    "properties": {
        "url": {
            "type": "string",
            "maxLength": 2048,
            "description": "https URL on the public internet that receives the POSTs.",
            "example": "https://hooks.example.com/exports",
        },
        "events": {
            "type": "array",
            "items": {"type": "string", "enum": list(EVENT_TYPES)},
            "minItems": 1,
            "uniqueItems": True,
            "description": "Event types to receive (default: all).",
        },
    },
}

_NOT_FOUND = {"model": ErrorBody, "description": "No such endpoint in this space."}
_LIMIT = {
    "model": ErrorBody,
    "description": f"The space has {MAX_ENDPOINTS_PER_SPACE} endpoints already.",
}


@router.post(
    "",
    status_code=201,
    response_model=WebhookEndpointCreated,
    summary="Create a webhook endpoint",
    responses={
        201: {
            "description": "Created; `secret` is shown only here.",
            "headers": RATE_LIMIT_HEADERS,
        },
        409: _LIMIT,
        **error_responses(401, 403, 413, 422, 429),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CREATE_REQUEST_SCHEMA}},
        }
    },
)
def create_webhook_endpoint(
    caller: CreateCaller,
    raw: Annotated[bytes, Depends(read_body)],
    engine: EngineDep,
    settings: SettingsDep,
    box: SecretBoxDep,
) -> WebhookEndpointCreated:
    """Register a URL that receives the space's export events, signed with a new secret."""
    try:
        url, events = parse_endpoint_body(raw, allow_private=settings.webhook_allow_private)
    except InvalidEndpointRequest as exc:
        raise ApiError(422, f"Invalid webhook endpoint: {exc}", errors=exc.errors) from None
    try:
        with engine.begin() as conn:
            endpoint = create_endpoint(
                conn, space_id=caller.space.id, url=url, events=events, box=box
            )
    except EndpointLimitReached:
        raise ApiError(
            409,
            f"This space already has {MAX_ENDPOINTS_PER_SPACE} webhook endpoints, the most "
            "it may have; delete one first.",
        ) from None
    return WebhookEndpointCreated(
        **WebhookEndpointBody.of(endpoint).model_dump(), secret=endpoint.secret
    )


@router.get(
    "",
    response_model=WebhookEndpointList,
    summary="List webhook endpoints",
    responses={
        200: {"description": "The space's endpoints, oldest first.", "headers": RATE_LIMIT_HEADERS},
        **error_responses(401, 403, 429),
    },
)
def list_webhook_endpoints(caller: StatusCaller, engine: EngineDep) -> WebhookEndpointList:
    """The space's webhook endpoints, without their secrets."""
    with engine.connect() as conn:
        endpoints = list_endpoints(conn, space_id=caller.space.id)
    return WebhookEndpointList(data=[WebhookEndpointBody.of(e) for e in endpoints])


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook endpoint",
    responses={
        204: {"description": "Deleted; it receives nothing more.", "headers": RATE_LIMIT_HEADERS},
        404: _NOT_FOUND,
        **error_responses(401, 403, 422, 429),
    },
)
def delete_webhook_endpoint(
    caller: CreateCaller, endpoint_id: EndpointId, engine: EngineDep
) -> None:
    """Delete the endpoint; deliveries not yet sent to it are given up."""
    deleted = False
    if 1 <= endpoint_id <= MAX_ENDPOINT_ID:
        with engine.begin() as conn:
            deleted = delete_endpoint(conn, endpoint_id, space_id=caller.space.id)
    if not deleted:
        raise ApiError(404, f"Webhook endpoint {endpoint_id} not found.")

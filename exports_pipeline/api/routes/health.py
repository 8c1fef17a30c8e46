"""Liveness and readiness: the process answers and the store answers."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from exports_pipeline.api.deps import EngineDep
from exports_pipeline.api.errors import ApiError
from exports_pipeline.api.schemas import ErrorBody, Health

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": ErrorBody, "description": "The store does not answer."}},
)
def healthz(engine: EngineDep) -> Health:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ApiError(503, "The store does not answer.") from exc
    return Health(status="ok", database="ok")

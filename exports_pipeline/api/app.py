"""The FastAPI application factory; `uvicorn --factory exports_pipeline.api.app:create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from exports_pipeline.api.access_log import redact_access_log
from exports_pipeline.api.errors import install_error_handlers
from exports_pipeline.api.routes import downloads, exports, health, webhook_endpoints
from exports_pipeline.formats import format_titles
from exports_pipeline.sealing import secret_box
from exports_pipeline.settings import Settings
from exports_pipeline.storage.factory import build_storage
from exports_pipeline.store.db import make_engine

DESCRIPTION = f"""\
Asynchronous exports of one day of events as {format_titles()} (one file, or parts
listed by a manifest), optionally attributed to the touchpoints of chosen traffic sources.

Authenticate with `Authorization: Bearer <api key>`. Limits per space and minute: create
5, status 30 (`X-RateLimit-Limit`, `X-RateLimit-Remaining`, `Retry-After` on 429).
Errors are `{{"message": "..."}}`; a 422 also lists every broken rule in `errors`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app; settings (default: from `EXPORTS_*` env), the store engine, the export
    storage and the box of the store's secrets are built when it starts and kept on
    `app.state`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resolved = settings or Settings()
        redact_access_log()
        engine = make_engine(resolved.resolved_database_url)
        app.state.settings = resolved
        app.state.engine = engine
        app.state.storage = build_storage(resolved)
        app.state.secret_box = secret_box(resolved.secrets_key, resolved.secrets_key_file)
        try:
            yield
        finally:
            engine.dispose()

    # /docs and /redoc load Swagger UI and ReDoc from the API itself
    # (/static-offline-docs), not from a CDN: they work where there is no internet.
    app = FastAPIOffline(
        title="Event Export API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(exports.router)
    app.include_router(downloads.router)
    app.include_router(webhook_endpoints.router)
    app.include_router(health.router)
    return app

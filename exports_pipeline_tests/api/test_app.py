"""The app factory builds nothing at import or creation, never imports Dagster, reports health."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.settings import Settings


def test_creating_the_app_touches_no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPORTS_HOME", str(tmp_path / "home"))
    app = create_app()
    assert app.openapi()["info"]["title"] == "Event Export API"
    assert not (tmp_path / "home").exists()


def test_the_api_never_imports_dagster() -> None:
    code = (
        "import sys, exports_pipeline.api.app, exports_pipeline.storage.factory;"
        "sys.exit(sorted(m for m in sys.modules if m.split('.')[0] == 'dagster') != [])"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_health_is_503_when_the_store_does_not_answer(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings)) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"message": "The store does not answer."}


def test_unknown_routes_and_methods_answer_in_the_error_shape(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path))) as client:
        missing = client.get("/public-api/v1/nothing")
        wrong_method = client.delete("/public-api/v1/events/exports")
        docs = client.get("/docs")
    assert missing.status_code == 404 and set(missing.json()) == {"message"}
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["Allow"]
    assert set(wrong_method.json()) == {"message"}
    assert docs.status_code == 200

"""Auth matrix: bad or revoked keys are 401, no permission or lapsed space 403, foreign ids 404."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.store.exports import create_export
from exports_pipeline_tests.support.api import EXPORTS, Keys, make_settings

BODY = {"date": "2024-01-15"}


@pytest.fixture(scope="module")
def api(
    shared_store_url: str, tmp_path_factory: pytest.TempPathFactory, shared_keys: Keys
) -> Iterator[TestClient]:
    settings = make_settings(
        shared_store_url,
        tmp_path_factory.mktemp("home"),
        rate_limit_create_per_minute=10_000,
        rate_limit_status_per_minute=10_000,
    )
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def acme_export(shared_engine: sa.Engine, shared_keys: Keys) -> int:
    with shared_engine.begin() as conn:
        return create_export(
            conn, space_id="acme", request=ExportRequest(date=dt.date(2024, 1, 15)), trigger="api"
        )


def _header(template: str | None, keys: Keys) -> dict[str, str]:
    if template is None:
        return {}
    return {"Authorization": template.format(k=keys)}


UNAUTHENTICATED = [
    ("no header", None),
    ("empty header", ""),
    ("basic scheme", "Basic dXNlcjpwYXNz"),
    ("token scheme", "Token {k.acme}"),
    ("bearer without key", "Bearer"),
    ("bearer with blank key", "Bearer    "),
    ("unknown key", "Bearer exk_unknown0000000000000000000000000000000000"),
    ("key with trailing junk", "Bearer {k.acme} extra"),
    ("key missing its last character", "Bearer {k.acme!s:.20}"),
    ("revoked key", "Bearer {k.acme_revoked}"),
]
FORBIDDEN = [
    ("key without export permission", "Bearer {k.acme_no_export}"),
    ("space with inactive subscription", "Bearer {k.lapsed}"),
]
ALLOWED = [
    ("valid key", "Bearer {k.acme}"),
    ("scheme is case-insensitive", "bearer {k.acme}"),
]
MATRIX = (
    [(name, header, 401) for name, header in UNAUTHENTICATED]
    + [(name, header, 403) for name, header in FORBIDDEN]
    + [(name, header, None) for name, header in ALLOWED]
)


@pytest.mark.parametrize(
    ("header", "expected"), [m[1:] for m in MATRIX], ids=[m[0] for m in MATRIX]
)
@pytest.mark.parametrize("endpoint", ["create", "status"])
def test_auth_matrix(
    api: TestClient,
    shared_keys: Keys,
    acme_export: int,
    endpoint: str,
    header: str | None,
    expected: int | None,
) -> None:
    headers = _header(header, shared_keys)
    if endpoint == "create":
        response = api.post(EXPORTS, json=BODY, headers=headers)
        success = 202
    else:
        response = api.get(f"{EXPORTS}/{acme_export}", headers=headers)
        success = 200
    assert response.status_code == (expected or success), response.text
    assert isinstance(response.json().get("message", ""), str)
    if expected == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["message"]
        assert "X-RateLimit-Limit" not in response.headers
    else:
        assert response.headers["X-RateLimit-Limit"] == "10000"
        assert "X-RateLimit-Remaining" in response.headers


def test_other_space_export_is_indistinguishable_from_unknown(
    api: TestClient, shared_keys: Keys, acme_export: int
) -> None:
    foreign = api.get(f"{EXPORTS}/{acme_export}", headers=_header("Bearer {k.other}", shared_keys))
    missing = api.get(f"{EXPORTS}/987654321", headers=_header("Bearer {k.other}", shared_keys))
    assert foreign.status_code == missing.status_code == 404
    assert set(foreign.json()) == set(missing.json()) == {"message"}
    assert foreign.json()["message"] == f"Export {acme_export} not found."
    assert foreign.headers.keys() == missing.headers.keys()


@pytest.mark.parametrize("export_id", ["0", "-1", str(2**63), str(2**80)])
def test_out_of_range_export_id_is_404(api: TestClient, shared_keys: Keys, export_id: str) -> None:
    response = api.get(f"{EXPORTS}/{export_id}", headers=_header("Bearer {k.acme}", shared_keys))
    assert response.status_code == 404


@pytest.mark.parametrize("export_id", ["abc", "1.0", "1e3", "+1", "0x1", " 1"])
def test_non_numeric_export_id_is_422(api: TestClient, shared_keys: Keys, export_id: str) -> None:
    response = api.get(f"{EXPORTS}/{export_id}", headers=_header("Bearer {k.acme}", shared_keys))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "export_id"

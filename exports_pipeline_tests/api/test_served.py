"""Served for real: `exports-pipeline keys` and `exports-pipeline api` processes over HTTP,
and two API processes on one store sharing one per-space limit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from exports_pipeline.store.schema import spaces
from exports_pipeline_tests.support.served import (
    cli_env,
    run_cli,
    served_api,
    wait_for_fresh_minute,
)

pytestmark = pytest.mark.integration

EXPORTS = "/public-api/v1/events/exports"


@pytest.fixture
def env(store_engine: sa.Engine, store_url: str, tmp_path: Path) -> dict[str, str]:
    with store_engine.begin() as conn:
        conn.execute(
            sa.insert(spaces),
            [
                {"id": "acme", "name": "Acme", "timezone": "UTC", "subscription_active": True},
                {"id": "zeta", "name": "Zeta", "timezone": "UTC", "subscription_active": True},
            ],
        )
    return cli_env(store_url, tmp_path / "home")


def _new_key(env: dict[str, str], *args: str) -> str:
    result = run_cli(env, "keys", "create", *args)
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("exk_") and " " not in key
    return key


def test_keys_cli_and_served_api(env: dict[str, str], tmp_path: Path) -> None:
    key = _new_key(env, "--space", "acme")
    readonly = _new_key(env, "--space", "acme", "--no-export-permission")
    assert run_cli(env, "keys", "create", "--space", "nowhere").returncode == 1

    listing = run_cli(env, "keys", "list")
    assert listing.returncode == 0
    assert key not in listing.stdout and key[:12] in listing.stdout
    assert "no-export" in listing.stdout

    with served_api(env, tmp_path / "api.log") as base:
        auth = {"Authorization": f"Bearer {key}"}
        created = httpx.post(f"{base}{EXPORTS}", json={"date": "2024-01-15"}, headers=auth)
        assert created.status_code == 202
        assert created.headers["X-RateLimit-Limit"] == "5"
        status = httpx.get(base + created.headers["Location"], headers=auth)
        assert status.status_code == 200
        assert status.json()["status"] == "queued"
        assert status.headers["X-RateLimit-Remaining"] == "29"

        invalid = httpx.post(f"{base}{EXPORTS}", content=b'{"date": "2024-02-30"}', headers=auth)
        assert invalid.status_code == 422 and "date" in invalid.json()["message"]
        forbidden = httpx.post(
            f"{base}{EXPORTS}",
            json={"date": "2024-01-15"},
            headers={"Authorization": f"Bearer {readonly}"},
        )
        assert forbidden.status_code == 403

        assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "database": "ok"}
        openapi = httpx.get(f"{base}/openapi.json").json()
        assert {EXPORTS, f"{EXPORTS}/{{export_id}}"} <= set(openapi["paths"])
        assert httpx.get(f"{base}/docs").status_code == 200

        key_id = next(
            line.split("\t")[0]
            for line in listing.stdout.splitlines()
            if line.split("\t")[1] == f"{key[:12]}..."
        )
        revoked = run_cli(env, "keys", "revoke", key_id)
        assert revoked.returncode == 0, revoked.stderr
        assert httpx.get(base + created.headers["Location"], headers=auth).status_code == 401
        assert run_cli(env, "keys", "revoke", "exk_not-a-key").returncode == 1

    assert key not in (tmp_path / "api.log").read_text()


def test_two_api_processes_share_one_limit(env: dict[str, str], tmp_path: Path) -> None:
    acme = {"Authorization": f"Bearer {_new_key(env, '--space', 'acme')}"}
    zeta = {"Authorization": f"Bearer {_new_key(env, '--space', 'zeta')}"}
    body = {"date": "2024-01-15"}
    with (
        served_api(env, tmp_path / "a.log") as first,
        served_api(env, tmp_path / "b.log") as second,
    ):
        wait_for_fresh_minute()
        responses = [
            httpx.post(f"{base}{EXPORTS}", json=body, headers=acme) for base in [first, second] * 3
        ]
        other_space = httpx.post(f"{second}{EXPORTS}", json=body, headers=zeta)
    codes = [r.status_code for r in responses]
    assert codes == [202] * 5 + [429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["4", "3", "2", "1", "0", "0"]
    assert 1 <= int(responses[-1].headers["Retry-After"]) <= 60
    assert other_space.status_code == 202

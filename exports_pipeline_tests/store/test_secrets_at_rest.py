"""The store's secrets are sealed at rest (issue 21, finding 4): a webhook endpoint's
secret is kept as a Fernet token under the secrets key, never in plain in the store's
files; `db upgrade` seals the plain secrets an older store holds; EXPORTS_HOME is 0700 and
the SQLite store's files 0600."""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.sealing import SecretBox, secret_box
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.migrate import downgrade, upgrade
from exports_pipeline.store.schema import webhook_endpoints
from exports_pipeline.store.webhooks import new_secret
from exports_pipeline_tests.support.api import bearer, make_settings, seed_spaces
from exports_pipeline_tests.support.served import run_cli

HOOKS = "/public-api/v1/webhook-endpoints"


def _stored_secrets(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(webhook_endpoints.c.secret)).scalars())


def _revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _sqlite_bytes(store_url: str) -> bytes:
    """The store's file and its WAL, as they are on disk."""
    database = Path(sa.make_url(store_url).database or "")
    files = [database, database.with_name(database.name + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _endpoint_row(secret: str) -> dict[str, object]:
    return {
        "space_id": "acme",
        "url": "https://8.8.8.8/hook",
        "events": ["export.completed"],
        "secret": secret,
        "created_at": dt.datetime(2026, 12, 1),
        "consecutive_failures": 0,
    }


def _plain_endpoint(engine: sa.Engine, secret: str) -> None:
    """An endpoint as a store before migration 0008 kept it: its secret in plain."""
    with engine.begin() as conn:
        conn.execute(sa.insert(webhook_endpoints), [_endpoint_row(secret)])


def test_a_created_endpoints_secret_is_kept_sealed_under_the_generated_key(
    store_engine: sa.Engine, store_url: str, tmp_path: Path
) -> None:
    keys = seed_spaces(store_engine)
    home = tmp_path / "home"
    settings = make_settings(store_url, home, webhook_allow_private=True, secrets_key=None)
    with TestClient(create_app(settings)) as client:
        created = client.post(
            HOOKS, json={"url": "http://127.0.0.1:9/h"}, headers=bearer(keys.acme)
        )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    [stored] = _stored_secrets(store_engine)
    assert secret.removeprefix("whsec_") not in stored
    key_file = home / "secrets-key"
    assert _mode(key_file) == 0o600
    assert secret_box(None, key_file).open(stored) == secret
    if store_engine.dialect.name == "sqlite":
        assert secret.removeprefix("whsec_").encode() not in _sqlite_bytes(store_url)


def test_db_upgrade_seals_the_plain_secrets_of_an_older_store_and_leaves_no_copy(
    store_url: str, tmp_path: Path
) -> None:
    engine = make_engine(store_url)
    upgrade(engine, "0007")
    plain = [new_secret() for _ in range(3)]
    for secret in plain:
        _plain_endpoint(engine, secret)
    engine.dispose()
    home = tmp_path / "home"
    env = {**os.environ, "EXPORTS_HOME": str(home), "EXPORTS_DATABASE_URL": store_url}
    env.pop("EXPORTS_SECRETS_KEY", None)
    result = run_cli(env, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert _revision(engine) == "0008"
    box = secret_box(None, home / "secrets-key")
    stored = _stored_secrets(engine)
    assert [box.open(s) for s in stored] == plain
    assert not any(s.startswith("whsec_") for s in stored)
    if engine.dialect.name == "sqlite":
        on_disk = _sqlite_bytes(store_url)
        assert not [s for s in plain if s.removeprefix("whsec_").encode() in on_disk]
    # And back: downgrading opens them again.
    downgrade(engine, "0007", box=box)
    assert _stored_secrets(engine) == plain
    engine.dispose()


def test_a_migration_that_must_seal_without_the_key_stops_and_changes_nothing(
    store_url: str,
) -> None:
    engine = make_engine(store_url)
    upgrade(engine, "0007")
    secret = new_secret()
    _plain_endpoint(engine, secret)
    needs_key = r"seals 1 plain webhook secrets and needs .*secrets key.*exports-pipeline db"
    with pytest.raises(RuntimeError, match=needs_key):
        upgrade(engine)
    assert _revision(engine) == "0007"
    assert _stored_secrets(engine) == [secret]
    engine.dispose()


def test_a_wrong_key_does_not_open_a_sealed_secret() -> None:
    sealed = SecretBox.from_key("the right key, at least 32 bytes!").seal("whsec_abc")
    assert "whsec_abc" not in sealed
    with pytest.raises(ValueError, match="sealed under another key"):
        SecretBox.from_key("the wrong key, at least 32 bytes!").open(sealed)
    # A new IV each time: the same secret never seals to the same token.
    box = SecretBox.from_key("the right key, at least 32 bytes!")
    assert box.seal("whsec_abc") != box.seal("whsec_abc")


def test_the_home_is_its_owners_alone_and_so_are_the_sqlite_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTS_")}
    env["EXPORTS_HOME"] = str(home)
    assert run_cli(env, "db", "upgrade").returncode == 0
    assert _mode(home) == 0o700
    store = home / "store.db"
    for path in (store, home / "secrets-key"):
        assert _mode(path) == 0o600, path
    # What an older version left readable by all is tightened by the next upgrade.
    home.chmod(0o755)
    store.chmod(0o644)
    assert run_cli(env, "db", "upgrade").returncode == 0
    assert _mode(home) == 0o700
    assert _mode(store) == 0o600
    # The WAL and its index, while a connection has them open, have the file's mode.
    engine = make_engine(f"sqlite:///{store}")
    with engine.begin() as conn:
        conn.execute(sa.insert(webhook_endpoints), [_endpoint_row(new_secret())])
        for suffix in ("-wal", "-shm"):
            assert _mode(home / f"store.db{suffix}") == 0o600, suffix
    engine.dispose()

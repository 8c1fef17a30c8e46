"""Shared fixtures: a fresh, migrated store on every backend the run selects.

`--store=sqlite|postgresql|both` (default `both` when PostgreSQL answers at
`EXPORTS_TEST_POSTGRES_URL`, default `postgresql+psycopg://postgres@127.0.0.1:5432/postgres`;
otherwise SQLite only, said once in the header). Tests asking for `store_url` or
`store_engine` run once per selected backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from exports_pipeline.store.db import make_engine
from exports_pipeline.store.migrate import upgrade

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_admin_url() -> str:
    return os.environ.get("EXPORTS_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def _postgres_answers() -> bool:
    try:
        engine = sa.create_engine(postgres_admin_url(), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--store",
        choices=("sqlite", "postgresql", "both", "auto"),
        default="auto",
        help="Store backends to run store-backed tests on (auto: both if PostgreSQL answers).",
    )


def pytest_configure(config: pytest.Config) -> None:
    choice = config.getoption("--store")
    if choice == "auto":
        choice = "both" if _postgres_answers() else "sqlite"
    if (
        choice != "sqlite"
        and os.environ.get("EXPORTS_REQUIRE_POSTGRES")
        and not _postgres_answers()
    ):
        raise pytest.UsageError(
            f"PostgreSQL is required but does not answer at {postgres_admin_url()}"
        )
    config.selected_stores = ["sqlite", "postgresql"] if choice == "both" else [choice]  # type: ignore[attr-defined]


def pytest_report_header(config: pytest.Config) -> str:
    stores = config.selected_stores  # type: ignore[attr-defined]
    note = "" if "postgresql" in stores else " (PostgreSQL not reachable: SQLite only)"
    return f"store backends: {', '.join(stores)}{note}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_backend" in metafunc.fixturenames:
        metafunc.parametrize("store_backend", metafunc.config.selected_stores)  # type: ignore[attr-defined]


@contextmanager
def fresh_postgres_database(prefix: str = "exports_test") -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped on exit."""
    admin = sa.create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(postgres_admin_url()).set(database=name).render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def store_url(store_backend: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """URL of a fresh, empty database on the backend under test (not yet migrated)."""
    if store_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def store_engine(store_url: str) -> Iterator[sa.Engine]:
    """A migrated, empty store on the backend under test."""
    engine = make_engine(store_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """URL of a real S3-protocol server (moto's server mode on 127.0.0.1), one per module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()

"""Fixtures of every test directory: a fresh, migrated store on every backend the run
selects, a store shared by a module, moto's S3 server, the small pipeline store, a
Dagster instance.

`--store=sqlite|postgresql|both` (default `both` when PostgreSQL answers at
`EXPORTS_TEST_POSTGRES_URL`, default `postgresql+psycopg://postgres@127.0.0.1:5432/postgres`;
otherwise SQLite only, said once in the header). Tests asking for `store_url` or
`store_engine` run once per selected backend.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, instance_for_test

from exports_pipeline.pipeline.resources import StoreResource
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.migrate import upgrade
from exports_pipeline_tests.support.api import Keys, seed_spaces
from exports_pipeline_tests.support.postgres import (
    fresh_postgres_database,
    postgres_admin_url,
    postgres_answers,
)
from exports_pipeline_tests.support.s3 import CREDENTIALS, s3_client_with_bucket
from exports_pipeline_tests.support.sealing import TEST_SECRETS_KEY
from exports_pipeline_tests.support.small_store import seed_small_store


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
        choice = "both" if postgres_answers() else "sqlite"
    if (
        choice != "sqlite"
        and os.environ.get("EXPORTS_REQUIRE_POSTGRES")
        and not postgres_answers()
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
    stores = metafunc.config.selected_stores  # type: ignore[attr-defined]
    if "store_backend" in metafunc.fixturenames:
        metafunc.parametrize("store_backend", stores)
    if "shared_store_backend" in metafunc.fixturenames:
        metafunc.parametrize("shared_store_backend", stores, scope="module")


@pytest.fixture
def store_url(store_backend: str, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """URL of a fresh, empty database on the backend under test (not yet migrated)."""
    if store_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def shared_store_url(
    shared_store_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated store shared by a module's tests (for many read-mostly cases)."""
    if shared_store_backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    with fresh_postgres_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="module")
def shared_engine(shared_store_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(shared_store_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def shared_keys(shared_engine: sa.Engine) -> Keys:
    """The API tests' spaces and keys, seeded once into the module's shared store."""
    return seed_spaces(shared_engine)


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


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def s3_client(s3_endpoint: str, aws_env: None) -> Any:
    """A client of the module's S3 server, the test bucket made."""
    return s3_client_with_bucket(s3_endpoint)


@pytest.fixture
def store(store_engine: sa.Engine, store_url: str) -> StoreResource:
    """The `store` resource on the small hand-checkable store."""
    seed_small_store(store_engine)
    # No pooled connection may stay open while the engine's ADBC reader closes the file.
    store_engine.dispose()
    return StoreResource(database_url=store_url, secrets_key=TEST_SECRETS_KEY)


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as instance:
        yield instance

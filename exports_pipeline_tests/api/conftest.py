"""Fixtures of the API tests: a seeded store, keys, an app client on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.settings import Settings
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline_tests.support.api import (
    Keys,
    StoredFile,
    completed_export,
    make_settings,
    seed_spaces,
)


@pytest.fixture
def keys(store_engine: sa.Engine) -> Keys:
    return seed_spaces(store_engine)


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:
    return make_settings(store_url, tmp_path / "home")


@pytest.fixture
def client(settings: Settings, keys: Keys) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def storage(settings: Settings) -> LocalExportStorage:
    return LocalExportStorage(
        settings.resolved_storage_dir,
        public_base_url=settings.public_base_url,
        signing_secret=settings.signing_secret,
    )


@pytest.fixture
def stored(store_engine: sa.Engine, storage: LocalExportStorage, tmp_path: Path) -> StoredFile:
    """A completed export of acme, its file in local storage."""
    return completed_export(store_engine, storage, tmp_path)

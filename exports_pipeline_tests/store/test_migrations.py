"""Migrations create a store whose schema matches the models, on every backend."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from exports_pipeline.store.migrate import upgrade
from exports_pipeline.store.schema import metadata


def test_migrated_schema_matches_models(store_engine: sa.Engine) -> None:
    with store_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrade_twice_is_a_no_op(store_engine: sa.Engine) -> None:
    upgrade(store_engine)
    assert "events" in sa.inspect(store_engine).get_table_names()


def test_export_indexes_exist(store_engine: sa.Engine) -> None:
    insp = sa.inspect(store_engine)
    indexed = {
        table: {tuple(ix["column_names"]) for ix in insp.get_indexes(table)}
        for table in ("events", "touchpoints", "profiles")
    }
    assert ("space_id", "event_time_utc") in indexed["events"]
    # Journeys: a covering index that starts with (space_id, profile_id, touch_time_utc).
    assert any(
        columns[:3] == ("space_id", "profile_id", "touch_time_utc")
        for columns in indexed["touchpoints"]
    )
    assert ("space_id", "company_id") in indexed["profiles"]

"""`load DIR` loads every format, and any bad file names file/row/column and keeps nothing."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from exports_pipeline.cli import app
from exports_pipeline.store import bulk_insert
from exports_pipeline.store.bulk_insert import insert_tables
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.loader import load_directory
from exports_pipeline.store.migrate import upgrade
from exports_pipeline.store.schema import EVENTS_STORE_TABLES, ads, events, spaces, touchpoints
from exports_pipeline.store.table_files import LoadError, validate_frame
from exports_pipeline_tests.support.loading import (
    EXPECTED_AMOUNTS,
    EXPECTED_EVENT_TIMES,
    EXPECTED_TOUCH_TIMES,
    VALID,
    counts,
    snapshot,
    write_parquet,
    write_tables,
)


@pytest.mark.parametrize("file_format", ["csv", "ndjson", "parquet"])
def test_loads_every_table_of_each_format(
    store_engine: sa.Engine, tmp_path: Path, file_format: str
) -> None:
    summary = load_directory(
        store_engine, write_tables(tmp_path / "in", VALID, file_format)
    )

    assert summary.rows == {name: len(rows) for name, rows in VALID.items()}
    assert counts(store_engine) == {name: len(rows) for name, rows in VALID.items()}
    with store_engine.connect() as conn:
        stored = conn.execute(sa.select(events).order_by(events.c.id)).all()
        touches = conn.execute(sa.select(touchpoints).order_by(touchpoints.c.id)).all()
        names = conn.execute(sa.select(spaces.c.name).order_by(spaces.c.id)).scalars().all()
    assert [row.event_time_utc for row in stored] == EXPECTED_EVENT_TIMES
    assert [row.amount for row in stored] == EXPECTED_AMOUNTS
    assert [row.is_upsell for row in stored] == [False, False, True]
    assert [row.company_id for row in stored] == ["c1", None, "c1"]
    assert [row.touch_time_utc for row in touches] == EXPECTED_TOUCH_TIMES
    assert [row.ad_id for row in touches] == ["ad1", None]
    assert names == ["Space one", 'Space "two", Inc']


def test_sqlite_timestamps_are_stored_in_sqlalchemy_text_format(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    load_directory(engine, write_tables(tmp_path / "in", VALID))
    with engine.connect() as conn:
        raw = conn.exec_driver_sql("select event_time_utc from events order by id").scalars()
        assert list(raw) == [
            "2026-03-29 00:30:00.000000",
            "2026-03-29 02:30:00.250000",
            "2026-03-29 01:00:00.123456",
        ]
        # Range filters through SQLAlchemy compare correctly against what the loader wrote.
        selected = conn.execute(
            sa.select(events.c.id).where(
                events.c.event_time_utc >= dt.datetime(2026, 3, 29, 1),
                events.c.event_time_utc < dt.datetime(2026, 3, 29, 2, 30, 0, 250_000),
            )
        ).scalars()
        assert list(selected) == [3]
    engine.dispose()


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("2026-03-29T01:02:03Z", dt.datetime(2026, 3, 29, 1, 2, 3)),
        ("2026-03-29T01:02:03", dt.datetime(2026, 3, 29, 1, 2, 3)),
        ("2026-03-29 01:02", dt.datetime(2026, 3, 29, 1, 2)),
        ("2026-03-29T01:02:03.5+01:00", dt.datetime(2026, 3, 29, 0, 2, 3, 500_000)),
        ("2026-03-29T01:02:03-0330", dt.datetime(2026, 3, 29, 4, 32, 3)),
        ("2026-03-29T01:02:03.1234567+14:00", dt.datetime(2026, 3, 28, 11, 2, 3, 123_456)),
        ("2026-01-01T00:00:00+05:45", dt.datetime(2025, 12, 31, 18, 15)),
    ],
)
def test_timestamp_forms(value: str, parsed: dt.datetime) -> None:
    frame = pl.DataFrame({"id": ["1"], "space_id": ["s"], "profile_id": ["p"],
                          "source": ["direct"], "touch_time_utc": [value]})  # fmt: skip
    assert validate_frame(touchpoints, frame, "t.csv")["touch_time_utc"][0] == parsed


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("TRUE", True), ("f", False), ("Yes", True), ("0", False), (" 1 ", True)],
)
def test_boolean_forms(value: str, parsed: bool) -> None:
    frame = pl.DataFrame({"id": ["s"], "name": ["n"], "timezone": ["UTC"],
                          "subscription_active": [value]})  # fmt: skip
    assert validate_frame(spaces, frame, "spaces.csv")["subscription_active"][0] == parsed


def _with(table: str, row: int, **changes: Any) -> dict[str, list[dict[str, Any]]]:
    """VALID with `changes` applied to data row `row` (1-based) of `table`."""
    tables = copy.deepcopy(VALID)
    tables[table][row - 1].update(changes)
    return tables


def _without_column(table: str, column: str) -> dict[str, list[dict[str, Any]]]:
    tables = copy.deepcopy(VALID)
    for row in tables[table]:
        del row[column]
    return tables


def _appended(table: str, row: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    tables = copy.deepcopy(VALID)
    tables[table].append(row)
    return tables


_DUPLICATE_EVENT = {**VALID["events"][0], "event_name": "sign_up"}
_DUPLICATE_AD = {**VALID["ads"][0], "ad_name": "Another"}

# (case, tables to write, file named, data row named or None, column named or None, words)
BAD_INPUTS = [
    ("missing column", _without_column("events", "event_time_utc"),
     "events.csv", None, "event_time_utc", "missing"),
    ("unknown column", _with("events", 1, colour="blue"), "events.csv", None, "colour", "unknown"),
    ("wrong integer", _with("events", 2, id="two"), "events.csv", 2, "id", "integer"),
    ("fractional integer", _with("touchpoints", 2, id="11.5"), "touchpoints.csv", 2, "id",
     "integer"),
    ("wrong boolean", _with("events", 3, is_upsell="maybe"), "events.csv", 3, "is_upsell",
     "boolean"),
    ("three decimals", _with("events", 1, amount="1.005"), "events.csv", 1, "amount", "amount"),
    ("amount too large", _with("events", 1, amount="1234567890123"), "events.csv", 1, "amount",
     "amount"),
    ("amount not a number", _with("events", 3, amount="12,50"), "events.csv", 3, "amount",
     "amount"),
    ("unparsable timestamp", _with("events", 2, event_time_utc="yesterday"), "events.csv", 2,
     "event_time_utc", "timestamp"),
    ("impossible date", _with("touchpoints", 1, touch_time_utc="2026-02-30T10:00:00Z"),
     "touchpoints.csv", 1, "touch_time_utc", "timestamp"),
    ("impossible offset", _with("touchpoints", 2, touch_time_utc="2026-02-03T10:00:00+25:00"),
     "touchpoints.csv", 2, "touch_time_utc", "timestamp"),
    ("date without time", _with("events", 1, event_time_utc="2026-03-29"), "events.csv", 1,
     "event_time_utc", "timestamp"),
    ("null in NOT NULL", _with("events", 2, profile_id=None), "events.csv", 2, "profile_id",
     "required"),
    ("null in NOT NULL text of another table", _with("ads", 1, ad_name=None), "ads.csv", 1,
     "ad_name", "required"),
    ("duplicate key in file", _appended("events", _DUPLICATE_EVENT), "events.csv", 4, "id",
     "duplicate"),
    ("duplicate composite key in file", _appended("ads", _DUPLICATE_AD), "ads.csv", 2,
     "space_id, ad_id", "duplicate"),
    ("unknown timezone", _with("spaces", 2, timezone="Mars/Olympus"), "spaces.csv", 2,
     "timezone", "IANA"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tables", "file", "row", "column", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_input_names_file_row_column_and_keeps_nothing(
    store_engine: sa.Engine,
    tmp_path: Path,
    tables: dict[str, list[dict[str, Any]]],
    file: str,
    row: int | None,
    column: str | None,
    words: str,
) -> None:
    other_space = {"id": "s0", "name": "Earlier", "timezone": "UTC", "subscription_active": True}
    load_directory(store_engine, write_tables(tmp_path / "base", {"spaces": [other_space]}))
    before = snapshot(store_engine)

    with pytest.raises(LoadError) as raised:
        load_directory(store_engine, write_tables(tmp_path / "in", tables))

    error = raised.value
    assert (error.file, error.row, error.column) == (file, row, column)
    text = str(error)
    assert file in text
    assert words.lower() in text.lower()
    if row is not None:
        assert f"row {row}" in text
    if column is not None:
        assert repr(column) in text
    assert snapshot(store_engine) == before


@pytest.mark.parametrize(
    ("file_name", "words"),
    [
        ("event.csv", "unknown table"),
        ("exports.csv", "unknown table"),
        ("events.json", "unknown file type"),
        ("events.csv.gz", "unknown file type"),
    ],
)
def test_unknown_table_file_is_refused(
    store_engine: sa.Engine, tmp_path: Path, file_name: str, words: str
) -> None:
    directory = write_tables(tmp_path / "in", VALID)
    (directory / file_name).write_text("id\n1\n")
    with pytest.raises(LoadError, match=words) as raised:
        load_directory(store_engine, directory)
    assert raised.value.file == file_name
    assert sum(counts(store_engine).values()) == 0


def test_two_files_of_one_table_are_refused(store_engine: sa.Engine, tmp_path: Path) -> None:
    directory = write_tables(tmp_path / "in", VALID)
    write_parquet(directory / "events.parquet", VALID["events"])
    with pytest.raises(LoadError, match="already comes from"):
        load_directory(store_engine, directory)
    assert sum(counts(store_engine).values()) == 0


@pytest.mark.parametrize("file_format", ["ndjson", "parquet"])
def test_typed_formats_report_rows_too(
    store_engine: sa.Engine, tmp_path: Path, file_format: str
) -> None:
    tables = {"touchpoints": copy.deepcopy(VALID["touchpoints"])}
    tables["touchpoints"][1]["id"] = "eleven"
    if file_format == "parquet":
        tables["touchpoints"][0]["id"] = "10"
    with pytest.raises(LoadError) as raised:
        load_directory(
            store_engine, write_tables(tmp_path / "in", tables, file_format)
        )
    assert (raised.value.file, raised.value.row, raised.value.column) == (
        f"touchpoints.{file_format}",
        2,
        "id",
    )


def test_duplicate_of_a_stored_row_names_the_row(store_engine: sa.Engine, tmp_path: Path) -> None:
    load_directory(store_engine, write_tables(tmp_path / "first", VALID))
    before = snapshot(store_engine)
    again = {"events": [{**VALID["events"][0], "id": 7}, {**VALID["events"][2]}]}

    with pytest.raises(LoadError) as raised:
        load_directory(store_engine, write_tables(tmp_path / "again", again))

    assert (raised.value.file, raised.value.row, raised.value.column) == ("events.csv", 2, "id")
    assert "already in the store" in str(raised.value)
    assert snapshot(store_engine) == before


@pytest.mark.parametrize(
    "last_file_problem",
    [
        pytest.param({"ad_name": None}, id="invalid last file"),
        pytest.param({}, id="last file clashes with the store, after earlier inserts"),
    ],
)
def test_a_bad_last_file_keeps_nothing_of_the_earlier_ones(
    store_engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    last_file_problem: dict[str, Any],
) -> None:
    # `ads` is inserted last; a clash with a stored ad is found only after every other
    # table went in, so this exercises the rollback. A tiny threshold makes SQLite drop
    # and rebuild indexes inside the transaction, which the rollback must undo too.
    monkeypatch.setattr(bulk_insert, "_REBUILD_INDEXES_FROM", 1)
    with store_engine.begin() as conn:
        conn.execute(sa.insert(ads), [{**VALID["ads"][0], "ad_name": "stored"}])
    before = snapshot(store_engine)
    indexes_before = {t.name: sa.inspect(store_engine).get_indexes(t.name) for t in (events,)}
    tables = _with("ads", 1, **last_file_problem)

    with pytest.raises(LoadError) as raised:
        load_directory(store_engine, write_tables(tmp_path / "in", tables))

    assert raised.value.file == "ads.csv"
    assert snapshot(store_engine) == before
    assert {t.name: sa.inspect(store_engine).get_indexes(t.name) for t in (events,)} == (
        indexes_before
    )


def test_indexes_rebuilt_after_a_large_load_are_all_there(
    store_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk_insert, "_REBUILD_INDEXES_FROM", 1)
    names = {table.name: sorted(ix["name"] for ix in sa.inspect(store_engine).get_indexes(
        table.name)) for table in EVENTS_STORE_TABLES}  # fmt: skip

    load_directory(store_engine, write_tables(tmp_path / "in", VALID))

    inspector = sa.inspect(store_engine)
    assert {t.name: sorted(ix["name"] for ix in inspector.get_indexes(t.name))
            for t in EVENTS_STORE_TABLES} == names  # fmt: skip
    assert "ix_touchpoints_journey" in names["touchpoints"]
    assert counts(store_engine) == {name: len(rows) for name, rows in VALID.items()}


def test_a_large_load_refreshes_postgresql_planner_statistics(
    store_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store_engine.dialect.name != "postgresql":
        pytest.skip("planner statistics by ANALYZE: PostgreSQL's")
    monkeypatch.setattr(bulk_insert, "_ANALYZE_FROM", 2)
    analyzed = sa.text("SELECT DISTINCT tablename FROM pg_stats WHERE schemaname = 'public'")
    with store_engine.connect() as conn:
        assert conn.execute(analyzed).scalars().all() == []

    load_directory(store_engine, write_tables(tmp_path / "in", VALID))

    with store_engine.connect() as conn:
        tables = set(conn.execute(analyzed).scalars())
    # Tables of 2 rows and more were analysed; the single-row ones were left to autovacuum.
    assert tables == {name for name, rows in VALID.items() if len(rows) >= 2}


def test_rows_the_database_refuses_roll_back_the_load(store_engine: sa.Engine) -> None:
    stored = validate_frame(ads, pl.DataFrame(VALID["ads"]), "ads")
    with store_engine.begin() as conn:
        insert_tables(conn, [(ads, stored, "ads")])
    frames = [
        (table, validate_frame(table, pl.DataFrame(VALID[table.name]), table.name), table.name)
        for table in EVENTS_STORE_TABLES
    ]
    before = snapshot(store_engine)

    with pytest.raises(LoadError, match="refused"), store_engine.begin() as conn:
        insert_tables(conn, frames, check_existing=False)

    assert snapshot(store_engine) == before


def test_cli_load_exit_codes(
    store_engine: sa.Engine, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXPORTS_DATABASE_URL", store_url)
    runner = CliRunner()

    ok = runner.invoke(app, ["load", str(write_tables(tmp_path / "ok", VALID)), "--no-progress"])
    bad = runner.invoke(
        app,
        ["load", str(write_tables(tmp_path / "bad", _with("events", 2, id="x"))), "--no-progress"],
    )

    assert ok.exit_code == 0, ok.output
    assert "events" in ok.stdout
    assert bad.exit_code == 1
    assert "events.csv, row 2, column 'id'" in bad.stderr
    assert counts(store_engine)["events"] == len(VALID["events"])


def test_amounts_keep_cents_exactly(store_engine: sa.Engine, tmp_path: Path) -> None:
    rows = [
        {**VALID["events"][0], "id": i, "amount": amount}
        for i, amount in enumerate(["0.1", "0.29", "-0.07", "999999999999.99", "+5", "7.10"])
    ]
    load_directory(
        store_engine, write_tables(tmp_path / "in", {"events": rows}, "ndjson")
    )
    with store_engine.connect() as conn:
        stored = conn.execute(sa.select(events.c.amount).order_by(events.c.id)).scalars().all()
    assert stored == [Decimal(v) for v in
                      ("0.10", "0.29", "-0.07", "999999999999.99", "5.00", "7.10")]  # fmt: skip

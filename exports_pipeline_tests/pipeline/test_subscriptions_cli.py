"""`exports-pipeline subscriptions add/list/remove` manage standing subscriptions."""

from typer.testing import CliRunner

from exports_pipeline.cli import app


def test_add_list_remove(store, monkeypatch):
    monkeypatch.setenv("EXPORTS_DATABASE_URL", store.database_url)
    runner = CliRunner()
    request = '{"sources": ["email"], "attribution_model": "last_touch", "attribution_window": 7}'
    added = runner.invoke(
        app,
        [
            "subscriptions",
            "add",
            "--space",
            "space-ny",
            "--request",
            request,
            "--start",
            "2026-03-01",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "subscription 1: space space-ny (America/New_York), daily from 2026-03-01" in (
        added.output
    )
    listed = runner.invoke(app, ["subscriptions", "list"])
    assert listed.output.splitlines() == [
        '1\tspace-ny\t2026-03-01\tactive\t{"attribution_model": "last_touch", '
        '"attribution_window": 7, "query_mode": "profile", "sources": ["email"]}'
    ]
    assert runner.invoke(app, ["subscriptions", "remove", "1"]).exit_code == 0
    assert runner.invoke(app, ["subscriptions", "list"]).output == ""
    assert "removed" in runner.invoke(app, ["subscriptions", "list", "--all"]).output
    assert runner.invoke(app, ["subscriptions", "remove", "1"]).exit_code == 1


def test_add_rejects_what_the_api_rejects(store, monkeypatch):
    monkeypatch.setenv("EXPORTS_DATABASE_URL", store.database_url)
    runner = CliRunner()
    result = runner.invoke(
        app, ["subscriptions", "add", "--space", "space-ny", "--request", '{"sources": ["email"]}']
    )
    assert result.exit_code == 2
    assert "attribution_model: required when sources is given" in result.output
    unknown = runner.invoke(app, ["subscriptions", "add", "--space", "nope"])
    assert unknown.exit_code == 1


def test_a_start_that_is_not_a_date_is_a_usage_error_naming_the_option(store, monkeypatch):
    monkeypatch.setenv("EXPORTS_DATABASE_URL", store.database_url)
    result = CliRunner().invoke(
        app, ["subscriptions", "add", "--space", "space-ny", "--start", "2026-02-30"]
    )
    assert result.exit_code == 2
    assert "'--start'" in result.output
    assert "'2026-02-30' is not a date (YYYY-MM-DD)" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    listed = CliRunner().invoke(app, ["subscriptions", "list"])
    assert listed.output == ""

"""The console script as a user runs it: a broken setting is one clear error, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import typer

from exports_pipeline.cli import Invocation, app
from exports_pipeline_tests.support.served import run_cli


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("EXPORTS_RATE_LIMIT_CREATE_PER_MINUTE", "0", "greater than or equal to 1"),
        ("EXPORTS_DOWNLOAD_URL_TTL_SECONDS", "fifteen", "valid integer"),
        ("EXPORTS_STORAGE", "ftp", "'local' or 's3'"),
        ("EXPORTS_EARLIEST_DATE", "2020-02-30", "valid date"),
    ],
)
@pytest.mark.parametrize("command", [["keys", "list"], ["db", "upgrade"], ["api", "--port", "1"]])
def test_a_broken_setting_names_its_variable_and_rule(
    tmp_path: Path, variable: str, value: str, rule: str, command: list[str]
) -> None:
    env = {**os.environ, "EXPORTS_HOME": str(tmp_path), variable: value}
    result = run_cli(env, *command)
    assert result.returncode == 2
    first, second = result.stderr.splitlines()
    assert first == "invalid configuration:"
    assert second.startswith(f"  {variable}: ")
    assert rule in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "store.db").exists()  # nothing was started or created


@pytest.mark.parametrize("variable", ["EXPORTS_SIGNING_SECRET", "EXPORTS_SECRETS_KEY"])
@pytest.mark.parametrize("command", [["keys", "list"], ["db", "upgrade"], ["api", "--port", "1"]])
def test_a_secret_under_32_bytes_is_refused_at_start(
    tmp_path: Path, command: list[str], variable: str
) -> None:
    secret = "a-31-byte-secret-refused-at-go!"
    env = {**os.environ, "EXPORTS_HOME": str(tmp_path), variable: secret}
    result = run_cli(env, *command)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "invalid configuration:",
        f"  {variable}: Value error, must be at least 32 bytes long",
    ]
    assert secret not in result.stderr + result.stdout
    assert not (tmp_path / "store.db").exists()


def test_a_secret_setting_is_never_echoed(tmp_path: Path) -> None:
    secret = "s3cr3t-value-that-must-never-leak"
    env = {
        **os.environ,
        "EXPORTS_HOME": str(tmp_path),
        "EXPORTS_SIGNING_SECRET": secret,
        "EXPORTS_RATE_LIMIT_STATUS_PER_MINUTE": secret,
    }
    result = run_cli(env, "keys", "list")
    assert result.returncode == 2
    assert "EXPORTS_RATE_LIMIT_STATUS_PER_MINUTE" in result.stderr
    assert secret not in result.stderr + result.stdout


def test_a_command_finds_the_invocation_its_callback_made() -> None:
    context = typer.Context(typer.main.get_command(app))
    with pytest.raises(RuntimeError, match="callback"):
        Invocation.of(context)
    context.obj = invocation = Invocation()
    assert Invocation.of(context) is invocation
    assert Invocation.of(typer.Context(context.command, parent=context)) is invocation

"""A webhook secret is in its create answer only: never listed, never in a Python log (SQL
logging on), nor in what the sender and the CLI print."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from exports_pipeline.api.app import create_app
from exports_pipeline.cli import app as cli
from exports_pipeline.webhooks.sender import SenderConfig, send_due_deliveries
from exports_pipeline_tests.support.api import bearer, make_settings, seed_spaces
from exports_pipeline_tests.support.receiver import receiver
from exports_pipeline_tests.support.sealing import BOX
from exports_pipeline_tests.support.webhooks import completed_export

HOOKS = "/public-api/v1/webhook-endpoints"


def test_no_secret_in_logs_listings_or_output(
    store_engine: sa.Engine,
    store_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = seed_spaces(store_engine)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    settings = make_settings(store_url, tmp_path / "home", webhook_allow_private=True)
    with receiver(answers=[500]) as hook:
        with TestClient(create_app(settings)) as client:
            created = client.post(HOOKS, json={"url": hook.url}, headers=bearer(keys.acme))
            assert created.status_code == 201
            secret = created.json()["secret"]
            listed = client.get(HOOKS, headers=bearer(keys.acme))
        completed_export(store_engine)
        # The sender's own engine, with SQL logging too.
        engine = sa.create_engine(store_url, logging_name="sender")
        first = send_due_deliveries(engine, BOX, SenderConfig(allow_private=True))
        engine.dispose()
    assert first.retrying == 1
    monkeypatch.setenv("EXPORTS_DATABASE_URL", store_url)
    printed = CliRunner().invoke(cli, ["webhooks", "list-deliveries"]).output
    assert "HTTP 500" in printed
    assert "webhook_endpoints" in caplog.text  # SQL logging is on: the inserts were logged
    assert "'***'" in caplog.text
    secret_part = secret.removeprefix("whsec_")
    for text in (caplog.text, listed.text, printed):
        assert secret_part not in text

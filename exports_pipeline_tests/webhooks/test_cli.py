"""`exports-pipeline webhooks list-deliveries` shows each delivery with every attempt;
`webhooks send` runs one pass of the sender."""

from __future__ import annotations

from typer.testing import CliRunner

from exports_pipeline.cli import app
from exports_pipeline_tests.support.receiver import receiver
from exports_pipeline_tests.support.sealing import TEST_SECRETS_KEY
from exports_pipeline_tests.support.webhooks import (
    OTHER_SPACE,
    add_endpoint,
    completed_export,
    deliveries,
)


def test_send_then_list_deliveries_with_their_attempts(engine, monkeypatch):
    monkeypatch.setenv("EXPORTS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("EXPORTS_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("EXPORTS_SECRETS_KEY", TEST_SECRETS_KEY)
    runner = CliRunner()
    assert runner.invoke(app, ["webhooks", "list-deliveries"]).output == "no webhook deliveries\n"
    with receiver(answers=[502]) as hook, receiver() as their_hook:
        endpoint = add_endpoint(engine, hook.url)
        ours = completed_export(engine)
        add_endpoint(engine, their_hook.url, space_id=OTHER_SPACE)
        theirs = completed_export(engine, space_id=OTHER_SPACE)
        sent = runner.invoke(app, ["webhooks", "send"])
    assert sent.exit_code == 0, sent.output
    assert sent.output.startswith("2 webhook attempts: 1 delivered, 1 failed and retrying")
    listed = runner.invoke(app, ["webhooks", "list-deliveries", "--space", "acme"])
    assert listed.exit_code == 0, listed.output
    [delivery] = deliveries(engine, export_id=ours)
    for shown in (delivery.message_id, "export.completed", "pending", "next attempt", "(acme)"):
        assert shown in listed.output
    assert "HTTP 502" in listed.output
    assert "HTTP 200" not in listed.output
    assert endpoint.secret not in listed.output
    by_export = runner.invoke(app, ["webhooks", "list-deliveries", "--export", str(theirs)])
    [their_delivery] = deliveries(engine, export_id=theirs)
    assert their_delivery.message_id in by_export.output
    assert delivery.message_id not in by_export.output
    assert "HTTP 200" in by_export.output
    assert "delivered" in by_export.output

"""The `exports-pipeline` command: store, data, keys, API server, subscriptions."""

from __future__ import annotations

import typer

from exports_pipeline.settings import Settings
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.migrate import upgrade

app = typer.Typer(no_args_is_help=True, help="Event export service.")
db_app = typer.Typer(no_args_is_help=True, help="The events store's schema.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the store or migrate it to the newest schema."""
    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    upgrade(engine)
    typer.echo(f"store is up to date: {engine.url.render_as_string(hide_password=True)}")

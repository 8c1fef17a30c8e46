"""The `exports-pipeline` command: store, data, keys, API server, subscriptions."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError

from exports_pipeline.settings import Settings, describe_invalid_settings
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


keys_app = typer.Typer(no_args_is_help=True, help="API keys of spaces (stored hashed).")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    space: str = typer.Option(..., "--space", help="Id of the space the key belongs to."),
    export_permission: bool = typer.Option(
        True, "--export-permission/--no-export-permission", help="May the key export?"
    ),
) -> None:
    """Create a key; the plain key is printed once, on the last line, and never stored."""
    from exports_pipeline.store.keys import PREFIX_LENGTH, create_key
    from exports_pipeline.store.spaces import get_space

    engine = make_engine(Settings().resolved_database_url)
    with engine.begin() as conn:
        if get_space(conn, space) is None:
            typer.echo(f"unknown space {space!r}", err=True)
            raise typer.Exit(code=1)
        plain = create_key(conn, space_id=space, can_export=export_permission)
    permission = "export" if export_permission else "no export permission"
    typer.echo(f"created key {plain[:PREFIX_LENGTH]}... for space {space} ({permission});")
    typer.echo("store it now, it is not shown again:")
    typer.echo(plain)


@keys_app.command("revoke")
def keys_revoke(
    key_or_id: str = typer.Argument(..., help="The key's id (see `keys list`) or the key."),
) -> None:
    """Revoke a key, given by its numeric id or its plain value; requests with it get 401."""
    from exports_pipeline.store.keys import revoke_key

    engine = make_engine(Settings().resolved_database_url)
    with engine.begin() as conn:
        key = revoke_key(conn, key_or_id)
    if key is None:
        typer.echo("no such key", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"revoked key {key.id} ({key.key_prefix}...) of space {key.space_id}")


@keys_app.command("list")
def keys_list(space: str | None = typer.Option(None, "--space", help="Only this space.")) -> None:
    """List keys (id, prefix, space, permission, state); never the keys themselves."""
    from exports_pipeline.store.keys import list_keys

    engine = make_engine(Settings().resolved_database_url)
    with engine.connect() as conn:
        keys = list_keys(conn, space_id=space)
    for key in keys:
        permission = "export" if key.can_export else "no-export"
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        typer.echo(f"{key.id}\t{key.key_prefix}...\t{key.space_id}\t{permission}\t{state}")


@app.command("api")
def api(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (they share rate limits)."),
) -> None:
    """Serve the HTTP API with uvicorn (settings from EXPORTS_* environment variables)."""
    import uvicorn

    Settings()  # a broken setting stops here, with its name, not in every worker

    uvicorn.run(
        "exports_pipeline.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
    )


@app.command("load")
def load(
    directory: Path = typer.Argument(..., help="Folder of <table>.parquet|csv|ndjson files."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Load a folder of table files into the store in one transaction (all or nothing)."""
    from exports_pipeline.store.loader import LoadError, load_directory

    engine = make_engine(Settings().resolved_database_url)
    try:
        summary = load_directory(engine, directory, progress=progress)
    except LoadError as exc:
        typer.echo(f"load failed, nothing was kept: {exc}", err=True)
        raise typer.Exit(1) from exc
    for table, rows in summary.rows.items():
        typer.echo(f"{table:<14} {rows:>12,} rows")
    typer.echo(
        f"loaded {summary.total_rows:,} rows in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s)"
    )


@app.command("seed-demo")
def seed_demo_command(
    events: int = typer.Option(20_000, "--events", min=0, help="Number of events."),
    days: int = typer.Option(7, "--days", min=1, help="UTC days of events, ending yesterday."),
    spaces: int = typer.Option(3, "--spaces", min=1, help="Number of spaces."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same data."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Fill the store with realistic, deterministic demo data."""
    from exports_pipeline.store.demo import seed_demo
    from exports_pipeline.store.loader import LoadError

    engine = make_engine(Settings().resolved_database_url)
    try:
        summary = seed_demo(
            engine, events=events, days=days, spaces=spaces, seed=seed, progress=progress
        )
    except LoadError as exc:
        typer.echo(f"seed-demo failed, nothing was kept: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"events from {summary.first_day} to {summary.last_day} (UTC days)")
    for space in summary.spaces:
        state = "active" if space.subscription_active else "inactive"
        typer.echo(f"space {space.id:<10} {space.timezone:<22} {state:<9} {space.name}")
    for table, rows in summary.rows.items():
        typer.echo(f"{table:<14} {rows:>12,} rows")
    typer.echo(f"seeded in {summary.seconds:.1f} s")


subscriptions_app = typer.Typer(
    no_args_is_help=True, help="Standing subscriptions: one export per ended local day."
)
app.add_typer(subscriptions_app, name="subscriptions")


@subscriptions_app.command("add")
def subscriptions_add(
    space: str = typer.Option(..., "--space", help="Id of the space to export."),
    request: str = typer.Option(
        "{}",
        "--request",
        help='The API request body without "date", as JSON, e.g. '
        '\'{"sources": ["email"], "attribution_model": "last_touch", '
        '"attribution_window": 7}\'.',
    ),
    start: str | None = typer.Option(
        None, "--start", help="First local day to export (YYYY-MM-DD); default: yesterday there."
    ),
) -> None:
    """Subscribe a space: the schedule queues one export per local day once it has ended."""
    import datetime as dt
    import json

    from exports_pipeline.engine.request import (
        InvalidExportRequest,
        parse_export_request,
        today_in,
    )
    from exports_pipeline.store.spaces import get_space
    from exports_pipeline.store.subscriptions import add_subscription

    try:
        params = json.loads(request)
    except json.JSONDecodeError as exc:
        typer.echo(f"--request is not JSON: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    if not isinstance(params, dict) or "date" in params:
        typer.echo("--request must be a JSON object without a date", err=True)
        raise typer.Exit(code=2)
    engine = make_engine(Settings().resolved_database_url)
    with engine.begin() as conn:
        found = get_space(conn, space)
        if found is None:
            typer.echo(f"unknown space {space!r}", err=True)
            raise typer.Exit(code=1)
        start_date = (
            dt.date.fromisoformat(start)
            if start
            else today_in(found.timezone) - dt.timedelta(days=1)
        )
        try:
            validated = parse_export_request({**params, "date": start_date.isoformat()})
        except InvalidExportRequest as exc:
            typer.echo(f"invalid request: {exc}", err=True)
            raise typer.Exit(code=2) from exc
        subscription_id = add_subscription(
            conn, space_id=space, params=validated.to_params(), start_date=start_date
        )
    typer.echo(
        f"subscription {subscription_id}: space {space} ({found.timezone}), "
        f"daily from {start_date.isoformat()}"
    )


@subscriptions_app.command("list")
def subscriptions_list(
    space: str | None = typer.Option(None, "--space", help="Only this space."),
    show_all: bool = typer.Option(False, "--all", help="Include removed subscriptions."),
) -> None:
    """List subscriptions: id, space, start date, state, request."""
    import json

    from exports_pipeline.store.subscriptions import list_subscriptions

    engine = make_engine(Settings().resolved_database_url)
    with engine.connect() as conn:
        subscriptions = list_subscriptions(conn, space_id=space, include_inactive=show_all)
    for s in subscriptions:
        state = "active" if s.active else "removed"
        typer.echo(
            f"{s.id}\t{s.space_id}\t{s.start_date.isoformat()}\t{state}\t"
            f"{json.dumps(s.params, sort_keys=True)}"
        )


@subscriptions_app.command("remove")
def subscriptions_remove(
    subscription_id: int = typer.Argument(..., help="Id of the subscription (see `list`)."),
) -> None:
    """Stop a subscription; exports already made stay."""
    from exports_pipeline.store.subscriptions import remove_subscription

    engine = make_engine(Settings().resolved_database_url)
    with engine.begin() as conn:
        removed = remove_subscription(conn, subscription_id)
    if not removed:
        typer.echo(f"no active subscription {subscription_id}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"subscription {subscription_id} removed")


retention_app = typer.Typer(
    no_args_is_help=True, help="File retention: delete files of old completed exports."
)
app.add_typer(retention_app, name="retention")


@retention_app.command("run")
def retention_run() -> None:
    """One pass now: expire completed exports past EXPORTS_FILE_RETENTION_HOURS (their
    files deleted) and forget idempotency keys older than 24 hours."""
    import datetime as dt

    from exports_pipeline.storage.factory import build_storage
    from exports_pipeline.store.retention import run_retention_pass

    settings = Settings()
    engine = make_engine(settings.resolved_database_url)
    done = run_retention_pass(
        engine, build_storage(settings), retention=dt.timedelta(hours=settings.file_retention_hours)
    )
    for export_id in done.expired:
        typer.echo(f"export {export_id} expired")
    typer.echo(f"retention ({settings.file_retention_hours} h): {done.summary()}")


def main() -> None:
    """The console script: `app`, with a broken `EXPORTS_*` setting told as one clear error."""
    try:
        app()
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        typer.echo(describe_invalid_settings(exc), err=True)
        raise SystemExit(2) from None

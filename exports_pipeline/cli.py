"""The `exports-pipeline` command: store, data, keys, API server, subscriptions, webhooks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import Engine

from exports_pipeline.private_files import private_home
from exports_pipeline.sealing import SecretBox, secret_box
from exports_pipeline.settings import InvalidSettings, Settings, load_settings
from exports_pipeline.store.db import make_engine
from exports_pipeline.store.migrate import upgrade

app = typer.Typer(no_args_is_help=True, help="Event export service.")


class Invocation:
    """What one command runs with: one settings object and one store engine, each built on
    first use (a command that needs neither touches neither); the engine is disposed when
    the command ends, however it ends."""

    @cached_property
    def settings(self) -> Settings:
        return load_settings()

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.resolved_database_url)

    @cached_property
    def secret_box(self) -> SecretBox:
        return secret_box(self.settings.secrets_key, self.settings.secrets_key_file)

    def close(self) -> None:
        if "engine" in self.__dict__:
            self.engine.dispose()

    @classmethod
    def of(cls, ctx: typer.Context) -> Invocation:
        """The invocation the app's callback set up for the command `ctx` runs."""
        invocation = ctx.find_object(cls)
        if invocation is None:
            raise RuntimeError("the command ran without the app's callback (no Invocation)")
        return invocation


@app.callback()
def _invocation(ctx: typer.Context) -> None:
    invocation = Invocation()
    ctx.obj = invocation
    ctx.call_on_close(invocation.close)


def _engine(ctx: typer.Context) -> Engine:
    return Invocation.of(ctx).engine


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Progress]:
    """A rich progress display on stderr (a silent one when `enabled` is false); it is a
    `LoadProgress` for the loader and the demo generator."""
    progress = Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    with progress:
        yield progress


def _date_option(value: str | None, option: str) -> dt.date | None:
    """The date an option gives; a usage error naming the option (exit 2) when it is none."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=f"'{option}'"
        ) from None


db_app = typer.Typer(no_args_is_help=True, help="The events store's schema.")
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the store or migrate it to the newest schema (sealing any plain secret with
    the secrets key); EXPORTS_HOME is made private (0700) on the way."""
    invocation = Invocation.of(ctx)
    private_home(invocation.settings.resolved_home)
    engine = _engine(ctx)
    upgrade(engine, box=invocation.secret_box)
    typer.echo(f"store is up to date: {engine.url.render_as_string(hide_password=True)}")


keys_app = typer.Typer(no_args_is_help=True, help="API keys of spaces (stored hashed).")
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    space: str = typer.Option(..., "--space", help="Id of the space the key belongs to."),
    export_permission: bool = typer.Option(
        True, "--export-permission/--no-export-permission", help="May the key export?"
    ),
) -> None:
    """Create a key; the plain key is printed once, on the last line, and never stored."""
    from exports_pipeline.store.keys import PREFIX_LENGTH, create_key
    from exports_pipeline.store.spaces import get_space

    with _engine(ctx).begin() as conn:
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
    ctx: typer.Context,
    key_or_id: str = typer.Argument(..., help="The key's id (see `keys list`) or the key."),
) -> None:
    """Revoke a key, given by its numeric id or its plain value; requests with it get 401."""
    from exports_pipeline.store.keys import revoke_key

    with _engine(ctx).begin() as conn:
        key = revoke_key(conn, key_or_id)
    if key is None:
        typer.echo("no such key", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"revoked key {key.id} ({key.key_prefix}...) of space {key.space_id}")


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    space: str | None = typer.Option(None, "--space", help="Only this space."),
) -> None:
    """List keys (id, prefix, space, permission, state); never the keys themselves."""
    from exports_pipeline.store.keys import list_keys

    with _engine(ctx).connect() as conn:
        keys = list_keys(conn, space_id=space)
    for key in keys:
        permission = "export" if key.can_export else "no-export"
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        typer.echo(f"{key.id}\t{key.key_prefix}...\t{key.space_id}\t{permission}\t{state}")


@app.command("api")
def api(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="Port to listen on."),
    workers: int = typer.Option(1, min=1, help="Worker processes (they share rate limits)."),
) -> None:
    """Serve the HTTP API with uvicorn (settings from EXPORTS_* environment variables)."""
    import uvicorn

    # A broken setting stops here, with its name, not in every worker.
    _ = Invocation.of(ctx).settings

    uvicorn.run(
        "exports_pipeline.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        # h11, its head capped (431): httptools, uvicorn's default, reads headers of any size.
        http="exports_pipeline.api.protocol:CappedH11Protocol",
    )


@app.command("load")
def load(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="Folder of <table>.parquet|csv|ndjson files."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Load a folder of table files into the store in one transaction (all or nothing)."""
    from exports_pipeline.store.loader import load_directory
    from exports_pipeline.store.table_files import LoadError

    try:
        with progress_bar(progress) as bar:
            summary = load_directory(_engine(ctx), directory, progress=bar)
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
    ctx: typer.Context,
    events: int = typer.Option(20_000, "--events", min=0, help="Number of events."),
    days: int = typer.Option(7, "--days", min=1, help="UTC days of events, ending yesterday."),
    spaces: int = typer.Option(3, "--spaces", min=1, help="Number of spaces."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same data."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Fill the store with realistic, deterministic demo data."""
    from exports_pipeline.demo.generate import seed_demo
    from exports_pipeline.store.table_files import LoadError

    try:
        with progress_bar(progress) as bar:
            summary = seed_demo(
                _engine(ctx), events=events, days=days, spaces=spaces, seed=seed, progress=bar
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
    ctx: typer.Context,
    space: str = typer.Option(..., "--space", help="Id of the space to export."),
    request: str = typer.Option(
        "{}",
        "--request",
        help='The API request body without "date", as JSON, e.g. '
        '\'{"sources": ["email"], "attribution_model": "last_touch", '
        '"attribution_window": 7}\'.',
    ),
    start: str | None = typer.Option(
        None,
        "--start",
        help="First local day to export (YYYY-MM-DD); default: yesterday there.",
    ),
) -> None:
    """Subscribe a space: the schedule queues one export per local day once it has ended."""
    import datetime as dt

    from exports_pipeline.engine.request import (
        InvalidExportRequest,
        params_from_json,
        parse_export_request,
        today_in,
    )
    from exports_pipeline.store.spaces import get_space
    from exports_pipeline.store.subscriptions import add_subscription

    first_day = _date_option(start, "--start")
    try:
        params = params_from_json(request)
    except ValueError as exc:
        typer.echo(f"--request {exc}", err=True)
        raise typer.Exit(code=2) from exc
    if not isinstance(params, dict) or "date" in params:
        typer.echo("--request must be a JSON object without a date", err=True)
        raise typer.Exit(code=2)
    with _engine(ctx).begin() as conn:
        found = get_space(conn, space)
        if found is None:
            typer.echo(f"unknown space {space!r}", err=True)
            raise typer.Exit(code=1)
        start_date = first_day or today_in(found.timezone) - dt.timedelta(days=1)
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
    ctx: typer.Context,
    space: str | None = typer.Option(None, "--space", help="Only this space."),
    show_all: bool = typer.Option(False, "--all", help="Include removed subscriptions."),
) -> None:
    """List subscriptions: id, space, start date, state, request."""
    import json

    from exports_pipeline.store.subscriptions import list_subscriptions

    with _engine(ctx).connect() as conn:
        subscriptions = list_subscriptions(conn, space_id=space, include_inactive=show_all)
    for s in subscriptions:
        state = "active" if s.active else "removed"
        typer.echo(
            f"{s.id}\t{s.space_id}\t{s.start_date.isoformat()}\t{state}\t"
            f"{json.dumps(s.params, sort_keys=True)}"
        )


@subscriptions_app.command("remove")
def subscriptions_remove(
    ctx: typer.Context,
    subscription_id: int = typer.Argument(..., help="Id of the subscription (see `list`)."),
) -> None:
    """Stop a subscription; exports already made stay."""
    from exports_pipeline.store.subscriptions import remove_subscription

    with _engine(ctx).begin() as conn:
        removed = remove_subscription(conn, subscription_id)
    if not removed:
        typer.echo(f"no active subscription {subscription_id}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"subscription {subscription_id} removed")


webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook deliveries (the outbox).")
app.add_typer(webhooks_app, name="webhooks")


@webhooks_app.command("list-deliveries")
def webhooks_list_deliveries(
    ctx: typer.Context,
    space: str | None = typer.Option(None, "--space", help="Only this space."),
    export: int | None = typer.Option(None, "--export", help="Only this export id."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
) -> None:
    """Deliveries with every attempt: status, HTTP status or error, duration."""
    from rich.console import Console
    from rich.table import Table

    from exports_pipeline.store.deliveries import list_deliveries

    with _engine(ctx).connect() as conn:
        deliveries = list_deliveries(conn, space_id=space, export_id=export, limit=limit)
    if not deliveries:
        typer.echo("no webhook deliveries")
        return
    table = Table(show_lines=True)
    for column in ("id", "export", "event", "endpoint", "webhook-id", "status", "attempts"):
        table.add_column(column, overflow="fold")
    for d in deliveries:
        lines = [
            f"{a.attempted_at:%Y-%m-%d %H:%M:%S} "
            + (
                "in flight / no answer recorded"
                if a.status_code is None and a.error is None
                else (a.error or f"HTTP {a.status_code}")
            )
            + (f" ({a.duration_ms} ms)" if a.duration_ms is not None else "")
            for a in d.attempt_log
        ]
        if d.status == "pending":
            lines.append(f"next attempt {d.next_attempt_at:%Y-%m-%d %H:%M:%S}")
        elif d.status == "delivered" and d.delivered_at:
            lines.append(f"delivered {d.delivered_at:%Y-%m-%d %H:%M:%S}")
        elif d.last_error:
            lines.append(d.last_error)
        table.add_row(
            str(d.id),
            str(d.export_id),
            d.event_type,
            f"{d.endpoint_id} {d.url} ({d.space_id})",
            d.message_id,
            d.status,
            "\n".join(lines) or "none yet",
        )
    Console(width=200).print(table)


@webhooks_app.command("send")
def webhooks_send(ctx: typer.Context) -> None:
    """One pass of the sender now: send the due deliveries (the sensor does it every few s)."""
    from exports_pipeline.webhooks.sender import SenderConfig, send_due_deliveries

    invocation = Invocation.of(ctx)
    report = send_due_deliveries(
        invocation.engine, invocation.secret_box, SenderConfig.from_settings(invocation.settings)
    )
    typer.echo(report.summary())


retention_app = typer.Typer(
    no_args_is_help=True, help="File retention: delete files of old completed exports."
)
app.add_typer(retention_app, name="retention")


@retention_app.command("run")
def retention_run(ctx: typer.Context) -> None:
    """One pass now: expire completed exports past EXPORTS_FILE_RETENTION_HOURS (their
    files deleted) and forget idempotency keys older than 24 hours."""
    import datetime as dt

    from exports_pipeline.storage.factory import build_storage
    from exports_pipeline.store.retention import run_retention_pass

    invocation = Invocation.of(ctx)
    settings = invocation.settings
    done = run_retention_pass(
        invocation.engine,
        build_storage(settings),
        retention=dt.timedelta(hours=settings.file_retention_hours),
    )
    for export_id in done.expired:
        typer.echo(f"export {export_id} expired")
    typer.echo(f"retention ({settings.file_retention_hours} h): {done.summary()}")


def main() -> None:
    """The console script: `app`, with a broken `EXPORTS_*` setting told as one clear error."""
    try:
        app()
    except InvalidSettings as exc:
        typer.echo(str(exc), err=True)
        raise SystemExit(2) from None

"""Creating and migrating the store with Alembic (`exports-pipeline db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from exports_pipeline.sealing import SecretBox

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine, revision: str = "head", *, box: SecretBox | None = None) -> None:
    """Bring the store at `engine` to `revision` (creating it if empty). `box` seals the
    secrets a migration finds in plain (migration 0008); a store that has none needs none.

    On SQLite, a migration that rewrote secrets is followed by a truncating WAL checkpoint:
    with `secure_delete` on (`make_engine`), no page of the file or its WAL keeps an old
    plain secret.
    """
    config = alembic_config(engine)
    config.attributes["secret_box"] = box
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    if config.attributes.get("rewrote_secrets") and engine.dialect.name == "sqlite":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def downgrade(engine: Engine, revision: str, *, box: SecretBox | None = None) -> None:
    """Take the store at `engine` back to `revision`; `box` opens what migrations sealed."""
    config = alembic_config(engine)
    config.attributes["secret_box"] = box
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def secret_box_of_migration(what: str) -> SecretBox:
    """The box the running migration, which rewrites secrets, was given (noted, for the
    VACUUM after); a clear error when it was given none. `what` says what it does."""
    from alembic import op

    config = op.get_context().config
    box = config.attributes.get("secret_box") if config is not None else None
    if config is None or box is None:
        raise RuntimeError(
            f"this migration {what} and needs the store's secrets key "
            "(EXPORTS_SECRETS_KEY, else EXPORTS_HOME/secrets-key): run `exports-pipeline db "
            "upgrade`, which passes it"
        )
    config.attributes["rewrote_secrets"] = True
    return box

"""Building the SQLAlchemy engine of the store from a URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from exports_pipeline.private_files import FILE_MODE, private_file, tighten


def make_engine(url: str, *, pooled: bool = True) -> Engine:
    """An engine for `url`; a SQLite file gets its folder (made 0700), WAL and a busy
    timeout, and is readable by its owner alone (0600; its -wal and -shm files too).

    `pooled=False` (SQLite only) closes each connection when it is returned: a process that
    also reads the file through ADBC (its own copy of SQLite) must not keep a connection
    open while ADBC closes, or ADBC deletes the WAL under it (POSIX locks are per process).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            _private_sqlite_files(Path(parsed.database).expanduser())
        engine = create_engine(
            url, connect_args={"timeout": 30}, **({} if pooled else {"poolclass": NullPool})
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            # What is deleted or overwritten (a secret sealed in its place) is zeroed on
            # disk, whatever the SQLite build's default.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def _private_sqlite_files(database: Path) -> None:
    """The database file created 0600 before SQLite opens it (SQLite gives its -wal and
    -shm files the database's mode); files an older version left looser are tightened."""
    private_file(database)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(database.with_name(database.name + suffix), FILE_MODE)

"""Building the SQLAlchemy engine of the store from a URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, NullPool


def make_engine(url: str, *, pooled: bool = True) -> Engine:
    """An engine for `url`; a SQLite file gets its folder, WAL and a busy timeout.

    `pooled=False` (SQLite only) closes each connection when it is returned: a process that
    also reads the file through ADBC (its own copy of SQLite) must not keep a connection
    open while ADBC closes, or ADBC deletes the WAL under it (POSIX locks are per process).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30}, **({} if pooled else {"poolclass": NullPool})
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)

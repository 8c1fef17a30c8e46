"""Per-space, per-minute request counters shared by every API process.

Fixed one-minute windows (`window_start` = minutes since the Unix epoch). A hit is one
atomic `INSERT ... ON CONFLICT DO UPDATE SET count = count + 1 RETURNING count`, so two
processes behind a load balancer can never both see the same count (SQLite >= 3.35 and
PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from exports_pipeline.store.schema import rate_limit_counters

WINDOW_SECONDS = 60


def window_of(epoch_seconds: float) -> int:
    """The window an instant falls in (minutes since the epoch)."""
    return int(epoch_seconds // WINDOW_SECONDS)


def seconds_to_next_window(epoch_seconds: float) -> int:
    """Whole seconds until the next window opens, at least 1 (a `Retry-After` value)."""
    remaining = (window_of(epoch_seconds) + 1) * WINDOW_SECONDS - epoch_seconds
    return max(1, int(-(-remaining // 1)))


def hit(conn: Connection, *, space_id: str, bucket: str, window_start: int) -> int:
    """Count one request of `space_id` in `bucket` and window; return the new count."""
    dialect = conn.dialect.name
    insert: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        insert = postgresql.insert(rate_limit_counters)
    elif dialect == "sqlite":
        insert = sqlite.insert(rate_limit_counters)
    else:
        raise NotImplementedError(f"rate limit counters need SQLite or PostgreSQL, not {dialect}")
    insert = insert.values(space_id=space_id, bucket=bucket, window_start=window_start, count=1)
    stmt = insert.on_conflict_do_update(
        index_elements=[
            rate_limit_counters.c.space_id,
            rate_limit_counters.c.bucket,
            rate_limit_counters.c.window_start,
        ],
        set_={"count": rate_limit_counters.c.count + 1},
    ).returning(rate_limit_counters.c.count)
    count = int(conn.execute(stmt).scalar_one())
    if count == 1:
        # Once per space, bucket and minute: drop the finished windows of this pair.
        conn.execute(
            delete(rate_limit_counters).where(
                rate_limit_counters.c.space_id == space_id,
                rate_limit_counters.c.bucket == bucket,
                rate_limit_counters.c.window_start < window_start,
            )
        )
    return count


def current_count(conn: Connection, *, space_id: str, bucket: str, window_start: int) -> int:
    """Requests counted so far in the window, without counting one."""
    value = conn.execute(
        select(rate_limit_counters.c.count).where(
            rate_limit_counters.c.space_id == space_id,
            rate_limit_counters.c.bucket == bucket,
            rate_limit_counters.c.window_start == window_start,
        )
    ).scalar()
    return int(value or 0)

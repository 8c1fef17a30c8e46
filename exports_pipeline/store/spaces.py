"""Reading spaces (customer accounts with their own timezone)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from exports_pipeline.store.schema import spaces


@dataclass(frozen=True)
class Space:
    id: str
    name: str
    timezone: str
    subscription_active: bool


def get_space(conn: Connection, space_id: str) -> Space | None:
    """The space with this id, or None."""
    row = conn.execute(select(spaces).where(spaces.c.id == space_id)).first()
    return Space(**row._mapping) if row else None

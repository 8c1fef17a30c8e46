"""Idempotency keys of creates (SPEC 6.1): which export a (space, key) made, for 24 hours.

A key is written in the transaction that creates its export, and (space_id, key) is the
primary key: of concurrent creates with one key, on any number of API processes, exactly
one commits; the others fail on the key (`KeyTaken`) and answer with the winner's export.
On PostgreSQL a second insert of an uncommitted key waits for the first transaction to end,
so a loser only ever sees a committed winner; on SQLite writers are serialized anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.exc import IntegrityError

from exports_pipeline.store.exports import utcnow
from exports_pipeline.store.schema import idempotency_keys

KEY_LIFETIME = dt.timedelta(hours=24)


class KeyTaken(Exception):
    """Another create stored this (space, key) first."""


@dataclass(frozen=True)
class StoredKey:
    space_id: str
    key: str
    request_hash: str
    export_id: int
    created_at: dt.datetime


def request_hash(date: dt.date, params: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a validated request: key order, whitespace and
    spelled-out defaults of the body do not matter."""
    canonical = json.dumps(
        {**params, "date": date.isoformat()}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_key(
    conn: Connection, *, space_id: str, key: str, now: dt.datetime | None = None
) -> StoredKey | None:
    """The live key of the space (stored less than 24 hours ago), or None."""
    cutoff = (now or utcnow()) - KEY_LIFETIME
    row = conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.space_id == space_id,
            idempotency_keys.c.key == key,
            idempotency_keys.c.created_at > cutoff,
        )
    ).first()
    return StoredKey(**row._mapping) if row else None


def store_key(
    conn: Connection,
    *,
    space_id: str,
    key: str,
    request_hash: str,
    export_id: int,
    now: dt.datetime | None = None,
) -> None:
    """Remember the key in the caller's transaction (the one creating the export); an
    expired row of the same key is replaced. `KeyTaken` when a live one exists or another
    transaction stored it first: the transaction is then unusable; the caller rolls it back
    and replays the stored one."""
    now = now or utcnow()
    conn.execute(
        delete(idempotency_keys).where(
            idempotency_keys.c.space_id == space_id,
            idempotency_keys.c.key == key,
            idempotency_keys.c.created_at <= now - KEY_LIFETIME,
        )
    )
    try:
        conn.execute(
            insert(idempotency_keys).values(
                space_id=space_id,
                key=key,
                request_hash=request_hash,
                export_id=export_id,
                created_at=now,
            )
        )
    except IntegrityError as exc:
        raise KeyTaken(f"idempotency key of space {space_id} already stored") from exc


def delete_expired_keys(conn: Connection, *, now: dt.datetime | None = None) -> int:
    """Forget keys stored 24 hours ago or more; how many were deleted."""
    cutoff = (now or utcnow()) - KEY_LIFETIME
    result = conn.execute(delete(idempotency_keys).where(idempotency_keys.c.created_at <= cutoff))
    return int(result.rowcount or 0)

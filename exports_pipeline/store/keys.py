"""API keys of a space: stored as a sha256 hash plus a short prefix, shown in plain once.

A key looks like `exk_<43 url-safe characters>` (256 bits of randomness). Only its
sha256 hex digest and its first characters (to tell keys apart in listings) are stored;
the plain key exists only in the return value of `create_key`. Never log a key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, RowMapping, insert, select, update

from exports_pipeline.clock import utcnow
from exports_pipeline.store.schema import api_keys

KEY_SCHEME = "exk_"
PREFIX_LENGTH = len(KEY_SCHEME) + 8


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    id: int
    space_id: str
    key_prefix: str
    can_export: bool
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


def hash_key(plain: str) -> str:
    """The sha256 hex digest a key is stored and looked up by."""
    return hashlib.sha256(plain.encode("utf-8", "surrogatepass")).hexdigest()


def _record(m: RowMapping) -> ApiKey:
    return ApiKey(
        id=int(m["id"]),
        space_id=m["space_id"],
        key_prefix=m["key_prefix"],
        can_export=bool(m["can_export"]),
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


def create_key(
    conn: Connection, *, space_id: str, can_export: bool = True, now: dt.datetime | None = None
) -> str:
    """Store a new key of `space_id` and return it in plain (the only time it is visible)."""
    plain = KEY_SCHEME + secrets.token_urlsafe(32)
    conn.execute(
        insert(api_keys).values(
            space_id=space_id,
            key_hash=hash_key(plain),
            key_prefix=plain[:PREFIX_LENGTH],
            can_export=can_export,
            created_at=now or utcnow(),
            revoked_at=None,
        )
    )
    return plain


def find_key(conn: Connection, plain: str) -> ApiKey | None:
    """The stored key matching `plain` (revoked or not), or None.

    Looked up by hash, then the hashes compared in constant time, so neither the
    lookup nor the comparison depends on how much of a guessed key is right.
    """
    digest = hash_key(plain)
    row = conn.execute(
        select(
            api_keys.c.id,
            api_keys.c.space_id,
            api_keys.c.key_hash,
            api_keys.c.key_prefix,
            api_keys.c.can_export,
            api_keys.c.created_at,
            api_keys.c.revoked_at,
        ).where(api_keys.c.key_hash == digest)
    ).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return _record(row._mapping)


def get_key(conn: Connection, key_id: int) -> ApiKey | None:
    row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
    return _record(row._mapping) if row else None


def list_keys(conn: Connection, *, space_id: str | None = None) -> list[ApiKey]:
    """Keys, oldest first; only those of `space_id` when given."""
    query = select(api_keys).order_by(api_keys.c.id)
    if space_id is not None:
        query = query.where(api_keys.c.space_id == space_id)
    return [_record(r) for r in conn.execute(query).mappings()]


def revoke_key(
    conn: Connection, key_or_id: str | int, *, now: dt.datetime | None = None
) -> ApiKey | None:
    """Revoke a key given by its id (an int or a string of digits) or its plain value.

    Returns the key (revoked, possibly earlier) or None when no key matches. Revoking
    twice keeps the first revocation time.
    """
    if isinstance(key_or_id, int) or key_or_id.isdigit():
        key = get_key(conn, int(key_or_id))
    else:
        key = find_key(conn, key_or_id)
    if key is None:
        return None
    conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key.id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    return get_key(conn, key.id)

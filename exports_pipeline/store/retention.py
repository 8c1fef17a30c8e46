"""File retention (SPEC 6.4): one pass expires completed exports past the retention period
and deletes their files, and forgets idempotency keys older than 24 hours.

Order, so that the status never lies: the export is marked `expired` first (from then on
no status call hands out a URL and the API's download route refuses it), then its file is
deleted, then its storage key is forgotten. A pass interrupted between the last two steps
leaves an expired export with its key; the next pass deletes that file again. Of two passes at
once, one marks an export expired (guarded update); both may delete its file, which is
harmless (deleting an absent file is no error).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy import Engine

from exports_pipeline.store.exports import (
    completed_before,
    expired_with_file,
    forget_file,
    mark_expired,
    utcnow,
)
from exports_pipeline.store.idempotency import delete_expired_keys

BATCH = 500


class FileDeleter(Protocol):
    """What a pass needs of the export storage (`storage.base.ExportStorage` is one)."""

    def delete_keys(self, keys: Iterable[str]) -> None: ...


@dataclass
class RetentionPass:
    """What one pass did: exports it expired, files it deleted, keys it forgot."""

    expired: list[int] = field(default_factory=list)
    files_deleted: list[int] = field(default_factory=list)
    keys_forgotten: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.expired)} exports expired, {len(self.files_deleted)} files deleted, "
            f"{self.keys_forgotten} idempotency keys forgotten"
        )


def run_retention_pass(
    engine: Engine,
    files: FileDeleter,
    *,
    retention: dt.timedelta,
    now: dt.datetime | None = None,
) -> RetentionPass:
    """One pass: expire every completed export stored `retention` ago or more, delete its
    file, forget old idempotency keys. Idempotent; safe to run concurrently."""
    now = now or utcnow()
    done = RetentionPass()
    while True:
        with engine.connect() as conn:
            due = completed_before(conn, now - retention, limit=BATCH)
        for record in due:
            if record.storage_key is None:
                continue
            with engine.begin() as conn:
                if mark_expired(conn, record.id, storage_key=record.storage_key):
                    done.expired.append(record.id)
        if len(due) < BATCH:
            break
    seen: set[int] = set()
    while True:
        with engine.connect() as conn:
            unfiled = [r for r in expired_with_file(conn, limit=BATCH) if r.id not in seen]
        for record in unfiled:
            seen.add(record.id)
            assert record.storage_key is not None
            # Every object of the export: its one file, or its parts and then its manifest.
            files.delete_keys(record.file_keys)
            with engine.begin() as conn:
                if forget_file(conn, record.id, storage_key=record.storage_key):
                    done.files_deleted.append(record.id)
        if not unfiled:
            break
    with engine.begin() as conn:
        done.keys_forgotten = delete_expired_keys(conn, now=now)
    return done

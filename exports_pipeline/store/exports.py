"""The `exports` records: the one place the API and the pipeline meet.

Status moves `queued` -> `processing` -> `completed` | `failed`; `queued` | `processing`
-> `cancelled` (SPEC 6.3) and `completed` -> `expired` (SPEC 6.4). Every transition is a
guarded UPDATE so that a late writer can never make the status lie (a run that was
already marked failed is not turned into completed, a completed export never fails, a
cancelled export never completes). A transition to a state webhooks announce writes its
deliveries in the same transaction (`store.webhooks.enqueue_deliveries`, the outbox).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, Row, insert, select, update

from exports_pipeline.clock import utcnow
from exports_pipeline.formats import DEFAULT_FORMAT, ExportFormat
from exports_pipeline.store.schema import exports
from exports_pipeline.store.status import Status
from exports_pipeline.store.webhooks import (
    EXPORT_CANCELLED,
    EXPORT_COMPLETED,
    EXPORT_EXPIRED,
    EXPORT_FAILED,
    enqueue_deliveries,
)

QUEUED: Status = "queued"
PROCESSING: Status = "processing"
COMPLETED: Status = "completed"
FAILED: Status = "failed"
CANCELLED: Status = "cancelled"
EXPIRED: Status = "expired"
STATUSES: tuple[Status, ...] = (QUEUED, PROCESSING, COMPLETED, FAILED, CANCELLED, EXPIRED)
SETTLED: tuple[Status, ...] = (COMPLETED, FAILED, CANCELLED, EXPIRED)

# Ids are the `exports.id` BigInteger: no export has a larger one.
MAX_EXPORT_ID = 2**63 - 1

QUEUED_MESSAGE = "Your export is queued and will start shortly."
PROCESSING_MESSAGE = "Your export is being generated."


class RequestParams(Protocol):
    """What the store keeps of a request: its date and its JSON-ready parameters.

    `engine.request.ExportRequest` is one; the store itself never parses requests.
    """

    @property
    def date(self) -> dt.date: ...

    def to_params(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class StoredRequest:
    """A request as stored: a date and parameters validated when they were written."""

    date: dt.date
    params: dict[str, Any]

    def to_params(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True)
class StoredPart:
    """One part of an export in parts (SPEC 6.6) as the `exports.files` column keeps it:
    one JSON object per part, in part order, with these keys in this order."""

    part: int
    key: str
    file_name: str
    row_count: int
    file_size_bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> StoredPart:
        return cls(
            part=int(entry["part"]),
            key=str(entry["key"]),
            file_name=str(entry["file_name"]),
            row_count=int(entry["row_count"]),
            file_size_bytes=int(entry["file_size_bytes"]),
            sha256=str(entry["sha256"]),
        )


@dataclass(frozen=True)
class ExportRecord:
    """A row of the `exports` table; `files` lists the parts of an export in parts (None
    for an export of one file)."""

    id: int
    space_id: str
    date: dt.date
    params: dict[str, Any]
    status: Status
    trigger: str
    subscription_id: int | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    run_id: str | None
    storage_key: str | None
    row_count: int | None
    file_size_bytes: int | None
    sha256: str | None
    message: str | None
    format: ExportFormat | None = None
    files: list[StoredPart] | None = None
    row_count_expected: int | None = None
    rows_written: int | None = None

    @property
    def file_format(self) -> ExportFormat:
        """The format of the export's files (NDJSON for exports from before formats)."""
        return self.format or DEFAULT_FORMAT

    @property
    def file_keys(self) -> list[str]:
        """Every stored object of the export: its file, or its parts then its manifest."""
        parts = [part.key for part in self.files or ()]
        return [*parts, *([self.storage_key] if self.storage_key else [])]

    def part_key(self, part: int) -> str | None:
        """The storage key of part `part` (from 1), None when the export has no such part."""
        for entry in self.files or ():
            if entry.part == part:
                return entry.key
        return None

    @property
    def stored_request(self) -> StoredRequest:
        """The request this export answers, as stored (`engine.request.request_from`
        turns it back into a validated `ExportRequest`)."""
        return StoredRequest(self.date, self.params)


def _record(row: Row[Any]) -> ExportRecord:
    columns = dict(row._mapping)
    if columns["format"] is not None:
        columns["format"] = ExportFormat(columns["format"])
    if columns["files"] is not None:
        columns["files"] = [StoredPart.from_json(entry) for entry in columns["files"]]
    return ExportRecord(**columns)


def create_export(
    conn: Connection,
    *,
    space_id: str,
    request: RequestParams,
    trigger: str,
    subscription_id: int | None = None,
    status: Status = QUEUED,
    run_id: str | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Insert an export record and return its id (the caller owns the transaction)."""
    now = now or utcnow()
    result = conn.execute(
        insert(exports)
        .values(
            space_id=space_id,
            date=request.date,
            params=request.to_params(),
            status=status,
            trigger=trigger,
            subscription_id=subscription_id,
            created_at=now,
            started_at=now if status == PROCESSING else None,
            run_id=run_id,
            message=QUEUED_MESSAGE if status == QUEUED else PROCESSING_MESSAGE,
        )
        .returning(exports.c.id)
    )
    return int(result.scalar_one())


def get_export(
    conn: Connection, export_id: int, *, space_id: str | None = None
) -> ExportRecord | None:
    """The export with this id, or None; with `space_id`, only if it belongs to that space."""
    query = select(exports).where(exports.c.id == export_id)
    if space_id is not None:
        query = query.where(exports.c.space_id == space_id)
    row = conn.execute(query).first()
    return _record(row) if row else None


def exports_with_status(
    conn: Connection, status: Status, *, after_id: int = 0, limit: int = 100
) -> list[ExportRecord]:
    """Exports in `status` with id > `after_id`, oldest first."""
    rows = conn.execute(
        select(exports)
        .where(exports.c.status == status, exports.c.id > after_id)
        .order_by(exports.c.id)
        .limit(limit)
    )
    return [_record(r) for r in rows]


class ExportNotStartable(Exception):
    """The export a run was to serve is no longer queued or processing (or is gone)."""

    def __init__(self, export_id: int, status: str) -> None:
        self.export_id, self.status = export_id, status
        super().__init__(f"export {export_id} is {status}; not starting it")


def start_export(
    conn: Connection,
    export_id: int | None,
    *,
    run_id: str,
    space_id: str,
    request: RequestParams,
    trigger: str,
) -> int:
    """The id of the export `run_id` serves, now processing: the queued export `export_id`
    claimed, or without it a new export created processing.

    Raises `ExportNotStartable` when `export_id` is no longer queued or processing.
    """
    if export_id is None:
        return create_export(
            conn,
            space_id=space_id,
            request=request,
            trigger=trigger,
            status=PROCESSING,
            run_id=run_id,
        )
    if not mark_processing(conn, export_id, run_id=run_id):
        current = get_export(conn, export_id)
        raise ExportNotStartable(export_id, current.status if current else "missing")
    return export_id


def mark_processing(
    conn: Connection, export_id: int, *, run_id: str, now: dt.datetime | None = None
) -> bool:
    """queued -> processing; returns False if the export was not queued."""
    result = conn.execute(
        update(exports)
        .where(exports.c.id == export_id, exports.c.status.in_((QUEUED, PROCESSING)))
        .values(
            status=PROCESSING,
            run_id=run_id,
            started_at=now or utcnow(),
            message=PROCESSING_MESSAGE,
        )
    )
    return result.rowcount == 1


def mark_completed(
    conn: Connection,
    export_id: int,
    *,
    storage_key: str,
    row_count: int,
    file_size_bytes: int,
    sha256: str,
    format: ExportFormat = DEFAULT_FORMAT,
    files: list[StoredPart] | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """processing -> completed, only once the file is fully stored; False if not processing.

    An export in parts: `files` lists the parts, `storage_key` and `sha256` are the
    manifest's, `row_count` and `file_size_bytes` the parts' totals."""
    result = conn.execute(
        update(exports)
        .where(exports.c.id == export_id, exports.c.status == PROCESSING)
        .values(
            status=COMPLETED,
            completed_at=now or utcnow(),
            storage_key=storage_key,
            row_count=row_count,
            file_size_bytes=file_size_bytes,
            sha256=sha256,
            format=format,
            files=None if files is None else [part.to_json() for part in files],
            message=None,
        )
    )
    if result.rowcount != 1:
        return False
    enqueue_deliveries(conn, export_id, EXPORT_COMPLETED)
    return True


def mark_failed(
    conn: Connection, export_id: int, *, message: str, now: dt.datetime | None = None
) -> bool:
    """queued|processing -> failed with a user-facing message; a completed export stays."""
    result = conn.execute(
        update(exports)
        .where(exports.c.id == export_id, exports.c.status.in_((QUEUED, PROCESSING)))
        .values(status=FAILED, completed_at=now or utcnow(), message=message)
    )
    if result.rowcount != 1:
        return False
    enqueue_deliveries(conn, export_id, EXPORT_FAILED)
    return True


CANCELLED_MESSAGE = "The export was cancelled; nothing was or will be published for it."
EXPIRED_MESSAGE = "The file was deleted after the retention period; create the export again."


def mark_cancelled(
    conn: Connection, export_id: int, *, space_id: str | None = None, now: dt.datetime | None = None
) -> bool:
    """queued|processing -> cancelled; False if the export was in any other state (or, with
    `space_id`, is not of that space). Its run, if any, is terminated by the pipeline."""
    query = update(exports).where(
        exports.c.id == export_id, exports.c.status.in_((QUEUED, PROCESSING))
    )
    if space_id is not None:
        query = query.where(exports.c.space_id == space_id)
    result = conn.execute(
        query.values(status=CANCELLED, completed_at=now or utcnow(), message=CANCELLED_MESSAGE)
    )
    if result.rowcount != 1:
        return False
    enqueue_deliveries(conn, export_id, EXPORT_CANCELLED)
    return True


def mark_expired(conn: Connection, export_id: int, *, storage_key: str) -> bool:
    """completed -> expired once its file is due for deletion; False if not completed (or
    another file is recorded). The key stays until the file is gone (`forget_file`), so an
    interrupted deletion is retried; `completed_at` keeps when the file was made."""
    result = conn.execute(
        update(exports)
        .where(
            exports.c.id == export_id,
            exports.c.status == COMPLETED,
            exports.c.storage_key == storage_key,
        )
        .values(status=EXPIRED, message=EXPIRED_MESSAGE)
    )
    if result.rowcount != 1:
        return False
    enqueue_deliveries(conn, export_id, EXPORT_EXPIRED)
    return True


def forget_file(conn: Connection, export_id: int, *, storage_key: str) -> bool:
    """An expired export's file is deleted: forget its key (nothing is left to download)."""
    result = conn.execute(
        update(exports)
        .where(
            exports.c.id == export_id,
            exports.c.status == EXPIRED,
            exports.c.storage_key == storage_key,
        )
        .values(storage_key=None)
    )
    return result.rowcount == 1


def completed_before(
    conn: Connection, cutoff: dt.datetime, *, limit: int = 500
) -> list[ExportRecord]:
    """Completed exports whose file was stored before `cutoff`, oldest first."""
    rows = conn.execute(
        select(exports)
        .where(exports.c.status == COMPLETED, exports.c.completed_at < cutoff)
        .order_by(exports.c.id)
        .limit(limit)
    )
    return [_record(r) for r in rows]


def expired_with_file(conn: Connection, *, limit: int = 500) -> list[ExportRecord]:
    """Expired exports whose file deletion has not been recorded (an interrupted pass)."""
    rows = conn.execute(
        select(exports)
        .where(exports.c.status == EXPIRED, exports.c.storage_key.is_not(None))
        .order_by(exports.c.id)
        .limit(limit)
    )
    return [_record(r) for r in rows]


def list_exports(
    conn: Connection,
    space_id: str,
    *,
    limit: int,
    before_id: int | None = None,
    status: Status | None = None,
    date: dt.date | None = None,
) -> tuple[list[ExportRecord], bool]:
    """The space's exports newest first (id descending), ids below `before_id`, filtered by
    status and date; at most `limit` of them and whether more follow."""
    query = select(exports).where(exports.c.space_id == space_id)
    if before_id is not None:
        query = query.where(exports.c.id < before_id)
    if status is not None:
        query = query.where(exports.c.status == status)
    if date is not None:
        query = query.where(exports.c.date == date)
    rows = conn.execute(query.order_by(exports.c.id.desc()).limit(limit + 1)).all()
    return [_record(r) for r in rows[:limit]], len(rows) > limit


def statuses_of(conn: Connection, export_ids: list[int]) -> dict[int, Status]:
    """The status of each of these exports that exists."""
    if not export_ids:
        return {}
    rows = conn.execute(select(exports.c.id, exports.c.status).where(exports.c.id.in_(export_ids)))
    return {int(r.id): r.status for r in rows}


def record_progress(
    conn: Connection,
    export_id: int,
    *,
    rows_written: int,
    row_count_expected: int | None = None,
) -> bool:
    """A processing export's progress: rows written so far and, once known, the rows it
    will have (`row_count_expected` left as stored when None); False if not processing."""
    values: dict[str, int] = {"rows_written": rows_written}
    if row_count_expected is not None:
        values["row_count_expected"] = row_count_expected
    result = conn.execute(
        update(exports)
        .where(exports.c.id == export_id, exports.c.status == PROCESSING)
        .values(**values)
    )
    return result.rowcount == 1

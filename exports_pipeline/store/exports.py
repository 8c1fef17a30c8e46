"""The `exports` records: the one place the API and the pipeline meet.

Status moves `queued` -> `processing` -> `completed` | `failed`. Every transition is a
guarded UPDATE so that a late writer can never make the status lie (a run that was
already marked failed is not turned into completed, a completed export never fails).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, insert, select, update

from exports_pipeline.clock import utcnow
from exports_pipeline.store.schema import exports

QUEUED = "queued"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"

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
class ExportRecord:
    id: int
    space_id: str
    date: dt.date
    params: dict[str, Any]
    status: str
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
    row_count_expected: int | None = None
    rows_written: int | None = None

    @property
    def stored_request(self) -> StoredRequest:
        """The request this export answers, as stored (`engine.request.request_from`
        turns it back into a validated `ExportRequest`)."""
        return StoredRequest(self.date, self.params)


def _record(row: Any) -> ExportRecord:
    return ExportRecord(**row._mapping)


def create_export(
    conn: Connection,
    *,
    space_id: str,
    request: RequestParams,
    trigger: str,
    subscription_id: int | None = None,
    status: str = QUEUED,
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
    conn: Connection, status: str, *, after_id: int = 0, limit: int = 100
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
    now: dt.datetime | None = None,
) -> bool:
    """processing -> completed, only once the file is fully stored; False if not processing."""
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
            message=None,
        )
    )
    return result.rowcount == 1


def mark_failed(
    conn: Connection, export_id: int, *, message: str, now: dt.datetime | None = None
) -> bool:
    """queued|processing -> failed with a user-facing message; a completed export stays."""
    result = conn.execute(
        update(exports)
        .where(exports.c.id == export_id, exports.c.status.in_((QUEUED, PROCESSING)))
        .values(status=FAILED, completed_at=now or utcnow(), message=message)
    )
    return result.rowcount == 1


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

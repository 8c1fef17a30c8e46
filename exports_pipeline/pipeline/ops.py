"""The ops of `event_export_job`: thin wrappers wiring config and resources to the engine.

The export logic lives in `exports_pipeline.engine` (plain functions over Polars frames);
an op validates, calls one engine function, and reports what happened as metadata and
log lines. From `validate_request` on, any error marks the export failed with a
user-facing message before the op fails (the reconciliation sensor covers what an op
cannot report itself: a killed worker, a cancelled run).
"""

import datetime as dt
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from dagster import (
    DagsterExecutionInterruptedError,
    Failure,
    MetadataValue,
    OpExecutionContext,
    Output,
    TableColumn,
    TableSchema,
    op,
)

from exports_pipeline.engine import export, extract, hierarchy
from exports_pipeline.engine.extract import Extracted
from exports_pipeline.engine.plan import ExportRows, ExportTooLarge, check_row_limit, plan_export
from exports_pipeline.engine.request import (
    ExportRequest,
    InvalidExportRequest,
    check_export_date,
    parse_export_request,
)
from exports_pipeline.pipeline.config import SPACE_TAG, ExportRequestConfig
from exports_pipeline.pipeline.failures import failure_message, invalid_request_message
from exports_pipeline.pipeline.resources import ExportStorageResource, StoreResource
from exports_pipeline.pipeline.retries import will_retry
from exports_pipeline.pipeline.workers import current_worker_tags
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.publish import PublishedExport, write_and_publish
from exports_pipeline.store.exports import (
    PROCESSING,
    QUEUED,
    ExportNotStartable,
    get_export,
    mark_cancelled,
    mark_completed,
    mark_failed,
    record_progress,
    start_export,
)
from exports_pipeline.store.spaces import Space, get_space

BACKFILL_TAG = "dagster/backfill"


@dataclass(frozen=True)
class ExportTask:
    """What every later op needs: which export, for which space, and the request."""

    export_id: int
    space_id: str
    timezone: str
    request: ExportRequest


def _fail(store: StoreResource, export_id: int, user_message: str) -> Failure:
    with store.engine.begin() as conn:
        mark_failed(conn, export_id, message=user_message)
    return Failure(description=user_message, metadata={"export_id": export_id})


class _Stage:
    """Times an engine call and turns its errors into a failed export."""

    def __init__(self, context: OpExecutionContext, store: StoreResource, task: ExportTask):
        self.context, self.store, self.task = context, store, task
        self.seconds = 0.0

    def __enter__(self) -> "_Stage":
        self._start = time.monotonic()
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.seconds = time.monotonic() - self._start
        if exc is None:
            return
        export_id = self.task.export_id
        if not isinstance(exc, DagsterExecutionInterruptedError) and will_retry(self.context, exc):
            # Dagster runs the op again (retry policy): the export stays processing.
            self.context.log.warning(
                f"export {export_id}: attempt {self.context.retry_number + 1} failed with a "
                f"transient error, retrying: {exc!r}"
            )
            return
        message = failure_message(exc)
        self.context.log.error(f"export {export_id} failed: {exc!r}")
        with self.store.engine.begin() as conn:
            if isinstance(exc, DagsterExecutionInterruptedError):
                # The run was terminated (a cancel, the Dagster UI): cancelled, not failed.
                mark_cancelled(conn, export_id)
            else:
                mark_failed(conn, export_id, message=message)
        if not isinstance(exc, DagsterExecutionInterruptedError | Failure):
            # Settled: no retry policy may run the op again for an export already failed.
            raise Failure(
                description=message,
                metadata={"export_id": export_id, "error": repr(exc)},
                allow_retries=False,
            ) from exc


def _columns_metadata(schema: pl.Schema) -> MetadataValue:
    """The file's columns and their types, for the run's metadata: never a row's value
    (Dagster's event log is never pruned: it outlives the file, SPEC 6.4)."""
    columns = [TableColumn(name=name, type=str(dtype)) for name, dtype in schema.items()]
    return MetadataValue.table_schema(TableSchema(columns=columns))


class _Unservable(Exception):
    """Why a run cannot serve its request (a user-facing reason)."""


def _space_and_request(
    store: StoreResource, space_id: str, body: dict[str, Any], date: dt.date
) -> tuple[Space, ExportRequest]:
    """The space and the request (parsed here, once) of a run for the partition `date`."""
    with store.engine.connect() as conn:
        space = get_space(conn, space_id)
    if space is None:
        raise _Unservable(f"space {space_id!r} does not exist")
    try:
        request = parse_export_request(body)
    except InvalidExportRequest as exc:
        raise _Unservable(str(exc)) from None
    if request.date != date:
        raise _Unservable(
            f"the run's partition {date.isoformat()} is not the export date "
            f"{request.date.isoformat()}"
        )
    try:
        check_export_date(date, timezone=space.timezone, earliest=store.earliest)
    except InvalidExportRequest as exc:
        raise _Unservable(str(exc)) from None
    return space, request


@dataclass(frozen=True)
class _Launch:
    """What a run was asked to serve: an existing export (`export_id`), or a UI/CLI launch
    making its own export; the space, the trigger and the API-shaped body, not yet parsed."""

    export_id: int | None
    space_id: str
    trigger: str
    body: dict[str, Any]


def _launch_of(
    config: ExportRequestConfig, store: StoreResource, tags: Mapping[str, str], date: dt.date
) -> _Launch:
    """The run's `_Launch`: the config's export, else the config or tags of a UI/CLI launch.

    `Failure` when the launch names no space, or its export is missing or already settled.
    """
    if config.export_id is None:
        trigger = "backfill" if BACKFILL_TAG in tags else "ui"
        try:
            space_id, body = config.launch_request(tags, date)
        except ValueError as exc:
            raise Failure(description=str(exc)) from None
        return _Launch(None, space_id, trigger, body)
    with store.engine.connect() as conn:
        record = get_export(conn, config.export_id)
    if record is None:
        raise Failure(description=f"export {config.export_id} does not exist")
    if record.status not in (QUEUED, PROCESSING):
        hint = "launch without export_id to make a new export"
        raise Failure(
            description=f"export {record.id} is already {record.status}; {hint}",
            allow_retries=False,
        )
    return _Launch(
        record.id, record.space_id, record.trigger, {**record.params, "date": record.date}
    )


def _servable(store: StoreResource, launch: _Launch, date: dt.date) -> tuple[Space, ExportRequest]:
    """The space and the parsed request of `launch`; `Failure` saying why it cannot be
    served (its export, if any, is marked failed with that reason)."""
    try:
        return _space_and_request(store, launch.space_id, launch.body, date)
    except _Unservable as exc:
        message = invalid_request_message(str(exc))
        if launch.export_id is not None:
            raise _fail(store, launch.export_id, message) from None
        raise Failure(description=message) from None


def _claim(
    store: StoreResource, launch: _Launch, space: Space, request: ExportRequest, run_id: str
) -> int:
    """The id of the export this run now serves: `launch`'s, claimed, or a new one."""
    try:
        with store.engine.begin() as conn:
            return start_export(
                conn,
                launch.export_id,
                run_id=run_id,
                space_id=space.id,
                request=request,
                trigger=launch.trigger,
            )
    except ExportNotStartable as exc:
        raise Failure(description=str(exc)) from None


def _task_metadata(task: ExportTask, trigger: str) -> dict[str, Any]:
    request = task.request
    return {
        "export_id": task.export_id,
        "space_id": task.space_id,
        "timezone": task.timezone,
        "trigger": trigger,
        "request": MetadataValue.json({**request.to_params(), "date": request.date.isoformat()}),
    }


@op(description="Check the request and the date, create or claim the export record.")
def validate_request(
    context: OpExecutionContext, config: ExportRequestConfig, store: StoreResource
) -> Output[ExportTask]:
    date = dt.date.fromisoformat(context.partition_key)
    context.instance.add_run_tags(context.run_id, current_worker_tags())
    launch = _launch_of(config, store, context.run.tags, date)
    space, request = _servable(store, launch, date)
    export_id = _claim(store, launch, space, request, context.run_id)
    if launch.export_id is None:
        context.log.info(f"created export {export_id} ({launch.trigger}) for space {space.id}")
    context.instance.add_run_tags(
        context.run_id,
        {"export_id": str(export_id), SPACE_TAG: space.id, "trigger": launch.trigger},
    )
    context.log.info(
        f"export {export_id}: space {space.id} ({space.timezone}), date {date.isoformat()}, "
        f"request {request.to_params() or 'default'}"
    )
    task = ExportTask(
        export_id=export_id, space_id=space.id, timezone=space.timezone, request=request
    )
    return Output(task, metadata=_task_metadata(task, launch.trigger))


@op(description="Read the day's events of the space and the touchpoints of their journeys.")
def extract_events(
    context: OpExecutionContext, task: ExportTask, store: StoreResource
) -> Output[Extracted]:
    with _Stage(context, store, task) as stage:
        spans = extract.day_spans(
            store.engine,
            space_id=task.space_id,
            timezone=task.timezone,
            request=task.request,
            max_events=store.span_events,
            whole_up_to=store.whole_day_events,
        )
        if len(spans) > 1:
            # Too big to hold: read span by span when the rows are made.
            context.log.info(f"the day's events are read in {len(spans)} time spans")
            extracted = Extracted(
                events=extract.empty_frame(extract.EVENT_SCHEMA),
                touchpoints=extract.empty_frame(extract.TOUCHPOINT_SCHEMA),
                spans=spans,
            )
        else:
            extracted = extract.extract_events(
                store.engine, space_id=task.space_id, timezone=task.timezone, request=task.request
            )
    context.log.info(
        f"extracted {extracted.events.height} events and {extracted.touchpoints.height} "
        f"touchpoints in {stage.seconds:.2f}s"
    )
    return Output(
        extracted,
        metadata={
            "event_rows": extracted.events.height,
            "time_spans": len(extracted.spans or [None]),
            "touchpoint_rows": extracted.touchpoints.height,
            "duration_seconds": round(stage.seconds, 3),
        },
    )


@op(description="Attach account, campaign, ad set and ad names to the touchpoints' ads.")
def resolve_ad_hierarchy(
    context: OpExecutionContext, task: ExportTask, extracted: Extracted, store: StoreResource
) -> Output[pl.DataFrame]:
    with _Stage(context, store, task) as stage:
        touchpoints = hierarchy.resolve_ad_hierarchy(
            store.engine,
            space_id=task.space_id,
            touchpoints=extracted.touchpoints,
            request=task.request,
        )
    context.log.info(f"resolved the ad hierarchy of {touchpoints.height} touchpoints")
    return Output(
        touchpoints,
        metadata={
            "touchpoint_rows": touchpoints.height,
            "duration_seconds": round(stage.seconds, 3),
        },
    )


@op(
    description="Credit each event to the touchpoints of its journey: the plan of the rows "
    "and their exact count, before any row is made."
)
def split_attribution(
    context: OpExecutionContext,
    task: ExportTask,
    extracted: Extracted,
    touchpoints: pl.DataFrame,
    store: StoreResource,
) -> Output[ExportRows]:
    with _Stage(context, store, task) as stage:
        plan: ExportRows
        if extracted.spans:
            plan = export.plan_spans(
                store.engine,
                space_id=task.space_id,
                timezone=task.timezone,
                request=task.request,
                spans=extracted.spans,
            )
        else:
            plan = plan_export(extracted.events, touchpoints, task.request)
    try:
        check_row_limit(plan.row_count, store.max_export_rows, task.request)
    except ExportTooLarge as exc:
        context.log.error(f"export {task.export_id}: {exc}")
        raise _fail(store, task.export_id, str(exc)) from None
    with store.engine.begin() as conn:
        record_progress(conn, task.export_id, rows_written=0, row_count_expected=plan.row_count)
    context.log.info(
        f"{extracted.events.height} events will become {plan.row_count} rows "
        f"(planned in {stage.seconds:.2f}s)"
    )
    return Output(
        plan,
        metadata={
            "rows": plan.row_count,
            "row_count_expected": plan.row_count,
            "events_in": extracted.events.height,
            "duration_seconds": round(stage.seconds, 3),
            "columns": _columns_metadata(plan.schema),
        },
    )


# How often a run records the rows written so far in the export's status.
PROGRESS_SECONDS = 2.0


def _reporting_progress(
    blocks: Iterable[pl.DataFrame], store: StoreResource, export_id: int
) -> Iterator[pl.DataFrame]:
    """`blocks`, recording the rows handed on in the export's status every few seconds and
    once all are."""
    written, last = 0, time.monotonic()
    for block in blocks:
        yield block
        written += block.height
        if time.monotonic() - last >= PROGRESS_SECONDS:
            with store.engine.begin() as conn:
                record_progress(conn, export_id, rows_written=written)
            last = time.monotonic()
    with store.engine.begin() as conn:
        record_progress(conn, export_id, rows_written=written)


def _still_processing(store: StoreResource, export_id: int) -> None:
    """Raise when the export was cancelled (or settled) meanwhile: nothing may then appear
    under a final name."""
    with store.engine.connect() as conn:
        current = get_export(conn, export_id)
    if current is None or current.status != PROCESSING:
        status = current.status if current else "missing"
        raise Failure(
            description=f"export {export_id} is {status}; the file was discarded",
            allow_retries=False,
        )


def _write_and_publish(
    store: StoreResource, storage: ExportStorage, task: ExportTask, rows: ExportRows
) -> PublishedExport:
    """Write the export's rows in its format, publish them and mark it completed; when it
    was settled meanwhile (a cancel, the reconciliation) delete what was published and fail."""
    request = task.request
    with tempfile.TemporaryDirectory() as tmp:
        # Rows are made slice by slice as the writer takes them: never all at once.
        published = write_and_publish(
            _reporting_progress(rows.blocks(), store, task.export_id),
            schema=rows.schema,
            storage=storage,
            workdir=Path(tmp),
            export_id=task.export_id,
            space_id=task.space_id,
            date=request.date,
            format=request.file_format,
            max_rows_per_file=request.max_rows_per_file,
            request={**request.to_params(), "date": request.date.isoformat()},
            before_publish=lambda: _still_processing(store, task.export_id),
        )
        with store.engine.begin() as conn:
            completed = mark_completed(
                conn,
                task.export_id,
                storage_key=published.storage_key,
                row_count=published.row_count,
                file_size_bytes=published.file_size_bytes,
                sha256=published.sha256,
                format=published.format,
                files=published.files,
            )
            current = None if completed else get_export(conn, task.export_id)
        if not completed:
            status = current.status if current else "missing"
            # Someone (the reconciliation, a cancel) settled the export first: keep the
            # status truthful and leave no orphan file behind.
            storage.delete_keys(published.keys)
            raise Failure(
                description=f"export {task.export_id} is {status}; the file was discarded",
                allow_retries=False,
            )
    return published


def _published_summary(
    published: PublishedExport, export_id: int, seconds: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the op's value, its metadata) for a published export."""
    summary: dict[str, Any] = {
        "export_id": export_id,
        "storage_key": published.storage_key,
        "row_count": published.row_count,
        "file_size_bytes": published.file_size_bytes,
        "sha256": published.sha256,
    }
    metadata: dict[str, Any] = {
        "export_id": export_id,
        "rows": published.row_count,
        "file_size_bytes": published.file_size_bytes,
        "sha256": published.sha256,
        "storage_key": published.storage_key,
        "format": published.format.value,  # Dagster's metadata takes a plain string
        "duration_seconds": round(seconds, 3),
    }
    if published.files is not None:
        summary["parts"] = metadata["parts"] = len(published.files)
    return summary, metadata


@op(
    description="Write the export's file (or parts and manifest) in its format, store it "
    "atomically, mark the export completed."
)
def publish_export(
    context: OpExecutionContext,
    task: ExportTask,
    rows: ExportRows,
    store: StoreResource,
    export_storage: ExportStorageResource,
) -> Output[dict[str, Any]]:
    storage = export_storage.get_storage()
    with _Stage(context, store, task) as stage:
        published = _write_and_publish(store, storage, task, rows)
    parts = len(published.files) if published.files is not None else None
    context.log.info(
        f"export {task.export_id} completed: {published.row_count} rows, "
        f"{published.file_size_bytes} bytes, {published.format}"
        + (f" in {parts} parts" if parts is not None else "")
        + f", sha256 {published.sha256}, key {published.storage_key}"
    )
    summary, metadata = _published_summary(published, task.export_id, stage.seconds)
    return Output(summary, metadata=metadata)

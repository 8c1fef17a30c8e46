"""One export end to end: the four stages composed, outside any orchestrator.

A day with more selected events than `WHOLE_DAY_EVENTS` is read in consecutive time spans
of `SPAN_EVENTS` events (`extract.day_spans`), each extracted, resolved and planned on its
own: once to count its rows, once more to make them. Memory then follows one span's input
and one slice of rows, whatever the size of the day; a day up to `WHOLE_DAY_EVENTS` is read
once, at once (peak ~1.4 GB for 1M demo events with 12 fields).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from exports_pipeline.engine.extract import Span, day_spans, extract_events
from exports_pipeline.engine.hierarchy import resolve_ad_hierarchy
from exports_pipeline.engine.plan import SLICE_ROWS, ExportPlan, ExportRows, plan_export
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.engine.write import WriteResult, write_blocks

# Selected events of one span read at once, at most (ties of one timestamp excepted).
SPAN_EVENTS = 250_000
# Days with at most this many selected events are read whole (one pass, no spans).
WHOLE_DAY_EVENTS = 1_000_000


def plan_span(
    engine: sa.Engine, *, space_id: str, timezone: str, request: ExportRequest, span: Span | None
) -> ExportPlan:
    """The plan of the rows of the events of `span` (None: the whole day)."""
    extracted = extract_events(
        engine, space_id=space_id, timezone=timezone, request=request, span=span
    )
    touchpoints = resolve_ad_hierarchy(
        engine, space_id=space_id, touchpoints=extracted.touchpoints, request=request
    )
    return plan_export(extracted.events, touchpoints, request)


@dataclass(frozen=True)
class SpannedRows(ExportRows):
    """The rows of a day read span by span: `span_rows[i]` rows come from `spans[i]`."""

    engine: sa.Engine
    space_id: str
    timezone: str
    request: ExportRequest
    spans: list[Span]
    span_rows: list[int]
    row_schema: pl.Schema
    row_count: int

    @property
    def schema(self) -> pl.Schema:
        return self.row_schema

    def blocks(self, slice_rows: int = SLICE_ROWS) -> Iterator[pl.DataFrame]:
        for span, rows in zip(self.spans, self.span_rows, strict=True):
            if rows:
                plan = plan_span(
                    self.engine,
                    space_id=self.space_id,
                    timezone=self.timezone,
                    request=self.request,
                    span=span,
                )
                yield from plan.blocks(slice_rows)
                del plan


def plan_spans(
    engine: sa.Engine, *, space_id: str, timezone: str, request: ExportRequest, spans: list[Span]
) -> SpannedRows:
    """The rows of the day's `spans` (consecutive, in order), counted span by span; no span's
    input is kept."""
    counts, schema = [], None
    for span in spans:
        plan = plan_span(engine, space_id=space_id, timezone=timezone, request=request, span=span)
        counts.append(plan.row_count)
        schema = plan.schema
        del plan
    assert schema is not None, "a day has at least one span"
    return SpannedRows(engine, space_id, timezone, request, spans, counts, schema, sum(counts))


def plan_day(
    engine: sa.Engine,
    *,
    space_id: str,
    timezone: str,
    request: ExportRequest,
    span_events: int = SPAN_EVENTS,
    whole_day_events: int = WHOLE_DAY_EVENTS,
) -> ExportRows:
    """The export's rows: planned at once, or span by span of `span_events` events when the
    day has more than `whole_day_events` (at least `span_events`) selected events."""
    spans = day_spans(
        engine,
        space_id=space_id,
        timezone=timezone,
        request=request,
        max_events=span_events,
        whole_up_to=whole_day_events,
    )
    if len(spans) == 1:
        return plan_span(engine, space_id=space_id, timezone=timezone, request=request, span=None)
    return plan_spans(engine, space_id=space_id, timezone=timezone, request=request, spans=spans)


def run_export(
    engine: sa.Engine,
    *,
    space_id: str,
    timezone: str,
    request: ExportRequest,
    path: Path,
    slice_rows: int = SLICE_ROWS,
    span_events: int = SPAN_EVENTS,
    whole_day_events: int = WHOLE_DAY_EVENTS,
) -> WriteResult:
    """Extract, resolve the ad hierarchy, attribute and write the export file to `path`: one
    file of the request's format (parts: `storage.publish.write_and_publish`), the rows made
    and written `slice_rows` credited rows at a time, a day of more than `whole_day_events`
    events read in spans of `span_events` (the same bytes for any sizes)."""
    rows = plan_day(
        engine,
        space_id=space_id,
        timezone=timezone,
        request=request,
        span_events=span_events,
        whole_day_events=whole_day_events,
    )
    return write_blocks(
        rows.blocks(slice_rows), path, schema=rows.schema, format=request.file_format
    )

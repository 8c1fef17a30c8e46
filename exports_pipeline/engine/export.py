"""One export end to end: the four stages composed, outside any orchestrator."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from exports_pipeline.engine.attribution import SLICE_ROWS, plan_export
from exports_pipeline.engine.extract import extract_events
from exports_pipeline.engine.hierarchy import resolve_ad_hierarchy
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.engine.write import WriteResult, write_blocks


def run_export(
    engine: sa.Engine,
    *,
    space_id: str,
    timezone: str,
    request: ExportRequest,
    path: Path,
    slice_rows: int = SLICE_ROWS,
) -> WriteResult:
    """Extract, resolve the ad hierarchy, attribute and write the export file to `path`,
    the rows made and written `slice_rows` credited rows at a time (the same bytes for any
    slice size)."""
    extracted = extract_events(engine, space_id=space_id, timezone=timezone, request=request)
    touchpoints = resolve_ad_hierarchy(
        engine, space_id=space_id, touchpoints=extracted.touchpoints, request=request
    )
    plan = plan_export(extracted.events, touchpoints, request)
    return write_blocks(plan.blocks(slice_rows), path, schema=plan.schema)

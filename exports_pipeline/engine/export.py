"""One export end to end: the four stages composed, outside any orchestrator."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from exports_pipeline.engine.attribution import split_attribution
from exports_pipeline.engine.extract import extract_events
from exports_pipeline.engine.hierarchy import resolve_ad_hierarchy
from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.engine.write import WriteResult, write_export


def run_export(
    engine: sa.Engine, *, space_id: str, timezone: str, request: ExportRequest, path: Path
) -> WriteResult:
    """Extract, resolve the ad hierarchy, attribute and write the export file to `path`, as
    one file of the request's format (parts: `storage.publish.write_and_publish`)."""
    extracted = extract_events(engine, space_id=space_id, timezone=timezone, request=request)
    touchpoints = resolve_ad_hierarchy(
        engine, space_id=space_id, touchpoints=extracted.touchpoints, request=request
    )
    rows = split_attribution(extracted.events, touchpoints, request)
    return write_export(rows, path, format=request.file_format)

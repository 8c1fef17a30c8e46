"""Typed run config of the export job: the launchpad form has the API's request shape."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from dagster import Config
from pydantic import Field

from exports_pipeline.engine.request import ExportRequest, params_from_json

SPACE_TAG = "space_id"
REQUEST_TAG = "export_request"

# The request fields of the API body (SPEC 2.1) other than `date`, which is the partition
# key; the config below declares each of them for the launchpad form.
REQUEST_FIELDS = tuple(name for name in ExportRequest.model_fields if name != "date")


class ExportRequestConfig(Config):
    """Config of `validate_request`.

    With `export_id` (all the sensor sets, for API and schedule exports) the run serves that
    existing export and the stored request rules; the fields below are then ignored.
    Without it the run is a UI/CLI launch: `space_id` is required, the fields below form
    the request (same rules as the API), and the run creates its own export record.
    """

    export_id: int | None = Field(
        default=None, description="Existing export to serve; leave empty for a new export."
    )
    space_id: str | None = Field(
        default=None, description="Space to export; required without export_id."
    )
    query_mode: str | None = Field(default=None, description="`profile` (default) or `company`.")
    event_names: list[str] | None = Field(default=None, description="Event names to keep.")
    sources: list[str] | None = Field(default=None, description="Sources to attribute to.")
    attribution_model: str | None = Field(
        default=None, description="Attribution model; required with sources."
    )
    attribution_window: int | None = Field(
        default=None, description="Window in days (0 = lifetime); required with sources."
    )
    fields: list[str] | None = Field(default=None, description="Fields of each row, in order.")
    attribution_half_life_days: int | None = Field(
        default=None, description="time_decay only: half-life in days, 1-30 (default 7)."
    )
    position_weights: list[int] | None = Field(
        default=None,
        description="position_based only (required there): [first, last] percentages, "
        "each 0-100, sum <= 100.",
    )
    format: str | None = Field(
        default=None, description="`ndjson` (default, gzip NDJSON), `csv` (gzip) or `parquet`."
    )
    max_rows_per_file: int | None = Field(
        default=None,
        description="Split into parts of at most this many rows (1,000-10,000,000), "
        "with a manifest.",
    )

    def request_body(self, date: dt.date) -> dict[str, Any]:
        """The API-shaped body for `date`: only the fields that were given."""
        body: dict[str, Any] = {"date": date.isoformat()}
        for name in REQUEST_FIELDS:
            value = getattr(self, name)
            if value is not None:
                body[name] = list(value) if isinstance(value, list | tuple) else value
        return body

    def launch_request(self, tags: Mapping[str, str], date: dt.date) -> tuple[str, dict[str, Any]]:
        """Space and API-shaped body of a UI/CLI launch: from config, else from the run's tags.

        Backfills cannot set op config per run, so a backfill names its space with the
        `space_id` tag and, optionally, its request with the `export_request` tag (JSON).
        `ValueError` naming what is missing or malformed.
        """
        space_id = self.space_id or tags.get(SPACE_TAG)
        if not space_id:
            raise ValueError(
                "space_id is required when export_id is not given "
                f"(in the config, or as the run tag {SPACE_TAG!r})"
            )
        body = self.request_body(date)
        if body.keys() == {"date"} and REQUEST_TAG in tags:
            try:
                body = {**params_from_json(tags[REQUEST_TAG]), "date": date.isoformat()}
            except ValueError as exc:
                raise ValueError(f"run tag {REQUEST_TAG!r} {exc}") from exc
        return space_id, body

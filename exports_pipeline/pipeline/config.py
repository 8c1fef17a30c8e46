"""Typed run config of the export job: the launchpad form has the API's request shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

from dagster import Config
from pydantic import Field

# The request fields of the API body (SPEC 2.1) other than `date`, which is the partition key.
REQUEST_FIELDS = (
    "query_mode",
    "event_names",
    "sources",
    "attribution_model",
    "attribution_window",
    "fields",
    "attribution_half_life_days",
    "position_weights",
)


class ExportRequestConfig(Config):
    """Config of `validate_request`.

    With `export_id` the run serves that existing export (the sensor and the schedule set
    it) and the stored request rules. Without it the run is a UI/CLI launch: `space_id` is
    required, the fields below form the request (same rules as the API), and the run
    creates its own export record.
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

    def request_body(self, date: dt.date) -> dict[str, Any]:
        """The API-shaped body for `date`: only the fields that were given."""
        body: dict[str, Any] = {"date": date.isoformat()}
        for name in REQUEST_FIELDS:
            value = getattr(self, name)
            if value is not None:
                body[name] = list(value) if isinstance(value, list | tuple) else value
        return body

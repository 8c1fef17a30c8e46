"""Typed run config of the export job: the launchpad form is generated from `ExportRequest`.

`ExportRequestConfig` declares `export_id` and `space_id` itself and takes every request
field but `date` (the partition key) from `ExportRequest`'s JSON schema: its name, its JSON
type and its description. Each is optional on the form (absent means the request's own
default), and the request's rules are applied once, when the run parses the request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dagster import Config
from pydantic import Field, create_model

from exports_pipeline.engine.request import ExportRequest, params_from_json

SPACE_TAG = "space_id"
REQUEST_TAG = "export_request"

# The request fields of the API body (SPEC 2.1) other than `date`, which is the partition
# key; the config below declares each of them for the launchpad form.
REQUEST_FIELDS = tuple(name for name in ExportRequest.model_fields if name != "date")

# The launchpad takes a field's JSON type, not its rule: a value breaking the rule reaches
# the run, which fails the export naming the rule (as the API would answer).
_JSON_TYPES: dict[str, Any] = {"string": str, "integer": int}
_JSON_ARRAYS: dict[str, Any] = {"string": list[str], "integer": list[int]}


class LaunchConfig(Config):
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


def _json_type(prop: Mapping[str, Any]) -> Any:
    """The Python type of a JSON-schema property: a string, an integer or a list of one."""
    if prop["type"] == "array":
        return _JSON_ARRAYS[prop["items"]["type"]]
    return _JSON_TYPES[prop["type"]]


def _description(prop: Mapping[str, Any]) -> str:
    """The field's description in the request; a field without one names its values."""
    if "description" in prop:
        return str(prop["description"])
    values = ", ".join(map(str, prop["enum"]))
    return f"One of {values} (default {prop['default']})."


def launchpad_fields() -> dict[str, Any]:
    """The request fields of the launchpad form: (type, optional `Field`) for each one,
    as `pydantic.create_model` takes them."""
    properties = ExportRequest.model_json_schema()["properties"]
    return {
        name: (
            _json_type(properties[name]) | None,
            Field(default=None, description=_description(properties[name])),
        )
        for name in REQUEST_FIELDS
    }


if TYPE_CHECKING:
    # The request fields are made at run time: a checker knows the form by its declared part.
    ExportRequestConfig = LaunchConfig
else:
    ExportRequestConfig = create_model(
        "ExportRequestConfig",
        __base__=LaunchConfig,
        __doc__=LaunchConfig.__doc__,
        __module__=__name__,
        **launchpad_fields(),
    )

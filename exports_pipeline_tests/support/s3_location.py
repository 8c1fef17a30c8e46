"""A second code location for tests: the real definitions with S3 storage, every other
setting from the `EXPORTS_*` environment as `workspace.yaml`'s location reads them. One
webserver loading both shows the resources of both storage backends."""

from __future__ import annotations

from dagster import Definitions, definitions

from exports_pipeline.pipeline.definitions import build_definitions
from exports_pipeline.settings import Settings


@definitions
def defs() -> Definitions:
    return build_definitions(Settings(storage="s3"))

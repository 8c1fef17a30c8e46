"""The Dagster shell of the export service: partitions, resources, ops, job, sensors, schedules.

`exports_pipeline.pipeline.definitions.defs` is what `workspace.yaml` loads.
"""

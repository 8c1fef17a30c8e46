"""`event_export_job`: one export of one space for one date (the partition key).

In-process executor: the six ops form a chain with nothing to run in parallel, and the
frames they hand on can be large; one process per run keeps them in memory (no pickling
to disk between ops, no per-op interpreter start) and gives each run exactly one worker
pid for the reconciliation sensor to watch. A failed run is re-run whole (the job is
deterministic); runs spread over machines through the run launcher, not the executor.
"""

from dagster import JobDefinition, RetryPolicy, in_process_executor, job

from exports_pipeline.formats import format_titles
from exports_pipeline.pipeline.deliver import deliver_export
from exports_pipeline.pipeline.ops import (
    extract_events,
    publish_export,
    resolve_ad_hierarchy,
    split_attribution,
    validate_request,
)
from exports_pipeline.pipeline.partitions import export_date_partitions
from exports_pipeline.pipeline.retries import RETRY_POLICY

EXPORT_JOB_NAME = "event_export_job"


def build_export_job(
    *,
    storage_retry: RetryPolicy = RETRY_POLICY,
    store_retry: RetryPolicy = RETRY_POLICY,
) -> JobDefinition:
    """The job; tests pass retry policies with short delays (the code location uses the
    defaults)."""

    @job(
        name=EXPORT_JOB_NAME,
        partitions_def=export_date_partitions,
        executor_def=in_process_executor,
        description="Export one day (the partition, in the space's timezone) of a space's "
        f"events as {format_titles()} (one file, or parts listed by a manifest), optionally "
        "attributed to touchpoints.",
    )
    def event_export_job() -> None:
        task = validate_request()
        extracted = extract_events.with_retry_policy(store_retry)(task)
        touchpoints = resolve_ad_hierarchy.with_retry_policy(store_retry)(task, extracted)
        rows = split_attribution(task, extracted, touchpoints)
        published = publish_export.with_retry_policy(storage_retry)(task, rows)
        deliver_export(task, published=published)

    return event_export_job


event_export_job = build_export_job()

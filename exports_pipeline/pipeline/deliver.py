"""`deliver_export`: the step after `publish_export` that pushes an export's published
files to its destination (SPEC 7.3); it does nothing when the export has none, as every
export today. A thin shell over `deliver`."""

from collections.abc import Callable

from dagster import In, Nothing, OpExecutionContext, op
from sqlalchemy import Engine

from exports_pipeline.pipeline.ops import ExportTask
from exports_pipeline.pipeline.resources import ExportStorageResource, StoreResource
from exports_pipeline.storage.base import ExportStorage
from exports_pipeline.storage.destinations import Destination, PublishedFiles, destination_for
from exports_pipeline.store.exports import ExportRecord, get_export


def deliver(
    engine: Engine,
    export_id: int,
    storage: Callable[[], ExportStorage],
    *,
    destinations: Callable[[ExportRecord], Destination | None],
) -> PublishedFiles | None:
    """Push the published files of export `export_id` to the destination `destinations`
    finds for it, read from the storage `storage()` builds; None when it has none (then
    no storage is built and nothing is pushed)."""
    with engine.connect() as conn:
        export = get_export(conn, export_id)
    destination = destinations(export) if export is not None else None
    if export is None or destination is None:
        return None
    published = PublishedFiles.of(export)
    destination.push(published, storage())
    return published


@op(
    ins={"published": In(Nothing, description="Delivery starts once the files are published.")},
    description="Push the published files to the export's destination (SPEC 7.3); nothing "
    "when it has none.",
)
def deliver_export(
    context: OpExecutionContext,
    task: ExportTask,
    store: StoreResource,
    export_storage: ExportStorageResource,
) -> None:
    delivered = deliver(
        store.engine, task.export_id, export_storage.get_storage, destinations=destination_for
    )
    if delivered is not None:
        context.log.info(f"export {task.export_id} delivered: {len(delivered.keys)} objects")

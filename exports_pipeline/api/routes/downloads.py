"""Downloads of export files kept on local disk, through HMAC-signed expiring URLs.

The URL names only the export id (and, for a part of an export split by
`max_rows_per_file`, the part number); the file comes from the export's `storage_key` (its
one file, or its manifest) or the part's key in the store, so a client never chooses a
path. Any URL that is not exactly one the API minted, or is past its expiry, is a 403.
"""

from __future__ import annotations

import time

from fastapi import APIRouter
from fastapi.responses import FileResponse

from exports_pipeline.api.deps import EngineDep, StorageDep
from exports_pipeline.api.errors import ApiError
from exports_pipeline.api.routes.exports import EXPORTS_PATH, parse_export_id
from exports_pipeline.api.schemas import ErrorBody
from exports_pipeline.engine.parts import MANIFEST_CONTENT_TYPE
from exports_pipeline.engine.write import FILE_FORMATS
from exports_pipeline.storage.base import DownloadRefused, served_as
from exports_pipeline.store.exports import COMPLETED, get_export

router = APIRouter(prefix=EXPORTS_PATH, tags=["downloads"])

INVALID = "This download link is invalid; get a fresh one from the export's status."
EXPIRED = "This download link has expired; get a fresh one from the export's status."


# Every expiry has at most 19 digits; a longer value is not even parsed (int() refuses
# more than 4300 digits with a ValueError, which would be a 500).
MAX_DIGITS = 19


def _digits(value: str | None) -> bool:
    return (
        value is not None and 0 < len(value) <= MAX_DIGITS and value.isascii() and value.isdigit()
    )


@router.get(
    "/{export_id}/download",
    summary="Download an export file (local storage)",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The export's file (gzip NDJSON, gzip CSV or Parquet), one of its "
            "parts, or its JSON manifest.",
            "content": {
                content_type: {"schema": {"type": "string", "format": "binary"}}
                for content_type in sorted(
                    {f.content_type for f in FILE_FORMATS.values()} | {MANIFEST_CONTENT_TYPE}
                )
            },
        },
        403: {"model": ErrorBody, "description": "Link invalid, altered or expired."},
        404: {"model": ErrorBody, "description": "The file is no longer stored."},
        422: {"model": ErrorBody, "description": "Never sent: bad parameters are a 403."},
    },
)
def download_export(
    export_id: str,
    engine: EngineDep,
    storage: StorageDep,
    expires: str | None = None,
    signature: str | None = None,
    part: str | None = None,
) -> FileResponse:
    """Stream a file of a completed export when the URL's signature and expiry hold."""
    if not storage.serves_downloads:
        raise ApiError(404, "Downloads are served by the object store, not by the API.")
    numeric_id = parse_export_id(export_id)
    if numeric_id is None or not (_digits(expires) and signature and signature.isascii()):
        raise ApiError(403, INVALID)
    assert expires is not None
    with engine.connect() as conn:
        record = get_export(conn, numeric_id)
    if record is None or record.status != COMPLETED or not record.storage_key:
        raise ApiError(403, INVALID)
    key: str | None = record.storage_key
    if part is not None:
        # Exactly as minted (`part=2`): no other spelling names a part.
        number = int(part) if _digits(part) and not part.startswith("0") else None
        key = record.part_key(number) if number is not None else None
    if key is None:
        raise ApiError(403, INVALID)
    try:
        path = storage.signed_file(
            key,
            export_id=record.id,
            expires=int(expires),
            signature=signature,
            now=int(time.time()),
        )
    except DownloadRefused as refused:
        raise ApiError(403, EXPIRED if refused.expired else INVALID) from None
    if not path.is_file():
        raise ApiError(404, "The export file is no longer stored; create the export again.")
    served = served_as(key, export_id=record.id, date=record.date)
    return FileResponse(
        path,
        media_type=served.content_type,
        filename=served.file_name,
        headers={"Cache-Control": "private, no-store"},
    )

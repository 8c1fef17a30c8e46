"""Downloads of export files kept on local disk, through HMAC-signed expiring URLs.

The URL names only the export id (and, for a part of an export split by
`max_rows_per_file`, the part number); the file comes from the export's `storage_key` (its
one file, or its manifest) or the part's key in the store, so a client never chooses a
path. Any URL that is not exactly one the API minted, or is past its expiry, is a 403.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from sqlalchemy import Engine

from exports_pipeline.api.deps import EngineDep, StorageDep
from exports_pipeline.api.errors import ApiError
from exports_pipeline.api.export_ids import parse_export_id
from exports_pipeline.api.routes.exports import EXPORTS_PATH
from exports_pipeline.api.schemas import ErrorBody
from exports_pipeline.formats import FILE_FORMATS, MANIFEST_CONTENT_TYPE, format_titles
from exports_pipeline.storage.base import DownloadRefused, served_as
from exports_pipeline.store import exports as store_exports
from exports_pipeline.store.exports import COMPLETED, ExportRecord, get_export

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
    response_class=StreamingResponse,
    responses={
        200: {
            "description": f"The export's file ({format_titles()}), one of its parts, or its "
            "JSON manifest.",
            "content": {
                content_type: {"schema": {"type": "string", "format": "binary"}}
                for content_type in sorted(
                    {f.content_type for f in FILE_FORMATS.values()} | {MANIFEST_CONTENT_TYPE}
                )
            },
        },
        403: {"model": ErrorBody, "description": "Link invalid, altered or expired."},
        404: {
            "model": ErrorBody,
            "description": "The file is no longer stored (deleted after the retention period).",
        },
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
) -> StreamingResponse:
    """Stream a file of a completed export when the URL's signature and expiry hold."""
    if not storage.serves_downloads:
        raise ApiError(404, "Downloads are served by the object store, not by the API.")
    numeric_id = parse_export_id(export_id)
    if numeric_id is None or not (_digits(expires) and signature and signature.isascii()):
        raise ApiError(403, INVALID)
    assert expires is not None
    record = _downloadable_export(engine, numeric_id)
    key = _key_named(record, part)
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
    if record.status == store_exports.EXPIRED:
        raise ApiError(404, store_exports.EXPIRED_MESSAGE)
    return _file_response(path, key, record)


def _downloadable_export(engine: Engine, export_id: int) -> ExportRecord:
    """The export `export_id` when it has files a URL may name; a 403 otherwise.

    An expired export keeps its storage key until its file is gone: its URLs are told apart
    from forged ones (a 404 once the signature holds) while the retention pass runs.
    """
    with engine.connect() as conn:
        record = get_export(conn, export_id)
    if (
        record is None
        or record.status not in (COMPLETED, store_exports.EXPIRED)
        or not record.storage_key
    ):
        raise ApiError(403, INVALID)
    return record


def _key_named(record: ExportRecord, part: str | None) -> str:
    """The key of the object the URL names: the export's file (or manifest), or with
    `part` the part of that number, written exactly as minted (`part=2`); a 403 otherwise."""
    key = record.storage_key
    if part is not None:
        number = int(part) if _digits(part) and not part.startswith("0") else None
        key = record.part_key(number) if number is not None else None
    if key is None:
        raise ApiError(403, INVALID)
    return key


def _file_response(path: Path, key: str, record: ExportRecord) -> StreamingResponse:
    """The file at `path` streamed under the name and type of `key`.

    Opened here, streamed from the open file: a retention pass deleting the file after
    this point cannot cut the download short (the open file lives on), and one that
    deleted it before is a 404, never a 500 or half a file.
    """
    try:
        file = path.open("rb")
    except (FileNotFoundError, IsADirectoryError):
        raise ApiError(
            404, "The export file is no longer stored; create the export again."
        ) from None
    size = os.fstat(file.fileno()).st_size
    served = served_as(key, export_id=record.id, date=record.date)
    return StreamingResponse(
        _chunks(file),
        media_type=served.content_type,
        headers={
            "Cache-Control": "private, no-store",
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{served.file_name}"',
        },
    )


CHUNK_BYTES = 1 << 20


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(CHUNK_BYTES):
            yield chunk

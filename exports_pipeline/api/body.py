"""Reading the create request body raw, with a size limit.

FastAPI does not decode it: `engine.request.parse_export_body` does, so that malformed
JSON, a non-object body, wrong JSON types, nulls and unknown keys all become a 422
listing every broken rule, with the rules the pipeline applies.
"""

from __future__ import annotations

from fastapi import Request

from exports_pipeline.api.errors import ApiError

MAX_BODY_BYTES = 64 * 1024


async def read_body(request: Request) -> bytes:
    """The raw request body; 413 when it is larger than `MAX_BODY_BYTES`."""
    too_large = ApiError(413, f"Request body too large: at most {MAX_BODY_BYTES} bytes.")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)

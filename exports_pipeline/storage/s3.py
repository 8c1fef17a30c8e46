"""Export files in an S3 bucket (or any S3-compatible store), downloaded by presigned GET."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from exports_pipeline.storage.base import ExportStorage, served_as

MIB = 1024 * 1024

# Files above the threshold go up in parallel parts; S3 only shows the object once the
# last part is in (CompleteMultipartUpload), and boto3 aborts the upload on error.
DEFAULT_TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=64 * MIB, multipart_chunksize=16 * MIB, max_concurrency=4
)


class S3ExportStorage(ExportStorage):
    """Objects `<prefix>/<space>/<date>/<uuid><extension>` in `bucket` (an export in parts:
    `<prefix>/<space>/<date>/<uuid>/part-00001<extension>`, …, `…/manifest.json`).

    `client` is a boto3 S3 client (its endpoint and region decide where objects go);
    `prefix` is the key prefix of every export object; `transfer_config` tunes multipart
    uploads of large files.
    """

    def __init__(
        self,
        client: Any,
        *,
        bucket: str,
        prefix: str = "exports",
        transfer_config: TransferConfig | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.key_prefix = prefix
        self.transfer_config = transfer_config or DEFAULT_TRANSFER_CONFIG

    def put(self, local_path: Path, key: str, *, content_type: str, sha256: str) -> None:
        self.client.upload_file(
            str(local_path),
            self.bucket,
            key,
            ExtraArgs={"ContentType": content_type, "Metadata": {"sha256": sha256}},
            Config=self.transfer_config,
        )

    def download_url(
        self, key: str, *, export_id: int, date: dt.date, expires_in_seconds: int
    ) -> str:
        served = served_as(key, export_id=export_id, date=date)
        return self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{served.file_name}"',
                "ResponseContentType": served.content_type,
            },
            ExpiresIn=expires_in_seconds,
        )

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

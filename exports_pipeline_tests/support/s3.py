"""The S3 the tests use: moto's real server, its dummy credentials and a test bucket."""

from __future__ import annotations

import contextlib
from typing import Any

from exports_pipeline.storage.factory import build_s3_client

BUCKET = "exports-test"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def s3_client_with_bucket(endpoint: str, bucket: str = BUCKET) -> Any:
    """A boto3 S3 client of `endpoint` (credentials from the environment), `bucket` made."""
    client = build_s3_client(region="us-east-1", endpoint_url=endpoint)
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket)
    return client

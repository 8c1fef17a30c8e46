"""Helpers of the tests that talk to the API: seeded spaces and their keys, test settings,
an export completed the way the pipeline completes one."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.settings import Settings
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.store.exports import create_export, mark_completed, mark_processing
from exports_pipeline.store.keys import create_key, revoke_key
from exports_pipeline.store.schema import spaces
from exports_pipeline_tests.support.sealing import TEST_SECRETS_KEY

EXPORTS = "/public-api/v1/events/exports"
SIGNING_SECRET = "test-signing-secret-at-least-32-bytes"

SPACES = [
    # id, timezone, subscription_active
    ("acme", "UTC", True),
    ("kiri", "Pacific/Kiritimati", True),  # UTC+14: its "today" starts first
    ("other", "Europe/Berlin", True),
    ("lapsed", "UTC", False),
]


@dataclass(frozen=True)
class Keys:
    acme: str
    kiri: str
    other: str
    lapsed: str
    acme_no_export: str
    acme_revoked: str


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def seed_spaces(engine: sa.Engine) -> Keys:
    with engine.begin() as conn:
        for space_id, timezone, active in SPACES:
            conn.execute(
                sa.insert(spaces).values(
                    id=space_id,
                    name=space_id.title(),
                    timezone=timezone,
                    subscription_active=active,
                )
            )
        revoked = create_key(conn, space_id="acme")
        revoke_key(conn, revoked)
        return Keys(
            acme=create_key(conn, space_id="acme"),
            kiri=create_key(conn, space_id="kiri"),
            other=create_key(conn, space_id="other"),
            lapsed=create_key(conn, space_id="lapsed"),
            acme_no_export=create_key(conn, space_id="acme", can_export=False),
            acme_revoked=revoked,
        )


def make_settings(store_url: str, home: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "home": home,
        "database_url": store_url,
        "storage": "local",
        "public_base_url": "http://testserver",
        "signing_secret": SIGNING_SECRET,
        "secrets_key": TEST_SECRETS_KEY,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class StoredFile:
    export_id: int
    content: bytes
    sha256: str
    key: str


def ndjson_gz(rows: list[dict[str, object]]) -> bytes:
    return gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())


def completed_export(
    engine: sa.Engine, storage: LocalExportStorage, tmp_path: Path, *, space_id: str = "acme"
) -> StoredFile:
    """An export finished the way the pipeline finishes one: file stored, then the row."""
    content = ndjson_gz([{"id": 1, "event_time_utc": "2024-01-15T10:00:00Z"}])
    digest = hashlib.sha256(content).hexdigest()
    local = tmp_path / f"export-{space_id}.ndjson.gz"
    local.write_bytes(content)
    date = dt.date(2024, 1, 15)
    key = storage.publish(local, space_id=space_id, date=date, sha256=digest)
    with engine.begin() as conn:
        export_id = create_export(
            conn, space_id=space_id, request=ExportRequest(date=date), trigger="api"
        )
        mark_processing(conn, export_id, run_id="run-1")
        mark_completed(
            conn,
            export_id,
            storage_key=key,
            row_count=1,
            file_size_bytes=len(content),
            sha256=digest,
        )
    return StoredFile(export_id=export_id, content=content, sha256=digest, key=key)

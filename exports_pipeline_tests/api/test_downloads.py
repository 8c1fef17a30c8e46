"""Local downloads: only an unaltered, unexpired URL the API minted serves the file (else 403)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient

from exports_pipeline.api.app import create_app
from exports_pipeline.storage.factory import build_storage
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.storage.signing import sign
from exports_pipeline.store.schema import exports
from exports_pipeline_tests.support.api import (
    EXPORTS,
    SIGNING_SECRET,
    Keys,
    StoredFile,
    bearer,
    completed_export,
    make_settings,
)

NOW = dt.datetime(2024, 6, 15, 12, 0, 0, tzinfo=dt.UTC)


def _minted_url(client: TestClient, keys: Keys, export_id: int) -> str:
    with time_machine.travel(NOW, tick=False):
        response = client.get(f"{EXPORTS}/{export_id}", headers=bearer(keys.acme))
    assert response.status_code == 200
    return response.json()["download_url"]


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for name, value in changes.items():
        if value is None:
            query.pop(name, None)
        else:
            query[name] = value
    return f"{parts.path}?{urlencode(query)}"


def _get(client: TestClient, url: str, *, at: dt.datetime = NOW) -> tuple[int, bytes]:
    with time_machine.travel(at, tick=False):
        response = client.get(url)
    if response.status_code != 200:
        assert response.headers["content-type"] == "application/json"
        assert response.json()["message"]
    return response.status_code, response.content


def test_valid_url_serves_the_file_until_it_expires(
    client: TestClient, keys: Keys, stored: StoredFile
) -> None:
    url = _minted_url(client, keys, stored.export_id)
    assert url.startswith(f"http://testserver{EXPORTS}/{stored.export_id}/download?")
    assert _get(client, url) == (200, stored.content)
    assert _get(client, url, at=NOW + dt.timedelta(seconds=899)) == (200, stored.content)
    status, body = _get(client, url, at=NOW + dt.timedelta(seconds=900))
    assert status == 403 and b"expired" in body
    assert _get(client, url, at=NOW + dt.timedelta(days=1))[0] == 403


def _tampered(url: str, export_id: int, other_id: int) -> dict[str, str]:
    query = parse_qs(urlsplit(url).query)
    signature, expires = query["signature"][0], query["expires"][0]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    return {
        "signature flipped": _with_query(url, signature=flipped),
        "signature truncated": _with_query(url, signature=signature[:-1]),
        "signature upper-cased": _with_query(url, signature=signature.upper()),
        "signature not ascii": _with_query(url, signature="é" * 64),
        "signature missing": _with_query(url, signature=None),
        "expires extended": _with_query(url, expires=str(int(expires) + 3600)),
        "expires not a number": _with_query(url, expires="soon"),
        "expires missing": _with_query(url, expires=None),
        "other export id": _with_query(url).replace(f"/{export_id}/", f"/{other_id}/"),
        "unknown export id": _with_query(url).replace(f"/{export_id}/", "/99999999/"),
        "export id not ascii digits": _with_query(url).replace(f"/{export_id}/", "/\u0661/"),
        "signed for a guessed key": (
            f"{EXPORTS}/{export_id}/download?"
            + urlencode(
                {
                    "expires": expires,
                    "signature": sign(
                        "guessed-secret", export_id=export_id, key="x", expires=int(expires)
                    ),
                }
            )
        ),
    }


def test_altered_urls_are_403(
    client: TestClient,
    keys: Keys,
    store_engine: sa.Engine,
    storage: LocalExportStorage,
    tmp_path: Path,
    stored: StoredFile,
) -> None:
    other = completed_export(store_engine, storage, tmp_path)
    url = _minted_url(client, keys, stored.export_id)
    for case, altered in _tampered(url, stored.export_id, other.export_id).items():
        status, body = _get(client, altered)
        assert status == 403, case
        assert stored.content not in body and other.content not in body, case


@pytest.mark.parametrize(
    "path",
    [
        "/public-api/v1/events/exports/..%2F..%2F..%2Fetc%2Fpasswd/download",
        "/public-api/v1/events/exports/%2e%2e/download",
        "/public-api/v1/events/exports/1%2F..%2F..%2Fstore.db/download",
        "/public-api/v1/events/exports/1/download/../../../../etc/passwd",
    ],
)
def test_traversal_attempts_never_serve_a_file(client: TestClient, path: str) -> None:
    expires = int(dt.datetime.now(dt.UTC).timestamp()) + 600
    response = client.get(f"{path}?expires={expires}&signature={'0' * 64}")
    assert response.status_code in (403, 404)
    assert response.headers["content-type"] == "application/json"


def test_a_storage_key_outside_the_root_is_refused_even_when_signed(
    client: TestClient, store_engine: sa.Engine, tmp_path: Path, stored: StoredFile
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("do not serve")
    escaping = "../" * 12 + str(secret_file).lstrip("/")
    with store_engine.begin() as conn:
        conn.execute(
            sa.update(exports).where(exports.c.id == stored.export_id).values(storage_key=escaping)
        )
    expires = int(NOW.timestamp()) + 600
    signature = sign(SIGNING_SECRET, export_id=stored.export_id, key=escaping, expires=expires)
    url = f"{EXPORTS}/{stored.export_id}/download?expires={expires}&signature={signature}"
    status, body = _get(client, url)
    assert status == 403
    assert b"do not serve" not in body


def test_a_removed_file_is_404(
    client: TestClient, keys: Keys, storage: LocalExportStorage, stored: StoredFile
) -> None:
    url = _minted_url(client, keys, stored.export_id)
    storage.delete(stored.key)
    assert _get(client, url)[0] == 404


# The fixed development secret earlier releases used when EXPORTS_SIGNING_SECRET was unset;
# it is in the repository's history, so anyone can sign with it.
PUBLISHED_DEFAULT = "change-me-local-download-signing-secret"


def test_a_url_signed_with_the_old_published_default_is_refused(
    store_url: str,
    keys: Keys,
    store_engine: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EXPORTS_SIGNING_SECRET", raising=False)
    settings = make_settings(store_url, tmp_path / "home", signing_secret=None)
    stored = completed_export(store_engine, build_storage(settings), tmp_path)
    expires = int(NOW.timestamp()) + 600
    forged = sign(PUBLISHED_DEFAULT, export_id=stored.export_id, key=stored.key, expires=expires)
    with TestClient(create_app(settings)) as client:
        status, body = _get(
            client, f"{EXPORTS}/{stored.export_id}/download?expires={expires}&signature={forged}"
        )
        assert status == 403 and b"invalid" in body
        assert _get(client, _minted_url(client, keys, stored.export_id)) == (200, stored.content)

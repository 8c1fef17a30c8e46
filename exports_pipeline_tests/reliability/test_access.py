"""Across two served API processes on one store: another space's key reads nothing of a
space (404/403), a download URL cannot be turned into another export's, keys are stored
only hashed, a revoked key is refused at once by every process, and no key is ever logged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa

from exports_pipeline.engine.request import ExportRequest
from exports_pipeline.storage.local import LocalExportStorage
from exports_pipeline.store.exports import create_export
from exports_pipeline.store.keys import PREFIX_LENGTH, create_key, hash_key
from exports_pipeline_tests.support.api import EXPORTS, Keys, StoredFile, completed_export
from exports_pipeline_tests.support.contents import store_dump
from exports_pipeline_tests.support.served import run_cli, served_api, unlimited_env

pytestmark = pytest.mark.integration

SIGNING_SECRET = "served-test-secret-at-least-32-bytes"  # what `cli_env` gives the served processes


@dataclass(frozen=True)
class Served:
    bases: tuple[str, str]
    logs: tuple[Path, Path]
    env: dict[str, str]
    keys: Keys
    acme_queued: int
    acme_file: StoredFile
    other_file: StoredFile

    def headers(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def served(
    shared_store_url: str,
    shared_engine: sa.Engine,
    shared_keys: Keys,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    folder: Path = tmp_path_factory.mktemp("access")
    home = folder / "home"
    env = unlimited_env(shared_store_url, home)
    logs = (folder / "a.log", folder / "b.log")
    with served_api(env, logs[0]) as first, served_api(env, logs[1]) as second:
        storage = LocalExportStorage(
            home / "files", public_base_url=first, signing_secret=SIGNING_SECRET
        )
        with shared_engine.begin() as conn:
            acme_queued = create_export(
                conn,
                space_id="acme",
                request=ExportRequest(date=dt.date(2024, 1, 15)),
                trigger="api",
            )
        yield Served(
            bases=(first, second),
            logs=logs,
            env=env,
            keys=shared_keys,
            acme_queued=acme_queued,
            acme_file=completed_export(shared_engine, storage, folder, space_id="acme"),
            other_file=completed_export(shared_engine, storage, folder, space_id="other"),
        )


def _download_url(served: Served, key: str, export_id: int) -> str:
    status = httpx.get(f"{served.bases[1]}{EXPORTS}/{export_id}", headers=served.headers(key))
    assert status.status_code == 200, status.text
    return status.json()["download_url"]


def _parts(url: str) -> tuple[str, dict[str, str]]:
    split = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    return f"{split.scheme}://{split.netloc}{split.path}", query


def test_genuine_download_urls_serve_their_own_file(served: Served) -> None:
    for key, stored in [
        (served.keys.acme, served.acme_file),
        (served.keys.other, served.other_file),
    ]:
        response = httpx.get(_download_url(served, key, stored.export_id))
        assert response.status_code == 200
        assert response.content == stored.content


def _swap_id(acme: str, other: str, served: Served) -> str:
    path, query = _parts(acme)
    swapped = path.replace(f"/{served.acme_file.export_id}/", f"/{served.other_file.export_id}/")
    return f"{swapped}?expires={query['expires']}&signature={query['signature']}"


def _foreign_signature(acme: str, other: str, served: Served) -> str:
    path, _ = _parts(acme)
    _, query = _parts(other)
    return f"{path}?expires={query['expires']}&signature={query['signature']}"


def _longer_expiry(acme: str, other: str, served: Served) -> str:
    path, query = _parts(acme)
    return f"{path}?expires={int(query['expires']) + 3600}&signature={query['signature']}"


def _huge_expiry(acme: str, other: str, served: Served) -> str:
    path, query = _parts(acme)
    return f"{path}?expires={'9' * 5000}&signature={query['signature']}"


def _unsigned(acme: str, other: str, served: Served) -> str:
    path, query = _parts(acme)
    return f"{path}?expires={query['expires']}"


def _queued_export(acme: str, other: str, served: Served) -> str:
    path, query = _parts(acme)
    queued = path.replace(f"/{served.acme_file.export_id}/", f"/{served.acme_queued}/")
    return f"{queued}?expires={query['expires']}&signature={query['signature']}"


URL_FORGERIES: list[tuple[str, Callable[[str, str, Served], str]]] = [
    ("acme's signature on other's id", _swap_id),
    ("other's signature and expiry on acme's id", _foreign_signature),
    ("acme's signature with a later expiry", _longer_expiry),
    ("acme's signature with a 5000-digit expiry", _huge_expiry),
    ("no signature", _unsigned),
    ("acme's signature on acme's queued export", _queued_export),
]


@pytest.mark.parametrize("forge", [f for _, f in URL_FORGERIES], ids=[n for n, _ in URL_FORGERIES])
def test_a_download_url_cannot_be_turned_into_another(
    served: Served, forge: Callable[[str, str, Served], str]
) -> None:
    acme = _download_url(served, served.keys.acme, served.acme_file.export_id)
    other = _download_url(served, served.keys.other, served.other_file.export_id)
    forged = forge(acme, other, served)
    for key in (None, served.keys.acme, served.keys.other):
        response = httpx.get(forged, headers=served.headers(key) if key else {})
        assert response.status_code == 403, response.text
        assert response.content not in (served.acme_file.content, served.other_file.content)


NAMING_ACME: dict[str, object] = {"date": "2024-01-15", "space_id": "acme"}
CROSS_SPACE: list[tuple[str, str, Callable[[Served], int | None], dict[str, object] | None]] = [
    ("status of acme's queued export", "GET", lambda s: s.acme_queued, None),
    ("status of acme's completed export", "GET", lambda s: s.acme_file.export_id, None),
    ("create naming acme's space", "POST", lambda s: None, NAMING_ACME),
]


@pytest.mark.parametrize(
    ("method", "export_id", "body"),
    [c[1:] for c in CROSS_SPACE],
    ids=[c[0] for c in CROSS_SPACE],
)
@pytest.mark.parametrize("process", [0, 1])
def test_another_spaces_key_reaches_nothing_of_acme(
    served: Served,
    process: int,
    method: str,
    export_id: Callable[[Served], int | None],
    body: dict[str, object] | None,
) -> None:
    export = export_id(served)
    url = f"{served.bases[process]}{EXPORTS}" + (f"/{export}" if export else "")
    response = httpx.request(method, url, json=body, headers=served.headers(served.keys.other))
    assert response.status_code in (403, 404, 422)
    if export is not None:
        # Exactly what an id that exists nowhere gets: nothing tells that it exists.
        assert response.status_code == 404
        assert response.json() == {"message": f"Export {export} not found."}
        mine = httpx.get(url, headers=served.headers(served.keys.acme))
        assert mine.status_code == 200 and mine.json()["export_id"] == export
    else:
        assert "space_id" in response.json()["message"]


def test_keys_are_stored_only_hashed(served: Served, shared_engine: sa.Engine) -> None:
    dump = store_dump(shared_engine)
    database = shared_engine.url.database
    raw = b""
    if shared_engine.dialect.name == "sqlite" and database:
        raw = b"".join(
            p.read_bytes() for p in Path(database).parent.glob(Path(database).name + "*")
        )
    for key in vars(served.keys).values():
        assert hash_key(key) in dump
        assert key[:PREFIX_LENGTH] in dump
        assert key not in dump and key[PREFIX_LENGTH:] not in dump
        assert key.encode() not in raw and key[PREFIX_LENGTH:].encode() not in raw


def test_a_revoked_key_is_refused_at_once_by_every_process(
    served: Served, shared_engine: sa.Engine
) -> None:
    with shared_engine.begin() as conn:
        key = create_key(conn, space_id="acme")
    url = f"{EXPORTS}/{served.acme_queued}"
    assert [httpx.get(b + url, headers=served.headers(key)).status_code for b in served.bases] == [
        200,
        200,
    ]
    listing = run_cli(served.env, "keys", "list", "--space", "acme").stdout
    key_id = next(
        line.split("\t")[0] for line in listing.splitlines() if key[:PREFIX_LENGTH] in line
    )
    assert run_cli(served.env, "keys", "revoke", key_id).returncode == 0
    responses = [httpx.get(b + url, headers=served.headers(key)) for b in reversed(served.bases)]
    assert [r.status_code for r in responses] == [401, 401]
    assert all(key not in r.text for r in responses)


INVALID_BODY = b'{"date": "2024-01-15", "fields": ["nope"]}'


def test_no_key_in_logs_or_error_bodies(served: Served) -> None:
    keys = list(vars(served.keys).values())
    bodies = []
    for base in served.bases:
        with httpx.Client(base_url=f"{base}{EXPORTS}") as client:
            for key in keys:
                for header in (f"Bearer {key}", f"Bearer {key} extra", f"Basic {key}", key):
                    auth = {"Authorization": header}
                    for path in (f"/{served.acme_queued}", "/999999", "/not-a-number"):
                        bodies.append(client.get(path, headers=auth))
                    bodies.append(client.post("", content=INVALID_BODY, headers=auth))
    assert {r.status_code for r in bodies} >= {200, 401, 403, 404, 422}
    logs = "".join(log.read_text(errors="replace") for log in served.logs)
    assert "GET /public-api/v1/events/exports" in logs  # the access log is on: logs are read
    for key in keys:
        secret = key[PREFIX_LENGTH:]
        assert secret not in logs
        assert not [r for r in bodies if secret in r.text or secret in str(r.headers)]

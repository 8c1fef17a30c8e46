"""Oversized and deeply nested input to a served API process (real uvicorn limits): 100 KB
bodies, 10k-item arrays, deep JSON, huge numbers, ids and headers are a 4xx, never a 5xx,
and add no export."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from exports_pipeline.store.schema import exports
from exports_pipeline_tests.support.api import EXPORTS, Keys
from exports_pipeline_tests.support.served import served_api, unlimited_env

pytestmark = pytest.mark.integration

KB = 1000
ATTRIBUTED = {
    "date": "2024-01-15",
    "sources": ["facebook_ads"],
    "attribution_model": "linear",
    "attribution_window": 7,
}


def _json(**extra: object) -> bytes:
    return json.dumps({"date": "2024-01-15", **extra}).encode()


def _chunks(total: int) -> Iterator[bytes]:
    yield b'{"date": "2024-01-15", "padding": "'
    for _ in range(total // 1000):
        yield b"x" * 1000
    yield b'"}'


Send = Callable[[httpx.Client, str, dict[str, str]], httpx.Response]


def _post(body: bytes | Callable[[], Iterator[bytes]]) -> Send:
    def send(client: httpx.Client, base: str, headers: dict[str, str]) -> httpx.Response:
        content = body() if callable(body) else body
        return client.post(
            f"{base}{EXPORTS}",
            content=content,
            headers={**headers, "Content-Type": "application/json"},
        )

    return send


def _get(path: str, extra_headers: dict[str, str] | None = None) -> Send:
    def send(client: httpx.Client, base: str, headers: dict[str, str]) -> httpx.Response:
        return client.get(f"{base}{EXPORTS}{path}", headers={**headers, **(extra_headers or {})})

    return send


DEEP_ARRAYS_100KB = b'{"date": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
DEEP_ARRAYS_60KB = b'{"date": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
DEEP_OBJECTS = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
ATTRIBUTED_JSON = json.dumps(ATTRIBUTED).encode()
HUGE_WINDOW = ATTRIBUTED_JSON.replace(b": 7", b": " + b"9" * 5000)
INFINITE_WINDOW = ATTRIBUTED_JSON.replace(b": 7", b": 1e999")
LONG_ID = "9" * 10_000
CASES: list[tuple[str, Send, set[int]]] = [
    ("100 KB body", _post(_json(padding="x" * 100 * KB)), {413}),
    ("100 KB body, chunked, no Content-Length", _post(lambda: _chunks(100 * KB)), {413}),
    ("1 MB body", _post(_json(padding="x" * 1000 * KB)), {413}),
    ("10k-item event_names (120 KB)", _post(_json(event_names=["purchase"] * 10_000)), {413}),
    ("10k-item fields (60 KB)", _post(_json(fields=["id"] * 10_000)), {422}),
    (
        "10k-item sources of numbers",
        _post(json.dumps({**ATTRIBUTED, "sources": [0] * 10_000}).encode()),
        {422},
    ),
    ("10k-item event_names of nulls", _post(_json(event_names=[None] * 10_000)), {422}),
    ("2000 unknown keys", _post(_json(**{f"k{i}": i for i in range(2000)})), {422}),
    ("60 KB date string", _post(_json(date="9" * 60 * KB)), {422}),
    ("60 KB unknown key name", _post(_json(**{"k" * 60 * KB: 1})), {422}),
    ("50k nested arrays (100 KB)", _post(DEEP_ARRAYS_100KB), {413}),
    ("30k nested arrays in date", _post(DEEP_ARRAYS_60KB), {422}),
    ("10k nested objects", _post(DEEP_OBJECTS), {422}),
    (
        "500 nested arrays in event_names",
        _post(_json(event_names=json.loads("[" * 500 + "]" * 500))),
        {422},
    ),
    ("5000-digit attribution_window", _post(HUGE_WINDOW), {422}),
    ("1e999 attribution_window", _post(INFINITE_WINDOW), {422}),
    ("10k-digit export id, status", _get("/" + LONG_ID), {404, 422}),
    (
        "10k-digit export id, download",
        _get("/" + LONG_ID + "/download?expires=1&signature=a"),
        {403},
    ),
    (
        "5000-digit expiry, download",
        _get("/1/download?expires=" + "9" * 5000 + "&signature=a"),
        {403},
    ),
    (
        "60 KB signature, download",
        _get("/1/download?expires=1&signature=" + "a" * 60 * KB),
        {403, 414},
    ),
    (
        "100 KB Authorization header",
        _get("/1", {"Authorization": "Bearer " + "a" * 100 * KB}),
        {431},
    ),
    ("100 KB custom header", _get("/1", {"X-Padding": "a" * 100 * KB}), {431}),
    ("70 headers of 1 KB", _get("/1", {f"X-Pad-{i}": "a" * KB for i in range(70)}), {431}),
    # Under the cap (64 KiB of line and headers): read, and answered by the route.
    ("60 headers of 1 KB", _get("/1", {f"X-Pad-{i}": "a" * KB for i in range(60)}), {404}),
]


@pytest.fixture(scope="module")
def served(
    shared_store_url: str, shared_keys: Keys, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("oversized")
    env = unlimited_env(shared_store_url, home / "home")
    with served_api(env, home / "api.log") as base_url:
        yield base_url


@pytest.mark.parametrize(("name", "send", "expected"), CASES, ids=[c[0] for c in CASES])
def test_oversized_input_is_a_4xx_and_adds_nothing(
    served: str,
    shared_engine: sa.Engine,
    shared_keys: Keys,
    name: str,
    send: Send,
    expected: set[int],
) -> None:
    with shared_engine.connect() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(exports)).scalar_one()
    with httpx.Client(timeout=30) as client:
        response = send(client, served, {"Authorization": f"Bearer {shared_keys.acme}"})
    assert response.status_code in expected, (response.status_code, response.text[:300])
    with shared_engine.connect() as conn:
        after = conn.execute(sa.select(sa.func.count()).select_from(exports)).scalar_one()
    assert after == before


@pytest.mark.parametrize(
    ("padding", "piece"), [(100 * KB, 1000), (100 * KB, 200 * KB), (5000 * KB, 64 * KB)]
)
def test_a_head_over_the_cap_is_431_in_the_apis_error_body_however_it_arrives(
    served: str, padding: int, piece: int
) -> None:
    """A head sent in small pieces (h11 measures it while incomplete), in one (measured
    once parsed) or far too big (the rest is read and dropped, not reset) is refused the
    same way, before any route runs, and the client reads the answer."""
    host, port = served.removeprefix("http://").split(":")
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * padding + b"\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        for start in range(0, len(head), piece):
            sock.sendall(head[start : start + piece])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 431 Request Header Fields Too Large"
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in headers.lower()
    assert json.loads(body) == {"message": "The request's line and headers exceed 65536 bytes."}

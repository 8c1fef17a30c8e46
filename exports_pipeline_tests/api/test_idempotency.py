"""SPEC 6.1: an Idempotency-Key replays the first create for 24 hours, free of the limit."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
import time_machine
from fastapi.testclient import TestClient

from exports_pipeline.store.schema import exports, idempotency_keys
from exports_pipeline_tests.support.api import EXPORTS, Keys, bearer

NOW = dt.datetime(2024, 6, 15, 12, 0, 20, tzinfo=dt.UTC)
BODY = {"date": "2024-01-15", "event_names": ["purchase", "lead_generated"]}


@pytest.fixture
def frozen():  # type: ignore[no-untyped-def]
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def _create(client: TestClient, key: str, body: object = BODY, **headers: str):  # type: ignore[no-untyped-def]
    return client.post(EXPORTS, json=body, headers={**bearer(key), **headers})


def _keyed(idempotency_key: str) -> dict[str, str]:
    return {"Idempotency-Key": idempotency_key}


def _exports(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(exports)).scalar_one()


def _keys(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(idempotency_keys)).scalar_one()


@pytest.mark.usefixtures("frozen")
def test_a_replay_answers_the_first_answer_and_creates_nothing(
    client: TestClient, keys: Keys, store_engine: sa.Engine
) -> None:
    first = client.post(EXPORTS, json=BODY, headers={**bearer(keys.acme), **_keyed("order-42")})
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first.headers
    # Same request written differently: other key order, whitespace, a default spelled out.
    again = client.post(
        EXPORTS,
        content=b'{ "query_mode": "profile", "event_names": ["purchase", "lead_generated"],'
        b'  "date":"2024-01-15" }',
        headers={**bearer(keys.acme), **_keyed("order-42"), "Content-Type": "application/json"},
    )
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _exports(store_engine) == 1
    # The replay was not counted: the first create used one of five.
    assert again.headers["X-RateLimit-Remaining"] == "4"


@pytest.mark.usefixtures("frozen")
def test_keys_are_scoped_to_the_space(
    client: TestClient, keys: Keys, store_engine: sa.Engine
) -> None:
    acme = _create(client, keys.acme, **_keyed("k"))
    other = _create(client, keys.other, **_keyed("k"))
    assert acme.status_code == other.status_code == 202
    assert acme.json()["export_id"] != other.json()["export_id"]
    assert _exports(store_engine) == 2


@pytest.mark.parametrize(
    "changed",
    [
        {"date": "2024-01-16", "event_names": ["purchase", "lead_generated"]},
        {"date": "2024-01-15", "event_names": ["lead_generated", "purchase"]},
        {"date": "2024-01-15"},
        {**BODY, "query_mode": "company"},
    ],
    ids=["other date", "other order of a list", "field dropped", "field added"],
)
@pytest.mark.usefixtures("frozen")
def test_the_same_key_with_another_request_is_422_naming_the_header(
    client: TestClient, keys: Keys, store_engine: sa.Engine, changed: dict
) -> None:
    assert _create(client, keys.acme, **_keyed("k1")).status_code == 202
    response = _create(client, keys.acme, changed, **_keyed("k1"))
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["message"]
    assert response.json()["errors"][0]["field"] == "Idempotency-Key"
    assert _exports(store_engine) == 1
    # A refused request counts like any other.
    assert response.headers["X-RateLimit-Remaining"] == "3"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("", "1-255"),
        ("x" * 256, "1-255"),
        ("clé", "printable ASCII"),
        ("tab\there", "printable ASCII"),
    ],
    ids=["empty", "256 characters", "not ascii", "control character"],
)
@pytest.mark.usefixtures("frozen")
def test_a_malformed_key_is_422_and_stores_nothing(
    client: TestClient, keys: Keys, store_engine: sa.Engine, value: str, rule: str
) -> None:
    response = client.post(
        EXPORTS,
        json=BODY,
        headers=[
            ("Authorization", f"Bearer {keys.acme}"),
            ("Idempotency-Key", value.encode()),
        ],
    )
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["message"] and rule in response.json()["message"]
    assert (_exports(store_engine), _keys(store_engine)) == (0, 0)


@pytest.mark.usefixtures("frozen")
def test_the_longest_key_and_every_printable_character_are_accepted(
    client: TestClient, keys: Keys
) -> None:
    printable = "".join(chr(c) for c in range(0x21, 0x7F))
    for value in ("x" * 255, printable, "a b"):
        assert _create(client, keys.acme, **_keyed(value)).status_code == 202
        assert _create(client, keys.acme, **_keyed(value)).headers["Idempotent-Replayed"] == "true"


@pytest.mark.usefixtures("frozen")
def test_a_key_sent_twice_is_422(client: TestClient, keys: Keys) -> None:
    response = client.post(
        EXPORTS,
        json=BODY,
        headers=[
            ("Authorization", f"Bearer {keys.acme}"),
            ("Idempotency-Key", "a"),
            ("Idempotency-Key", "a"),
        ],
    )
    assert response.status_code == 422 and "once" in response.json()["message"]


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        ("acme_revoked", BODY, 401),
        ("acme_no_export", BODY, 403),
        ("lapsed", BODY, 403),
        ("acme", {"date": "2024-13-01"}, 422),
        ("acme", {"date": "2024-01-15", "unknown": 1}, 422),
    ],
)
@pytest.mark.usefixtures("frozen")
def test_a_refused_request_stores_no_key(
    client: TestClient, keys: Keys, store_engine: sa.Engine, who: str, body: dict, status: int
) -> None:
    assert _create(client, getattr(keys, who), body, **_keyed("k")).status_code == status
    assert _keys(store_engine) == 0
    if who == "acme":
        # The key is still free: the corrected request creates the export.
        assert _create(client, keys.acme, **_keyed("k")).status_code == 202
        assert _keys(store_engine) == 1


@pytest.mark.usefixtures("frozen")
def test_a_429_stores_no_key_and_a_replay_is_answered_when_the_limit_is_spent(
    client: TestClient, keys: Keys, store_engine: sa.Engine
) -> None:
    first = _create(client, keys.acme, **_keyed("first"))
    for n in range(4):
        assert _create(client, keys.acme, {"date": f"2024-01-0{n + 1}"}).status_code == 202
    refused = _create(client, keys.acme, {"date": "2024-02-01"}, **_keyed("late"))
    assert refused.status_code == 429
    replay = _create(client, keys.acme, **_keyed("first"))
    assert replay.status_code == 202
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["X-RateLimit-Remaining"] == "0"
    assert _keys(store_engine) == 1
    # Still spent for anything new, the refused key included.
    assert _create(client, keys.acme, {"date": "2024-02-01"}, **_keyed("late")).status_code == 429


def test_a_key_is_forgotten_after_24_hours(
    client: TestClient, keys: Keys, store_engine: sa.Engine
) -> None:
    with time_machine.travel(NOW, tick=False) as traveller:
        first = _create(client, keys.acme, **_keyed("daily"))
        traveller.move_to(NOW + dt.timedelta(hours=24) - dt.timedelta(seconds=1))
        assert _create(client, keys.acme, **_keyed("daily")).json() == first.json()
        traveller.move_to(NOW + dt.timedelta(hours=24))
        later = _create(client, keys.acme, {"date": "2024-01-20"}, **_keyed("daily"))
        assert later.status_code == 202
        assert "Idempotent-Replayed" not in later.headers
        assert later.json()["export_id"] != first.json()["export_id"]
        assert _create(client, keys.acme, {"date": "2024-01-20"}, **_keyed("daily")).json() == (
            later.json()
        )
    assert (_exports(store_engine), _keys(store_engine)) == (2, 1)


@pytest.mark.usefixtures("frozen")
def test_without_a_key_nothing_changes(client: TestClient, keys: Keys) -> None:
    one, two = _create(client, keys.acme), _create(client, keys.acme)
    assert one.json()["export_id"] != two.json()["export_id"]
    assert "Idempotent-Replayed" not in two.headers


def test_openapi_documents_the_header(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][EXPORTS]["post"]
    (header,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert header["in"] == "header" and header["schema"]["maxLength"] == 255
    assert "Idempotent-Replayed" in operation["responses"]["202"]["headers"]

"""Faults that kill real processes (issue 7): the API killed during a burst of creates.

The killed run worker and the daemon stopped with exports queued are covered with the
whole deployment in `exports_pipeline_tests/pipeline/test_integration.py`. Figures are
printed, never asserted.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest
import sqlalchemy as sa

from exports_pipeline.store.keys import create_key
from exports_pipeline.store.schema import exports
from exports_pipeline_tests.support.served import start_api, stop_api, unlimited_env
from exports_pipeline_tests.support.small_store import EXPORT_DATE, SPACE, seed_small_store

pytestmark = pytest.mark.integration

CLIENTS = 8
KILL_AFTER_ACCEPTED = 40


def test_an_api_killed_mid_burst_loses_no_accepted_export(store_engine, store_url, tmp_path):
    seed_small_store(store_engine)
    with store_engine.begin() as conn:
        key = create_key(conn, space_id=SPACE)
    store_engine.dispose()
    env = unlimited_env(store_url, tmp_path / "home")
    log = tmp_path / "api.log"
    process, base_url = start_api(env, log)
    headers = {"Authorization": f"Bearer {key}"}
    lock = threading.Lock()
    accepted: list[int] = []
    other_statuses: list[int] = []
    transport_errors = 0
    sent = 0
    stop = threading.Event()

    def client() -> None:
        nonlocal transport_errors, sent
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as http:
            while not stop.is_set():
                with lock:
                    sent += 1
                try:
                    response = http.post(
                        "/public-api/v1/events/exports", json={"date": EXPORT_DATE.isoformat()}
                    )
                except httpx.TransportError:
                    with lock:
                        transport_errors += 1
                    time.sleep(0.01)
                    continue
                with lock:
                    if response.status_code == 202:
                        accepted.append(response.json()["export_id"])
                    else:
                        other_statuses.append(response.status_code)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 120
        while len(accepted) < KILL_AFTER_ACCEPTED and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)  # mid-burst: requests are in flight
        process.wait()
        time.sleep(0.5)  # the clients see the dead API
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        if process.poll() is None:
            stop_api(process)

    restarted, base_url = start_api(env, log)
    try:
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as http:
            statuses = {
                export_id: http.get(f"/public-api/v1/events/exports/{export_id}")
                for export_id in accepted
            }
    finally:
        stop_api(restarted)
    with store_engine.connect() as conn:
        stored = set(conn.execute(sa.select(exports.c.id)).scalars())
    store_engine.dispose()
    lost = sorted(set(accepted) - stored)
    print(
        f"\nAPI SIGKILLed mid-burst: {sent} creates sent, {len(accepted)} accepted (202), "
        f"{transport_errors} cut off or refused, {len(other_statuses)} other answers; "
        f"after restart {len(accepted) - len(lost)}/{len(accepted)} accepted exports found, "
        f"{len(stored) - len(set(accepted))} stored whose answer was lost"
    )
    assert len(accepted) >= KILL_AFTER_ACCEPTED
    assert other_statuses == []
    assert transport_errors > 0  # the kill really cut requests off
    assert lost == []
    assert {i: r.status_code for i, r in statuses.items()} == dict.fromkeys(accepted, 200)
    assert all(r.json()["status"] == "queued" for r in statuses.values())

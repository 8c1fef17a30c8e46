"""Running `exports-pipeline` commands and the API server as real processes in tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

CLI = str(Path(sys.executable).parent / "exports-pipeline")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(store_url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTS_")}
    env.update(
        EXPORTS_DATABASE_URL=store_url,
        EXPORTS_HOME=str(home),
        EXPORTS_SIGNING_SECRET="served-test-secret-at-least-32-bytes",
        **extra,
    )
    return env


def unlimited_env(store_url: str, home: Path, **extra: str) -> dict[str, str]:
    """`cli_env` with rate limits no test reaches, for tests about something else."""
    return cli_env(
        store_url,
        home,
        EXPORTS_RATE_LIMIT_CREATE_PER_MINUTE="1000000",
        EXPORTS_RATE_LIMIT_STATUS_PER_MINUTE="1000000",
        **extra,
    )


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def start_api(
    env: dict[str, str], log: Path, *, workers: int = 1
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `exports-pipeline api` on a free port; (process, base URL) once it is healthy.

    EXPORTS_PUBLIC_BASE_URL is left as `env` has it: unset, download URLs are on the URL
    each request came to."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    args = [CLI, "api", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    with log.open("ab") as out:
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"API exited with {process.returncode}:\n{log.read_text()}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    return process, base_url
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"API did not become healthy:\n{log.read_text()}")
            time.sleep(0.1)
    except BaseException:
        stop_api(process)
        raise


def stop_api(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def served_api(env: dict[str, str], log: Path, *, workers: int = 1) -> Iterator[str]:
    """Start `exports-pipeline api` on a free port; yield its base URL once it is healthy."""
    log.write_bytes(b"")
    process, base_url = start_api(env, log, workers=workers)
    try:
        yield base_url
    finally:
        stop_api(process)


def wait_for_fresh_minute(margin_seconds: float = 8.0) -> None:
    """Sleep into the next minute when fewer than `margin_seconds` are left in this one,
    so a burst of requests stays inside one rate limit window."""
    left = 60 - time.time() % 60
    if left < margin_seconds:
        time.sleep(left + 0.05)

"""A real webhook receiver on 127.0.0.1 (pytest-httpserver) that answers from a script."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

HOOK_PATH = "/hook"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers each POST to /hook with the next status of `answers` (then 200), after
    waiting `delay` seconds; records every request it got."""

    def __init__(self, port: int = 0, answers: list[int] | None = None, delay: float = 0.0):
        self.answers = list(answers or [])
        self.delay = delay
        self.received: list[Received] = []
        self.release = threading.Event()
        self.release.set()
        self._lock = threading.Lock()
        self.server = HTTPServer(host="127.0.0.1", port=port, threaded=True)
        self.server.expect_request(HOOK_PATH, method="POST").respond_with_handler(self._answer)

    def _answer(self, request: Request) -> Response:
        with self._lock:
            self.received.append(Received(dict(request.headers), request.get_data()))
            status = self.answers.pop(0) if self.answers else 200
        self.release.wait(timeout=60)
        if self.delay:
            time.sleep(self.delay)
        return Response("ok" if status < 300 else "no", status=status)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}{HOOK_PATH}"

    def start(self) -> Receiver:
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server.is_running():
            self.server.stop()


@contextmanager
def receiver(**kwargs: object) -> Iterator[Receiver]:
    running = Receiver(**kwargs).start()  # type: ignore[arg-type]
    try:
        yield running
    finally:
        running.release.set()
        running.stop()


def free_port() -> int:
    """A port nothing listens on (a receiver that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

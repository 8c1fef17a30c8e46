"""Real webhook receivers on 127.0.0.1: one (pytest-httpserver) that answers from a script,
and plain socket ones that answer too slowly or too much."""

from __future__ import annotations

import select
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


class SocketReceiver:
    """A receiver on a plain socket: reads each request whole, then `answer`s it on the
    connection; notes the requests it read and when (monotonic) the sender hung up."""

    def __init__(self) -> None:
        self.requests = 0
        self.hung_up_at: list[float] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}{HOOK_PATH}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                _read_request(conn)
                self.requests += 1
                self.answer(conn)
            except OSError:
                self.hung_up_at.append(time.monotonic())

    def answer(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def hung_up(self, conn: socket.socket, wait: float) -> bool:
        """Whether the sender closes the connection within `wait` seconds (noted)."""
        readable, _, _ = select.select([conn], [], [], wait)
        if readable and not conn.recv(1):
            self.hung_up_at.append(time.monotonic())
            return True
        return False

    def __enter__(self) -> SocketReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()


def _read_request(conn: socket.socket) -> None:
    """Read a request's head and its body (of the length the head gives)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += _received(conn)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += _received(conn)


def _received(conn: socket.socket) -> bytes:
    data = conn.recv(65536)
    if not data:
        raise ConnectionAbortedError("the sender hung up mid-request")
    return data


class Trickler(SocketReceiver):
    """Answers a valid `200`, one byte every `interval` seconds (each read well inside any
    read timeout), until the sender hangs up."""

    ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"

    def __init__(self, interval: float = 1.5) -> None:
        super().__init__()
        self.interval = interval

    def answer(self, conn: socket.socket) -> None:
        for byte in self.ANSWER:
            if self.hung_up(conn, self.interval):
                return
            conn.sendall(bytes([byte]))
        self.hung_up(conn, 30.0)


class EndlessAnswer(SocketReceiver):
    """Answers `200` with a body that never ends, sent as fast as the sender reads it."""

    def answer(self, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
        chunk = b"x" * 16384
        while not self._stop.is_set():
            conn.sendall(chunk)

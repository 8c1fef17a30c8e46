"""Real faults for the pipeline fault tests: an HTTP proxy that answers 503, a database
backend terminated mid-query, a full or unwritable storage folder."""

from __future__ import annotations

import http.client
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa

S3_ERRORS = {
    500: (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
        b"<Message>We encountered an internal error. (injected by the test proxy)</Message>"
        b"</Error>"
    ),
    503: (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
        b"<Message>Please reduce your request rate. (injected by the test proxy)</Message>"
        b"</Error>"
    ),
}


class FaultProxy(ThreadingHTTPServer):
    """Forwards HTTP to `upstream`; answers `status` (S3's 500 or 503) to the next
    `fail_writes` PUT/POST requests.

    `fail_writes = -1` fails every write (a storage that stays down).
    """

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = urlsplit(upstream)
        self.fail_writes = 0
        self.status = 503
        self.injected = 0
        self.forwarded_writes = 0
        self.lock = threading.Lock()
        # Called at each write request, before it is answered (e.g. to look at the store).
        self.on_write: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def should_fail(self, method: str) -> bool:
        if method not in ("PUT", "POST"):
            return False
        if self.on_write is not None:
            self.on_write()
        with self.lock:
            if self.fail_writes == 0:
                self.forwarded_writes += 1
                return False
            self.fail_writes -= 1 if self.fail_writes > 0 else 0
            self.injected += 1
            return True


class _Handler(BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    # trailers end with an empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._body()
        if self.server.should_fail(self.command):
            status = self.server.status
            self._reply(status, {"Content-Type": "application/xml"}, S3_ERRORS[status])
            return
        upstream = self.server.upstream
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding",)}
        headers["Content-Length"] = str(len(body))
        conn.request(self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        skip = ("transfer-encoding", "content-length", "connection")
        self._reply(
            response.status, {k: v for k, v in response.getheaders() if k.lower() not in skip}, data
        )
        conn.close()

    def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


@contextmanager
def fault_proxy(upstream: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()


class BackendTerminator:
    """Terminates the store's queries that wait on a table this object holds locked.

    `LOCK TABLE … IN ACCESS EXCLUSIVE MODE` in an open transaction makes every query on
    the table wait; a background thread terminates each waiting backend
    (`pg_terminate_backend`, as an operator or a failover would) until `times` of them
    were killed (-1: every one), then releases the lock so later queries run.
    """

    def __init__(
        self, url: str, table: str, times: int, on_terminate: Callable[[], None] | None = None
    ) -> None:
        self.engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.table, self.times, self.on_terminate = table, times, on_terminate
        self.terminated = 0
        self._stop = threading.Event()
        self._holder = self.engine.connect()
        self._tx = self._holder.begin()
        self._holder.execute(sa.text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        killed: set[int] = set()
        with self.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            while not self._stop.is_set() and self.times != self.terminated:
                pids = (
                    conn.execute(
                        sa.text(
                            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                        )
                    )
                    .scalars()
                    .all()
                )
                # A terminated backend can still be listed for a moment: kill each one once.
                for pid in set(pids) - killed:
                    killed.add(pid)
                    if self.on_terminate is not None:
                        self.on_terminate()
                    kill = sa.text("SELECT pg_terminate_backend(:pid)")
                    if conn.execute(kill, {"pid": pid}).scalar():
                        self.terminated += 1
                        if self.terminated == self.times:
                            break
                time.sleep(0.02)
        self._tx.rollback()  # the lock goes: the next attempt's queries run

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        if self._tx.is_active:
            self._tx.rollback()
        self._holder.close()
        self.engine.dispose()


@contextmanager
def tiny_full_tmpfs(path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs at `path`, filled up: every write there fails with ENOSPC."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise PermissionError(done.stderr.strip() or "mount failed")
    try:
        try:
            with (path / "filler").open("wb") as out:
                while True:
                    out.write(b"\0" * 4096)
                    out.flush()
        except OSError:
            pass
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False, capture_output=True)

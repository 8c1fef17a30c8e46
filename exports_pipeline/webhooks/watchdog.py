"""A hard deadline for one webhook attempt: a timer that shuts the attempt's connection down.

httpx's timeout bounds each read, not the attempt: a receiver that sends one byte just
inside it holds an attempt for as long as it likes. The watchdog learns the attempt's TCP
socket from httpcore's `trace` extension and keeps a duplicate of it (TLS then runs over
the same connection); once its time is up it shuts the connection down: a read blocked in
the TLS handshake, the headers or the body returns at once and the attempt fails. A
connection made after the time is up is shut down as soon as it is known. The connection
itself is made by httpx as before, to the address that was checked.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Mapping
from types import TracebackType
from typing import Any

# httpcore's trace event that hands over the new TCP stream (`info["return_value"]`).
_CONNECTED = "connection.connect_tcp.complete"


def _shut_down(sock: socket.socket) -> None:
    # Shutdown, not close: it wakes a read blocked in another thread on the same connection.
    # An error means the receiver closed it already: nothing to stop.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """Shuts down the connection of one attempt `seconds` after it is entered; pass
    `trace` as the request's `trace` extension. `fired` says whether the time ran out."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._fired = False
        self._done = False
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    @property
    def fired(self) -> bool:
        with self._lock:
            return self._fired

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._timer.cancel()
        with self._lock:
            self._done = True
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace hook: keeps a duplicate of each new connection's socket."""
        if event != _CONNECTED:
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return
        # A duplicate of our own: it stays valid while TLS takes the original over, and
        # its number cannot be reused by another connection until we close it.
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            if self._fired:
                _shut_down(duplicate)

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return  # the attempt ended in time
            self._fired = True
            for sock in self._sockets:
                _shut_down(sock)

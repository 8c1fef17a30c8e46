"""The HTTP/1.1 protocol the API is served with: uvicorn's h11 one, with a cap on the
request's head (request line and headers) answered by `431 Request Header Fields Too
Large` and the API's error body, `{"message": ...}`.

uvicorn's default parser (httptools) reads headers of any size, and its h11 protocol
answers a head over h11's limit with a bare 400. h11 itself tells the status it meant
(`RemoteProtocolError.error_status_hint`, 431 for a head past `max_incomplete_event_size`);
this protocol answers with it.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

# The most bytes of a request's line and headers read (the body is limited by the routes).
MAX_REQUEST_HEAD_BYTES = 64 * 1024
# How long a refused connection is still read (and dropped) before it is closed.
LINGER_SECONDS = 2.0


class _Connection(h11.Connection):
    """An h11 connection that refuses a head over `MAX_REQUEST_HEAD_BYTES` and remembers
    the status its last protocol error called for.

    h11 checks its limit only while a head is incomplete; one that arrives whole in one
    read is measured here."""

    refused_with = 400

    def next_event(self) -> Any:
        try:
            event = super().next_event()
            if isinstance(event, h11.Request) and _head_bytes(event) > MAX_REQUEST_HEAD_BYTES:
                raise h11.RemoteProtocolError("request head too large", error_status_hint=431)
            return event
        except h11.RemoteProtocolError as exc:
            self.refused_with = exc.error_status_hint
            raise


def _head_bytes(request: h11.Request) -> int:
    """About the bytes of the request's line and headers as sent."""
    line = len(request.method) + len(request.target) + 11
    return line + sum(len(name) + len(value) + 4 for name, value in request.headers)


class CappedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the head capped at `MAX_REQUEST_HEAD_BYTES` (431).

    A refused connection is closed the lingering way: the answer is sent and the sending
    side shut, then what the client still sends is read and dropped for up to
    `LINGER_SECONDS` (or until it closes). Closing at once, with the rest of its head
    unread, would reset the connection and could lose the answer before the client
    reads it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = _Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        refused_with = getattr(self.conn, "refused_with", 400)
        if refused_with != 431:
            super().send_400_response(msg)
            return
        reason = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE.phrase.encode()
        message = f"The request's line and headers exceed {MAX_REQUEST_HEAD_BYTES} bytes."
        self.logger.warning("request refused: %s", message)
        body = json.dumps({"message": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=431, headers=headers, reason=reason),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self._refused = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

"""uvicorn's httptools protocol with a cap on a request's head (request line and headers).

httptools buffers a header of any size until it is complete, so a 10 MB header, or 20,000 of them,
would be read into memory before the app could say no. This protocol counts the bytes received
while a request's head is unfinished and, past `MAX_HEAD_BYTES`, answers 431 (JSON, as every error)
and closes the connection. `api.guard` applies the finer limits (field count, total size) to the
heads that get through, with the same answer. `circlebuy serve` runs uvicorn with this class.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024


def _refusal(detail: str) -> bytes:
    body = json.dumps({"error": "headers_too_large", "detail": detail}).encode()
    return (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        b"content-type: application/json\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"connection: close\r\n\r\n" + body
    )


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that refuses a request head larger than MAX_HEAD_BYTES (431, then close)."""

    max_head_bytes = MAX_HEAD_BYTES
    _in_head = False
    _head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head, self._head_bytes = True, 0

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self._in_head or self.transport.is_closing():
            return
        self._head_bytes += len(data)  # still inside one request's head after all bytes so far
        if self._head_bytes > self.max_head_bytes:
            self._in_head = False
            self.logger.warning("request head over %d bytes refused (431)", self.max_head_bytes)
            self.transport.write(
                _refusal(f"the request line and headers are limited to {self.max_head_bytes} bytes")
            )
            self.transport.close()

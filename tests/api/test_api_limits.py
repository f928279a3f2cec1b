"""Limits and order of checks: the key before the body, bodies and headers capped (413 / 431), on a
real server over a raw socket (what a probe sends) and in-process."""

from __future__ import annotations

import contextlib
import socket
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from tests.api.conftest import LiveServer, bearer

FEEDBACK = "/v1/groups/G1/feedback"


def exchange(server: LiveServer, head: bytes, body: bytes = b"", timeout: float = 5.0) -> bytes:
    """Send a request head (and part of a body), return what the server answers before closing."""
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head + body)  # the server may refuse and close before all of it is sent
        chunks = []
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                chunks.append(data)
                if b"\r\n\r\n" in b"".join(chunks) and b"connection: close" not in b"".join(chunks).lower():
                    break
        except ConnectionResetError:
            pass
        return b"".join(chunks)


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def post_head(length: int, key: str | None = None, extra: bytes = b"") -> bytes:
    auth = f"Authorization: Bearer {key}\r\n".encode() if key else b""
    return (
        f"POST {FEEDBACK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n".encode() + auth + extra + b"\r\n"
    )


def test_a_huge_body_without_a_key_is_refused_before_it_is_read(
    live_server: LiveServer, keys: dict[str, str]
) -> None:
    """100 MB declared, 1 KB sent: the answer comes at once (401 without a key, 413 with one)."""
    answer = exchange(live_server, post_head(100_000_000), b"x" * 1024)
    assert status_of(answer) == 401 and b'"missing_key"' in answer
    answer = exchange(live_server, post_head(100_000_000, keys["S1"]), b"x" * 1024)
    assert status_of(answer) == 413 and b'"body_too_large"' in answer


def test_a_streamed_body_past_the_cap_is_413(live_server: LiveServer, keys: dict[str, str]) -> None:
    head = (
        f"POST {FEEDBACK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {keys['S1']}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"x" * 3000
    body = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 3  # 9,000 bytes, no final chunk yet
    answer = exchange(live_server, head, body)
    assert status_of(answer) == 413 and b'"body_too_large"' in answer


def test_huge_or_many_headers_are_431(live_server: LiveServer) -> None:
    big = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 70_000  # head never ends
    answer = exchange(live_server, big)
    assert status_of(answer) == 431 and b'"headers_too_large"' in answer
    many = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(
        b"X-H%d: 1\r\n" % i for i in range(20_000)
    )
    assert status_of(exchange(live_server, many + b"\r\n")) == 431
    some = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"".join(b"X-H%d: 1\r\n" % i for i in range(200))
    answer = exchange(live_server, some + b"\r\n")
    assert status_of(answer) == 431 and b'"headers_too_large"' in answer
    ok = exchange(live_server, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status_of(ok) == 200


def test_the_key_is_checked_before_the_body(client: TestClient, keys: dict[str, str]) -> None:
    """Malformed JSON, a wrong content type or a huge body without a key: 401, not 422 / 413."""
    for body in (b"{not json", b"x" * 10_000):
        r = client.post(FEEDBACK, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 401 and r.json()["error"] == "missing_key", r.text
    r = client.post(FEEDBACK, content=b"{not json", headers={"Authorization": "Bearer cb_0_nope"})
    assert r.status_code == 401 and r.json()["error"] == "unknown_key"
    r = client.post(FEEDBACK, content=b"x" * 10_000, headers=bearer(keys["S1"]))
    assert r.status_code == 413 and set(r.json()) == {"error", "detail"}
    assert "4096" in r.json()["detail"]


def test_header_limits_in_process(client: TestClient) -> None:
    r = client.get("/healthz", headers={f"x-h{i}": "1" for i in range(150)})
    assert r.status_code == 431 and r.json()["error"] == "headers_too_large"
    r = client.get("/healthz", headers={"x-big": "a" * 20_000})
    assert r.status_code == 431
    assert client.get("/healthz", headers={"x-fine": "a" * 1000}).status_code == 200

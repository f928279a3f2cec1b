"""The service's front door: limits, authentication before any body is read, same-origin page posts,
HEAD, and the browser-hardening headers of the pages. One pure ASGI middleware (no
BaseHTTPMiddleware: it would cost more than the picks route), inside `ObserveMiddleware` so that
every refusal is counted and logged like any other answer.

In order, for each HTTP request:

1. Headers: more than `max_headers` or more than `max_header_bytes` in all -> 431. (The server's
   protocol, `api.protocol`, refuses an unfinished head past a hard cap before it is buffered.)
2. `/v1/...`: the key is checked first (401 `missing_key` / `unknown_key` / `revoked_key`), so a
   request without a valid key never has its body read or parsed. A trailing slash is dropped
   (`/v1/groups/G1/picks/` is served as `/v1/groups/G1/picks`), not redirected.
3. A declared body over `max_body_bytes` -> 413 at once; a streamed one is read up to the cap
   (413 past it) and replayed to the app. Either refusal closes the connection.
4. A browser request that changes state (a page form, or the API with the sign-in cookie) must come
   from this site: `Sec-Fetch-Site` other than same-origin / none, or an `Origin` other than this
   host, -> 403 `cross_site` (login CSRF, logout CSRF). Scripts with a Bearer key are not browsers.
5. HEAD is answered as GET without the body.
6. Pages, static files and docs get CSP, frame-ancestors / X-Frame-Options, nosniff and
   Referrer-Policy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from api.auth import authenticate
from api.errors import ApiError, error_body
from api.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
CLOSE = {"Connection": "close"}


class TooLarge(Exception):
    """The streamed body went past the cap."""


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def same_origin(scope: Scope, trusted: frozenset[str] = frozenset()) -> str | None:
    """None when a state-changing browser request comes from this site, else why not (in words).

    `Sec-Fetch-Site` (sent by every current browser) must be same-origin or none (typed / bookmarked);
    an `Origin` must name this host (or one of `trusted`). A request with neither is not from a
    browser's cross-site form or script, so it passes.
    """
    site = _header(scope, b"sec-fetch-site")
    if site is not None and site.lower() not in (b"same-origin", b"none"):
        return f"Sec-Fetch-Site is {site.decode('latin-1')!r}"
    origin = _header(scope, b"origin")
    if origin is None:
        return None
    text = origin.decode("latin-1").strip()
    host = (_header(scope, b"host") or b"").decode("latin-1").strip().lower()
    netloc = urlsplit(text).netloc.lower() if text != "null" else ""
    if text in trusted or (netloc and netloc == host):
        return None
    return f"Origin {text!r} is not this site ({host or 'no Host header'})"


class GuardMiddleware:
    """See the module docstring; settings come from the app (`create_app`)."""

    def __init__(self, app: Callable, settings: Settings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        s = self.settings
        headers = scope["headers"]
        if len(headers) > s.max_headers or sum(len(k) + len(v) for k, v in headers) > s.max_header_bytes:
            await self._refuse(
                scope, receive, send, 431, "headers_too_large",
                f"request headers are limited to {s.max_headers} fields and {s.max_header_bytes} "
                "bytes in all",
            )
            return
        path: str = scope["path"]
        api = path.startswith("/v1/")
        if api:
            try:
                authenticate(Request(scope))
            except ApiError as exc:
                body_pending = _header(scope, b"content-length") not in (None, b"0") or (
                    _header(scope, b"transfer-encoding") is not None)
                extra = CLOSE if body_pending else {}
                await error_body(exc.status, exc.code, exc.detail, (exc.headers or {}) | extra)(
                    scope, receive, send)
                return
        if api and path.endswith("/") and path.rstrip("/") != "/v1":
            # `/v1/groups/G1/picks/` is `/v1/groups/G1/picks`: served, not a bare 307 (a POST would lose
            # its body to the redirect, and a script would get no JSON to read)
            scope["path"] = path.rstrip("/")
            scope["raw_path"] = (scope.get("raw_path") or path.encode()).rstrip(b"/")
        method = scope["method"]
        if method in UNSAFE or _header(scope, b"content-length") or _header(scope, b"transfer-encoding"):
            refusal = self._declared_size(scope)
            if refusal:
                await self._refuse(scope, receive, send, *refusal)
                return
            try:
                receive = await self._buffered(receive, s.max_body_bytes)
            except TooLarge:
                await self._refuse(scope, receive, send, 413, "body_too_large",
                                   f"request bodies are limited to {s.max_body_bytes} bytes")
                return
        if method in UNSAFE and (not api or (scope.get("state") or {}).get("via_cookie")):
            why = same_origin(scope, s.trusted_origins)
            if why:
                await self._refuse(
                    scope, receive, send, 403, "cross_site",
                    f"a browser request from another site may not change anything here ({why}); "
                    "use this site's own pages or an API key in the Authorization header",
                )
                return
        if not api:
            send = _with_page_headers(send)
        if method == "HEAD":
            inner = {**scope, "method": "GET"}
            await self.app(inner, receive, _without_body(send))
            if "route" in inner:
                scope["route"] = inner["route"]  # so the metrics name the route
            return
        await self.app(scope, receive, send)

    def _declared_size(self, scope: Scope) -> tuple[int, str, str] | None:
        raw = _header(scope, b"content-length")
        if raw is None:
            return None
        try:
            size = int(raw)
        except ValueError:
            return 400, "bad_request", f"Content-Length must be a number of bytes; got {raw[:40]!r}"
        if size > self.settings.max_body_bytes:
            return (413, "body_too_large",
                    f"request bodies are limited to {self.settings.max_body_bytes} bytes; "
                    f"this one declares {size}")
        return None

    @staticmethod
    async def _buffered(receive: Receive, limit: int) -> Receive:
        """Read the whole body (at most `limit` bytes, else TooLarge) and replay it to the app."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > limit:
                raise TooLarge
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return replay

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, detail: str
                      ) -> None:
        response = error_body(status, code, detail, CLOSE)
        if not scope["path"].startswith("/v1/"):
            send = _with_page_headers(send)
        await response(scope, receive, send)


def _with_page_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            have = {k.lower() for k, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []), *(h for h in PAGE_HEADERS if h[0] not in have)]
        await send(message)

    return wrapped


def _without_body(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return wrapped

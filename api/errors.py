"""Named API errors and the one place that turns every error into `{"error": code, "detail": text}` (or,
for a browser asking for a page outside /v1/, a short page in its language: `install_error_handlers`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.errors import BadInputError, CircleBuyError, SnapshotError

log = logging.getLogger("circlebuy.api")
ECHO_CHARS = 64  # the most of a caller's value (an id, a path, a date) an error message repeats


def clip(value: object, limit: int = ECHO_CHARS) -> str:
    """A caller's value as an error message repeats it: at most `limit` characters, then "…"."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


class ApiError(Exception):
    """An error with an HTTP status and a stable machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.code = code or self.code
        self.headers = headers


class Unauthorized(ApiError):
    """No key, an unknown key or a revoked key (401)."""

    status = 401
    code = "unauthorized"

    def __init__(self, detail: str, code: str | None = None):
        super().__init__(detail, code, headers={"WWW-Authenticate": 'Bearer realm="circlebuy"'})


class Forbidden(ApiError):
    """A valid key asking for data that is not its own, or for a route its role may not use (403)."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Invalid(ApiError):
    """A well-formed request whose values break a rule (unknown product, bad date) (422)."""

    status = 422
    code = "invalid"


class NotReady(ApiError):
    """No snapshot is loaded yet (503)."""

    status = 503
    code = "not_ready"


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}


def error_body(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def _loc(loc: tuple | list) -> str:
    return ".".join(str(p) for p in loc)


def describe_validation(exc: RequestValidationError) -> str:
    """One line per problem, each naming the field: "body.action: Input should be 'skip', ..."."""
    parts = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":  # loc is (body, character offset): say where, in words
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            parts.append(f"body: not valid JSON{at} ({err.get('ctx', {}).get('error', 'invalid')})")
            continue
        parts.append(f"{_loc(loc)}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


# a browser's page for an error: (request, status, headers) -> the page, or None for a JSON error
ErrorPage = Callable[[Request, int, dict[str, str] | None], Response | None]


def install_error_handlers(app: FastAPI, page: ErrorPage | None = None) -> None:
    """Map every error (ours, FastAPI's, the pipelines' named ones, the unexpected) to one JSON shape;
    `page` (api.routes.pages.error_page) answers a browser asking for a page outside /v1/ instead, so a
    person who mistypes /Shop reads a page in their language, not JSON for scripts."""

    def answer(request: Request, status: int, code: str, detail: str,
               headers: dict[str, str] | None = None) -> Response:
        shown = None
        if page is not None:
            try:
                shown = page(request, status, headers)
            except Exception:  # the page for an error must not become an error of its own: JSON then
                log.exception("error page failed")
        return shown if shown is not None else error_body(status, code, detail, headers)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return answer(request, exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        detail = describe_validation(exc)
        sent = request.headers.get("content-type", "")
        body_error = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors())
        if body_error and "json" not in sent.lower():
            detail = (
                f"the body must be JSON sent with 'Content-Type: application/json'; got "
                f"{sent or 'no Content-Type'!r}. {detail}"
            )
        return answer(request, 422, "invalid_request", detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if (exc.status_code == 400 and detail == "There was an error parsing the body"  # FastAPI's words
                and isinstance(exc.__cause__, UnicodeDecodeError)):
            # for a body it could not decode (not UTF-8): a bad request body like any other, said so
            return answer(request, 422, "invalid_request", "body: not valid JSON (it must be UTF-8 text; "
                          "the bytes sent are not)")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {clip(request.url.path)}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {clip(request.url.path)}"
        return answer(request, exc.status_code, code, detail, getattr(exc, "headers", None))

    @app.exception_handler(SnapshotError)
    async def _snapshot(request: Request, exc: SnapshotError) -> Response:
        log.error("snapshot unavailable: %s", exc)  # names files: for the log, not for callers
        return answer(request, 503, "snapshot_unavailable",
                      "the snapshot cannot be read; the server log says why")

    @app.exception_handler(BadInputError)
    async def _bad_input(request: Request, exc: BadInputError) -> Response:
        return answer(request, 422, "invalid", str(exc))

    @app.exception_handler(CircleBuyError)
    async def _ours(request: Request, exc: CircleBuyError) -> Response:
        log.error("request failed: %s: %s", type(exc).__name__, exc)
        return answer(request, 500, "internal", f"{type(exc).__name__}; the server log has the details")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error")
        return answer(request, 500, "internal", "unexpected error; the server log has the details")

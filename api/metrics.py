"""Request counts and latency histograms per route, as Prometheus text; one JSON log line per request.

Both come from one pure ASGI middleware (no BaseHTTPMiddleware: it would cost more than the
picks route itself). The route label is the route's template (`/v1/groups/{group_id}/picks`),
never the raw path, so the label set stays small. Log lines carry method, path, route, status,
milliseconds and the caller's key id and role — never the key.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from api.query import route_template

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Histogram:
    __slots__ = ("counts", "total", "count")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1


class Metrics:
    """In-process counters; one event loop writes them, so no lock is needed."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[tuple[str, str], Histogram] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get((route, method))
        if hist is None:
            hist = self.latency[(route, method)] = Histogram()
        hist.observe(seconds)

    def render(self, snapshot_info: dict[str, Any]) -> str:
        """Prometheus text exposition format 0.0.4."""
        out = [
            "# HELP circlebuy_requests_total HTTP requests by route template, method and status.",
            "# TYPE circlebuy_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            out.append(
                f'circlebuy_requests_total{{route="{_esc(route)}",method="{method}",status="{status}"}} {n}'
            )
        out += [
            "# HELP circlebuy_request_duration_seconds Request latency by route template and method.",
            "# TYPE circlebuy_request_duration_seconds histogram",
        ]
        for (route, method), hist in sorted(self.latency.items()):
            labels = f'route="{_esc(route)}",method="{method}"'
            running = 0
            for le, n in zip((*map(repr, BUCKETS), "+Inf"), hist.counts, strict=True):
                running += n
                out.append(f'circlebuy_request_duration_seconds_bucket{{{labels},le="{le}"}} {running}')
            out.append(f"circlebuy_request_duration_seconds_sum{{{labels}}} {hist.total:.6f}")
            out.append(f"circlebuy_request_duration_seconds_count{{{labels}}} {hist.count}")
        out += [
            "# HELP circlebuy_snapshot_info The live snapshot (value 1), labelled by run id and model.",
            "# TYPE circlebuy_snapshot_info gauge",
        ]
        if snapshot_info.get("run_id"):
            out.append(
                f'circlebuy_snapshot_info{{run_id="{_esc(snapshot_info["run_id"])}",'
                f'date="{_esc(snapshot_info["date"])}",'
                f'model_version="{_esc(snapshot_info["model_version"])}"}} 1'
            )
        for name, kind, help_text in (
            ("snapshot_loaded", "gauge", "1 when a snapshot is being served."),
            ("snapshot_loaded_timestamp_seconds", "gauge", "When the live snapshot was loaded (unix time)."),
            ("snapshot_swaps_total", "counter", "Snapshots loaded since start."),
            ("snapshot_refusals_total", "counter", "Broken or half-written snapshots refused since start."),
        ):
            out += [
                f"# HELP circlebuy_{name} {help_text}",
                f"# TYPE circlebuy_{name} {kind}",
                f"circlebuy_{name} {snapshot_info.get(name, 0)}",
            ]
        return "\n".join(out) + "\n"


def _esc(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _json_text(text: str) -> str:
    """A JSON string literal; the common case (a printable path without quotes) skips json.dumps."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return json.dumps(text, ensure_ascii=False)


class AccessLog:
    """JSON access lines written in small batches: one write per ~3.5 KB (atomic on a pipe or an
    O_APPEND file, so workers sharing stderr never tear a line) or after 0.2 s, whichever comes first.

    Built with an f-string, not `logging` + `json.dumps`: the logging path cost ~50 us a request,
    as much as the picks route itself. Only the request path is caller-controlled; it is JSON-escaped.
    """

    FLUSH_BYTES = 3584
    FLUSH_AFTER_S = 0.2

    def __init__(self, stream: Any | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self._lines: list[str] = []
        self._size = 0
        self._scheduled = False
        self._second = -1
        self._prefix = ""

    def _timestamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((now - second) * 1000):03d}Z"

    def record(
        self,
        method: str,
        path: str,
        route: str,
        status: int,
        seconds: float,
        key_id: str | None,
        role: str | None,
    ) -> None:
        kid = f'"{key_id}"' if key_id else "null"
        rol = f'"{role}"' if role else "null"
        line = (
            f'{{"ts":"{self._timestamp(time.time())}","method":"{method}","path":'
            f'{_json_text(path)},"route":"{route}","status":{status},'
            f'"ms":{seconds * 1000:.3f},"key_id":{kid},"role":{rol}}}\n'
        )
        self._lines.append(line)
        self._size += len(line)
        if self._size >= self.FLUSH_BYTES:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_later(self.FLUSH_AFTER_S, self.flush)
            except RuntimeError:  # no loop (a direct call): write now
                self.flush()

    def flush(self) -> None:
        self._scheduled = False
        if not self._lines:
            return
        text, self._lines, self._size = "".join(self._lines), [], 0
        with contextlib.suppress(OSError, ValueError):  # a closed stderr must not fail requests
            self.stream.write(text)
            self.stream.flush()

    def lines(self) -> list[dict]:
        """Parsed lines written so far to an in-memory stream (tests)."""
        self.flush()
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


class ObserveMiddleware:
    """Pure ASGI middleware: time each HTTP request, count it per route, log one JSON line."""

    def __init__(self, app: Callable, metrics: Metrics, access: AccessLog | None = None):
        self.app = app
        self.metrics = metrics
        self.access = access

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = route_template(route) or ("(unmatched)" if status == 404 else "(other)")
            self.metrics.observe(template, scope["method"], status, elapsed)
            if self.access is not None:
                state = scope.get("state") or {}
                self.access.record(
                    scope["method"],
                    scope["path"],
                    template,
                    status,
                    elapsed,
                    state.get("key_id"),
                    state.get("role"),
                )

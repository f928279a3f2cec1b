"""Request counts and latency histograms per route, as Prometheus text; one JSON log line per request.

Both come from one pure ASGI middleware (no BaseHTTPMiddleware: it would cost more than the
picks route itself). The route label is the route's template (`/v1/groups/{group_id}/picks`),
never the raw path, so the label set stays small. Log lines carry method, path, route, status,
milliseconds and the caller's key id and role — never the key.
"""

from __future__ import annotations

import json
import logging
import time
from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
access_log = logging.getLogger("circlebuy.api.access")


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


class ObserveMiddleware:
    """Pure ASGI middleware: time each HTTP request, count it per route, log one JSON line."""

    def __init__(self, app: Callable, metrics: Metrics, log_requests: bool = True):
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

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
            template = getattr(route, "path", None) or ("(unmatched)" if status == 404 else "(other)")
            self.metrics.observe(template, scope["method"], status, elapsed)
            if self.log_requests and access_log.isEnabledFor(logging.INFO):
                state = scope.get("state") or {}
                access_log.info(
                    json.dumps(
                        {
                            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                            "method": scope["method"],
                            "path": scope["path"],
                            "route": template,
                            "status": status,
                            "ms": round(elapsed * 1000, 3),
                            "key_id": state.get("key_id"),
                            "role": state.get("role"),
                        },
                        ensure_ascii=False,
                    )
                )

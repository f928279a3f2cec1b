"""Liveness, readiness (which snapshot is live) and Prometheus metrics; open to anyone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from api.errors import NotReady
from api.schemas import ErrorOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ErrorOut}})
async def readyz(request: Request) -> JSONResponse:
    """200 with the live snapshot's run id once one is loaded; 503 (and why) before that, or while the
    API keys file cannot be read (every key is refused then: not ready to serve anyone)."""
    live = request.app.state.live
    snap = live.current
    if snap is None:
        raise NotReady(f"no snapshot loaded: {live.public_error or 'starting'}; the server log says more")
    problem = request.app.state.keys.problem()
    if problem is not None:
        raise NotReady(f"the API keys file (keys.json) cannot be read: {problem}; every key is refused until "
                       "it is fixed (the server log names the file)", code="keys_unreadable")
    return JSONResponse(
        {
            "status": "ready",
            "snapshot": snap.run_id,
            "date": snap.date,
            "model_version": snap.model_version,
            "created_at": snap.created_at,
            "loaded_at": live.loaded_at,
        }
    )


def snapshot_info(request: Request) -> dict:
    live = request.app.state.live
    snap = live.current
    info = {
        "snapshot_loaded": int(snap is not None),
        "snapshot_swaps_total": live.swaps,
        "snapshot_refusals_total": live.refusals,
        "snapshot_loaded_timestamp_seconds": f"{live.loaded_at or 0:.3f}",
    }
    if snap is not None:
        info |= {"run_id": snap.run_id, "date": snap.date, "model_version": snap.model_version}
    return info


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> PlainTextResponse:
    """Request counts and latency histograms per route, and the snapshot version (Prometheus text)."""
    text = request.app.state.metrics.render(snapshot_info(request))
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

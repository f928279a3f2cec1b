"""The app factory: `create_app(home, settings)` wires stores, routers, error handlers and observation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api.errors import install_error_handlers
from api.exclusion_store import ExclusionStore
from api.feedback_store import FeedbackStore
from api.guard import GuardMiddleware
from api.keys import KeyStore
from api.live import LiveSnapshot, Watcher
from api.metrics import AccessLog, Metrics, ObserveMiddleware
from api.routes import admin, demand, feedback, health, pages, picks
from api.served import ServedPicks
from api.settings import Settings
from common.home import Home

STATIC = Path(__file__).parent / "static"


DOCS_NOTE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>circlebuy API</title>
<link rel="stylesheet" href="/static/app.css"></head><body><main><section class="card">
<h1>API documentation</h1><p>The interactive docs (Swagger UI, ReDoc) are switched off: they load
their code from a CDN, and this service makes no requests to the outside at run time.</p>
<p>The OpenAPI schema is served here: <a href="/openapi.json">/openapi.json</a>. Open it in any
OpenAPI viewer you have locally; the README's API section describes every route.</p>
</section></main></body></html>"""


async def docs_note() -> HTMLResponse:
    """What /docs and /redoc answer: where the schema is, and why there is no Swagger UI."""
    return HTMLResponse(DOCS_NOTE)


def create_app(home: Home, settings: Settings | None = None) -> FastAPI:
    """Build the service over HOME; the snapshot is loaded in the lifespan and watched for switches."""
    settings = settings or Settings()
    metrics = Metrics()
    access = AccessLog() if settings.access_log else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        home.ensure()
        app.state.keys = KeyStore(home)
        app.state.feedback = FeedbackStore(home)
        app.state.exclusions = ExclusionStore(home)
        app.state.served = ServedPicks(app.state.feedback, app.state.exclusions, settings)
        app.state.live = LiveSnapshot(home)
        await run_in_threadpool(app.state.live.check)
        watcher = Watcher(
            app.state.live,
            app.state.keys,
            settings.watch_interval_s,
            also=(app.state.feedback.refresh, app.state.exclusions.refresh),
        )
        watcher.start()
        try:
            yield
        finally:
            watcher.stop()
            if access is not None:
                access.flush()

    app = FastAPI(
        title="circlebuy",
        version="1",
        summary="Daily picks for shopkeepers' groups and pre-sale demand forecasts for suppliers.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI / ReDoc load their code from a CDN; this service fetches nothing
        redoc_url=None,  # at run time, so /docs is a local note pointing at /openapi.json instead
    )
    app.state.home = home
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.access_log = access
    install_error_handlers(app, page=pages.error_page)  # a browser's errors outside /v1/ as pages
    for module in (picks, feedback, admin, demand, health, pages):
        app.include_router(module.router)
    app.add_api_route("/docs", docs_note, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", docs_note, methods=["GET"], include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(GuardMiddleware, settings=settings)
    app.add_middleware(ObserveMiddleware, metrics=metrics, access=access)  # outermost: sees refusals
    return app

"""`circlebuy serve`: uvicorn on the app factory; JSON access lines and service logs on stderr."""

from __future__ import annotations

import logging
import os
import sys

from fastapi import FastAPI

from api.app import create_app
from api.settings import Settings
from common.home import HOME_ENV, Home, resolve_home


def configure_logging() -> None:
    """Service logs (snapshot swaps and refusals, errors) on stderr with a short prefix.

    Access lines do not go through `logging`: `api.metrics.AccessLog` writes them as JSON to stderr.
    """
    service = logging.getLogger("circlebuy.api")
    if not service.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        service.addHandler(handler)
    service.setLevel(logging.INFO)


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: the home comes from $CIRCLEBUY_HOME, settings from the environment."""
    configure_logging()
    return create_app(resolve_home(None), Settings.from_env())


def serve(home: Home, host: str, port: int, workers: int) -> None:
    """Run uvicorn (uvloop + httptools, heads capped by `api.protocol`) on the app factory; blocks."""
    import uvicorn

    os.environ[HOME_ENV] = str(home.root)
    Settings.from_env()  # fail fast on bad settings, before forking workers
    uvicorn.run(
        "api.server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        http="api.protocol:BoundedHttpToolsProtocol",  # 431 for a head over 64 KiB, before buffering it
    )

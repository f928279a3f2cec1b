"""`circlebuy serve`: uvicorn on the app factory; JSON access lines and service logs on stderr."""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys

from fastapi import FastAPI

from api.app import create_app
from api.settings import Settings
from common.errors import UsageError
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
        # its own line, once: not again through a root handler the CLI set up (`demo` logs its nightly)
        service.propagate = False
    service.setLevel(logging.INFO)


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: the home comes from $CIRCLEBUY_HOME, settings from the environment."""
    configure_logging()
    return create_app(resolve_home(None), Settings.from_env())


def check_port_free(host: str, port: int) -> None:
    """A usage error (exit 2) naming --host/--port when they cannot be bound, rather than uvicorn's
    startup failure (exit 3, outside the CLI's 0/1/2). Bound as uvicorn binds (SO_REUSEADDR)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise UsageError(f"--host: cannot resolve {host!r}: {exc}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:  # not one of this machine's addresses: the host is wrong
                raise UsageError(f"--host: cannot listen on {host}:{port} ({exc.strerror}): {host} is not "
                                 "an address of this machine; use 127.0.0.1, 0.0.0.0 (every interface) or "
                                 "one of its own addresses") from None
            raise UsageError(f"--port: cannot listen on {host}:{port} ({exc.strerror}); is another "
                             "server running there? choose another --port") from None


def serve(home: Home, host: str, port: int, workers: int) -> None:
    """Run uvicorn (uvloop + httptools, heads capped by `api.protocol`) on the app factory; blocks."""
    import uvicorn

    os.environ[HOME_ENV] = str(home.root)
    Settings.from_env()  # fail fast on bad settings, before forking workers
    check_port_free(host, port)
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

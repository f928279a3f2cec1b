"""API test fixtures: a home with a snapshot in the published format, keys, clients, a live server."""

from __future__ import annotations

import csv
import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

import api.feedback_store
from api.app import create_app
from api.clock import TZ
from api.keys import create_key
from api.protocol import BoundedHttpToolsProtocol
from api.settings import Settings
from common.home import Home
from tests.api.world import small_world, write_snapshot

FAST = Settings(watch_interval_s=0.05, cookie_secure=False)  # tests serve plain HTTP locally
LIST_MORNING = datetime(2026, 11, 22, 10, tzinfo=TZ)  # small_world's picks are for 2026-11-22


@pytest.fixture(autouse=True)
def _feedback_on_the_list_day(monkeypatch) -> None:
    """Feedback is tapped on the morning of small_world's list day, whatever the real clock says: posted /
    skip are accepted on today's list only (api.routes.feedback). A test of another day patches it again."""
    monkeypatch.setattr(api.feedback_store, "platform_now", lambda: LIST_MORNING)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    h = Home(tmp_path / "home").ensure()
    write_snapshot(h, small_world(), run_id="run-1")
    return h


@pytest.fixture
def keys(home: Home) -> dict[str, str]:
    """One key per tenant: shopkeepers S1 (G1, G2) and S2 (G3), suppliers SUP1 and SUP2, an admin."""
    return {
        "S1": create_key(home, "shopkeeper", "S1"),
        "S2": create_key(home, "shopkeeper", "S2"),
        "SUP1": create_key(home, "supplier", "SUP1"),
        "SUP2": create_key(home, "supplier", "SUP2"),
        "admin": create_key(home, "admin", "ops"),
    }


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@contextmanager
def supplier_serving(folder: Path, world: dict, run_id: str, supplier: str = "SUP1"
                     ) -> Iterator[tuple[TestClient, str]]:
    """A client over a fresh home publishing `world`, and a key of `supplier`."""
    home = Home(folder).ensure()
    write_snapshot(home, world, run_id=run_id)
    key = create_key(home, "supplier", supplier)
    with TestClient(create_app(home, FAST)) as c:
        yield c, key


def csv_rows(client: TestClient, key: str, supplier: str = "SUP1") -> dict[str, dict[str, str]]:
    """The supplier's demand CSV download, row by product_id."""
    r = client.get(f"/v1/suppliers/{supplier}/demand?format=csv", headers=bearer(key))
    return {row["product_id"]: row for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))}


@pytest.fixture
def client(home: Home, keys: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(home, FAST)) as c:
        yield c


class LiveServer:
    """A real uvicorn server on a free loopback port, in a thread (for load, switches, the browser)."""

    def __init__(self, app: FastAPI):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", http=BoundedHttpToolsProtocol
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live_server(home: Home, keys: dict[str, str]) -> Iterator[LiveServer]:
    with LiveServer(create_app(home, FAST)) as server:
        yield server


def republish(home: Home, run_id: str, **kwargs) -> Path:
    """Write and publish another whole snapshot (a new nightly run)."""
    return write_snapshot(home, small_world(**kwargs), run_id=run_id)

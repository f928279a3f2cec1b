"""Schemathesis fuzz of the OpenAPI schema: no request, valid or not, with a key or without, gets a 500."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.keys import create_key
from api.settings import Settings
from common.home import Home
from tests.api.world import small_world, write_snapshot


def _app():
    """Module-level app (schemathesis loads the schema at import); its lifespan runs in the fixture."""
    home = Home(Path(tempfile.mkdtemp(prefix="circlebuy-fuzz-"))).ensure()
    write_snapshot(home, small_world(), run_id="fuzz-1")
    return home, create_app(home, Settings(watch_interval_s=5, access_log=False))


HOME, APP = _app()
KEYS = {
    "shopkeeper": create_key(HOME, "shopkeeper", "S1"),
    "supplier": create_key(HOME, "supplier", "SUP1"),
    "admin": create_key(HOME, "admin", "ops"),
}
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.fixture(scope="module", autouse=True)
def lifespan():
    with TestClient(APP):
        yield


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@pytest.mark.parametrize("role", ["shopkeeper", "supplier", "admin", None])
def test_no_server_errors(case, role: str | None) -> None:
    headers = {"Authorization": f"Bearer {KEYS[role]}"} if role else {}
    if case.headers:
        case.headers.pop("Authorization", None)
    response = case.call(headers=headers)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code < 500
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"}, body

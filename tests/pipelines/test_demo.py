"""`circlebuy demo` serves today's list: the world runs through today and the nightly runs for today,
so the pages show no "this list is not today's" banner (the API's clock is the real one)."""

from __future__ import annotations

import polars as pl
from fastapi.testclient import TestClient

from api.app import create_app
from api.clock import platform_today
from api.keys import create_key
from api.settings import Settings
from common.home import Home
from pipelines.demo import prepare_demo


def test_the_demo_serves_a_list_for_today(tmp_path):
    home = Home(tmp_path / "home")
    shown = prepare_demo(home, tmp_path / "raw", groups=40, days=30, seed=3)
    today = platform_today()
    assert shown["result"]["status"] == "succeeded"
    picks = pl.read_parquet(shown["snapshot"] / "picks.parquet")
    assert picks.height > 0 and picks["for_date"].unique().to_list() == [today]
    key = create_key(home, "shopkeeper", shown["shopkeeper"])
    with TestClient(create_app(home, Settings(cookie_secure=False, access_log=False))) as client:
        client.post("/login", data={"key": key})
        page = client.get("/shop")
        assert page.status_code == 200 and f"今日推荐 <small class=\"muted\">{today}" in page.text
        # no stale-list banner (it would say "not today's"; the page carries that phrase only in the
        # refusal texts its script shows after a tap, as data attributes)
        assert '<div class="banner" role="status">' not in page.text


def test_a_busy_port_is_said_before_the_demo_trains(tmp_path, monkeypatch):
    """`make demo` with port 8000 taken: refused at once, naming make's PORT=, not after minutes of
    training and three printed keys."""
    import socket

    import pytest

    import pipelines.demo as demo
    from common.errors import UsageError

    monkeypatch.setattr(demo, "prepare_demo", lambda *a, **k: pytest.fail("trained before the port check"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=r"--port: cannot listen .*make demo PORT=8080"):
            demo.run_demo(Home(tmp_path / "home").ensure(), tmp_path / "raw", port=port)
    assert not (tmp_path / "home" / "keys.json").exists()


def test_a_demo_rerun_revokes_the_keys_it_printed_before(tmp_path):
    from api.keys import list_keys
    from pipelines.demo import retire_demo_keys

    home = Home(tmp_path / "home").ensure()
    create_key(home, "admin", "demo-admin")
    create_key(home, "admin", "demo-admin")
    create_key(home, "shopkeeper", "k00012")  # maybe made by hand for the demo's shopkeeper: kept
    create_key(home, "admin", "ops")
    assert retire_demo_keys(home) == 2 and retire_demo_keys(home) == 0
    valid = {k["subject"] for k in list_keys(home) if not k["revoked"]}
    assert valid == {"k00012", "ops"}

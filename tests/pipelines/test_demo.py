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

"""Pages people keep open: groups by their names, one group at a time with a switcher (the choice in
the URL), the supplier's own name, warehouses by city; snapshots without names still load."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import create_key
from api.snapshot import load_snapshot
from common.home import Home
from tests.api.conftest import FAST
from tests.api.world import large_world, small_world, write_snapshot


def signed_in(home: Home, role: str, subject: str) -> TestClient:
    client = TestClient(create_app(home, FAST))
    client.__enter__()
    client.post("/login", data={"key": create_key(home, role, subject)})
    return client


def test_a_shopkeeper_with_35_groups_gets_one_group_at_a_time_and_a_switcher(tmp_path: Path):
    home = Home(tmp_path / "h").ensure()
    world = large_world(groups=35, shopkeepers=1, products=60, suppliers=3, picks_per_group=10)
    write_snapshot(home, world, run_id="many")
    client = signed_in(home, "shopkeeper", "S00000")
    try:
        first = client.get("/shop").text
        assert first.count('<li class="pick') == 10  # not 350 cards
        options = re.findall(r'<option value="(G\d+)"( selected)?>', first)
        assert len(options) == 35 and options[0] == ("G000000", " selected")
        assert "选择群（共35个）" in first and 'id="group-G000000"' in first
        assert "群 G000000" in first  # no name in this world: the group is shown by its id
        chosen = client.get("/shop?group=G000017").text
        assert chosen.count('<li class="pick') == 10 and 'id="group-G000017"' in chosen
        assert '<option value="G000017" selected>' in chosen
        assert 'href="/shop?group=G000017&amp;lang=en"' in chosen  # the language switch keeps the choice
    finally:
        client.__exit__(None, None, None)


def test_a_group_of_another_shopkeeper_is_not_shown(home: Home, keys):
    with TestClient(create_app(home, FAST)) as client:
        client.post("/login", data={"key": keys["S1"]})
        r = client.get("/shop?group=G3")  # S2's group
        assert r.status_code == 403 and "这个群不是这位店主的群" in r.text
        assert "G3" not in r.text.split("<main>")[1]  # nothing of the group itself
        assert client.get("/shop?group=NOPE").status_code == 403
        client.post("/login", data={"key": keys["admin"]})
        admin = client.get("/shop?group=G3").text  # an admin opens any group; G3 has no name
        assert "群 G3" in admin and "<small>宁波</small>" in admin and "group-select" not in admin
        assert "滨江吃货群" in client.get("/shop?shopkeeper=S1&group=G2").text
        assert 'name="shopkeeper" value="S1"' in client.get("/shop?shopkeeper=S1").text


def test_supplier_page_names_the_supplier_and_its_warehouses_by_city(home: Home, keys):
    with TestClient(create_app(home, FAST)) as client:
        client.post("/login", data={"key": keys["SUP1"]})
        zh = client.get("/supplier").text
        assert "浙江绿源农业有限公司的需求预测" in zh and '<small class="muted">SUP1</small>' in zh
        assert '<td class="warehouse" data-label="仓库" title="W1">杭州仓</td>' in zh
        assert '<td class="warehouse" data-label="仓库" title="W2">宁波仓</td>' in zh
        assert "C1 · 宁波仓" in zh  # the chart's caption too
        assert '<td class="p50" data-label="P50">180</td>' in zh
        client.post("/login", data={"key": keys["SUP2"]})
        assert "SUP2 的需求预测" in client.get("/supplier").text  # no name in the data: its id
        client.post("/login", data={"key": keys["admin"]})
        assert "浙江绿源农业有限公司" in client.get("/admin").text


def test_snapshot_carries_names_and_cities_and_loads_without_them(home: Home, tmp_path: Path):
    snap = load_snapshot(home.current)
    assert snap.group_names == {"G1": "西湖宝妈团", "G2": "滨江吃货群"}
    assert snap.supplier_names == {"SUP1": "浙江绿源农业有限公司"}
    assert snap.warehouse_city == {"W1": "杭州", "W2": "宁波"}
    assert snap.picked("G1", None) == {"P1", "P2", "P4"} and snap.picked("G1", "2026-01-01") == frozenset()
    old = small_world()  # a snapshot published before names: no groups.name, no suppliers.parquet
    old["groups"] = old["groups"].drop("name")
    del old["suppliers"]
    other = Home(tmp_path / "old").ensure()
    write_snapshot(other, old, run_id="before-names")
    plain = load_snapshot(other.current)
    assert plain.group_names == {} and plain.supplier_names == {} and plain.warehouse_city["W2"] == "宁波"

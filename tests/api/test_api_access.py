"""Every route x role: own data, someone else's, no key, admin; revoked keys; the error shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.keys import create_key, list_keys, revoke_key
from common.errors import UsageError
from common.home import Home
from tests.api.conftest import bearer

FEEDBACK = {"product_id": "P1", "action": "posted"}

# (method, path, owner key, someone else's key, status for the owner, status for admin)
ROUTES = [
    ("GET", "/v1/groups/G1/picks", "S1", "S2", 200, 200),
    ("POST", "/v1/groups/G1/feedback", "S1", "S2", 202, 403),
    ("GET", "/v1/suppliers/SUP1/demand", "SUP1", "SUP2", 200, 200),
    ("GET", "/v1/suppliers/SUP1/demand?format=csv", "SUP1", "SUP2", 200, 200),
    ("GET", "/v1/campaigns/C1/demand", "SUP1", "SUP2", 200, 200),
]


def call(client: TestClient, method: str, path: str, key: str | None):
    headers = bearer(key) if key else {}
    if method == "POST":
        return client.post(path, json=FEEDBACK, headers=headers)
    return client.get(path, headers=headers)


@pytest.mark.parametrize(("method", "path", "owner", "other", "own_status", "admin_status"), ROUTES)
def test_route_by_role(
    client: TestClient,
    keys: dict[str, str],
    method: str,
    path: str,
    owner: str,
    other: str,
    own_status: int,
    admin_status: int,
) -> None:
    own = call(client, method, path, keys[owner])
    assert own.status_code == own_status, own.text
    theirs = call(client, method, path, keys[other])
    assert theirs.status_code == 403
    assert theirs.json()["error"] == "not_yours"
    none = call(client, method, path, None)
    assert none.status_code == 401
    assert none.json() == {"error": "missing_key", "detail": none.json()["detail"]}
    assert none.headers["www-authenticate"].startswith("Bearer")
    admin = call(client, method, path, keys["admin"])
    assert admin.status_code == admin_status, admin.text


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/v1/groups/G1/picks", "SUP1"),
        ("/v1/suppliers/SUP1/demand", "S1"),
        ("/v1/campaigns/C1/demand", "S1"),
    ],
)
def test_wrong_role_is_403(client: TestClient, keys: dict[str, str], path: str, key: str) -> None:
    r = client.get(path, headers=bearer(keys[key]))
    assert r.status_code == 403
    assert r.json()["error"] == "wrong_role"


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/v1/groups/NOPE/picks", "S1"),
        ("/v1/suppliers/NOPE/demand", "SUP1"),
        ("/v1/campaigns/NOPE/demand", "SUP1"),
    ],
)
def test_unknown_ids_do_not_leak(client: TestClient, keys: dict[str, str], path: str, key: str) -> None:
    """A tenant cannot tell an unknown id from someone else's: both are 403; admin gets 404."""
    r = client.get(path, headers=bearer(keys[key]))
    assert r.status_code == 403 and r.json()["error"] == "not_yours"
    r = client.get(path, headers=bearer(keys["admin"]))
    assert r.status_code == 404 and r.json()["error"] == "not_found"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
@pytest.mark.parametrize("who", ["S1", "SUP1", "admin", None])
def test_open_routes(client: TestClient, keys: dict[str, str], path: str, who: str | None) -> None:
    r = client.get(path, headers=bearer(keys[who]) if who else {})
    assert r.status_code == 200


def test_picks_content(client: TestClient, keys: dict[str, str]) -> None:
    body = client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"])).json()
    assert body["group_id"] == "G1" and body["date"] == "2026-11-22" and body["model_version"] == "als-test-1"
    assert [p["product_id"] for p in body["picks"]] == ["P1", "P2", "P4"]
    first = body["picks"][0]
    assert first == {
        "rank": 1,
        "product_id": "P1",
        "name": "有机鸡蛋 30枚",
        "category": "fresh",
        "category_name": "生鲜",
        "price": 29.9,
        "list_price": 29.9,
        "campaign_id": "C1",
        "closes_at": "2026-11-23T20:00:00+08:00",
        "slot": "hot",
        "reason": "杭州有38个群近7天下过单",
        "reason_code": "hot_city",
        "reason_args": {"groups": 38, "city": "杭州"},
        "score": 1.0,
    }
    # a pick's price is what members pay on its campaign (P4's campaign C3 sells at 11.0, list 12.5)
    p4 = body["picks"][2]
    assert (p4["product_id"], p4["campaign_id"], p4["price"], p4["list_price"]) == ("P4", "C3", 11.0, 12.5)
    same_day = client.get("/v1/groups/G1/picks?date=2026-11-22", headers=bearer(keys["S1"]))
    assert same_day.json() == body
    other_day = client.get("/v1/groups/G1/picks?date=2026-01-01", headers=bearer(keys["S1"]))
    assert other_day.status_code == 404 and other_day.json()["error"] == "no_picks_for_date"
    bad = client.get("/v1/groups/G1/picks?date=tomorrow", headers=bearer(keys["S1"]))
    assert bad.status_code == 422 and "query.date" in bad.json()["detail"]


def test_revoked_key_is_refused(client: TestClient, home: Home, keys: dict[str, str]) -> None:
    assert client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"])).status_code == 200
    key_id = keys["S1"].split("_")[1]
    revoke_key(home, key_id)
    r = client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"]))
    assert r.status_code == 401
    assert r.json() == {"error": "revoked_key", "detail": f"key {key_id} was revoked"}
    assert [k["revoked"] for k in list_keys(home) if k["key_id"] == key_id] == [True]


def test_unknown_and_malformed_keys(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/groups/G1/picks", headers=bearer("cb_00000000_not-a-real-key"))
    assert r.status_code == 401 and r.json()["error"] == "unknown_key"
    assert "not-a-real-key" not in r.text
    r = client.get("/v1/groups/G1/picks", headers={"Authorization": f"Basic {keys['S1']}"})
    assert r.status_code == 401 and r.json()["error"] == "bad_authorization"


def test_a_key_for_an_id_the_snapshot_does_not_hold_is_refused_not_served_empty(home: Home) -> None:
    """`keys create` warns that a key for an unknown supplier / shopkeeper "will be refused (403)":
    it is, with its own code, instead of an empty 200 that reads as "no demand this week"."""
    from api.app import create_app
    from tests.api.conftest import FAST

    typo = {"supplier": create_key(home, "supplier", "SUP1X"),
            "shopkeeper": create_key(home, "shopkeeper", "S1X")}
    with TestClient(create_app(home, FAST)) as c:
        for path in ("/v1/suppliers/SUP1X/demand", "/v1/suppliers/SUP1X/demand?format=csv"):
            r = c.get(path, headers=bearer(typo["supplier"]))
            assert r.status_code == 403 and r.json()["error"] == "unknown_subject", r.text
            assert "'SUP1X' is not in snapshot run-1" in r.json()["detail"]
        c.post("/login", data={"key": typo["supplier"]})
        page = c.get("/supplier")
        assert page.status_code == 403 and "这个密钥对应的编号不在今天的数据里" in page.text
        c.post("/login", data={"key": typo["shopkeeper"]})
        shop = c.get("/shop?lang=en")
        assert shop.status_code == 403 and "a key made for your own id" in shop.text


def test_a_supplier_named_in_the_data_without_products_yet_sees_an_empty_list(tmp_path) -> None:
    """Newly onboarded: in the suppliers table, no product yet. Its key is not a typo: 200, no rows."""
    import polars as pl

    from api.app import create_app
    from tests.api.conftest import FAST
    from tests.api.world import small_world, write_snapshot

    world = small_world()
    world["suppliers"] = pl.concat([world["suppliers"], pl.DataFrame({"supplier_id": ["SUP3"],
                                                                      "name": ["新来的供应商"]})])
    h = Home(tmp_path / "home").ensure()
    write_snapshot(h, world, run_id="run-1")
    key = create_key(h, "supplier", "SUP3")
    from api.keys import unknown_subject

    assert unknown_subject(h, "supplier", "SUP3") is None  # keys create does not call it a typo either
    assert "is not in the live snapshot" in unknown_subject(h, "supplier", "SUP9")
    with TestClient(create_app(h, FAST)) as c:
        r = c.get("/v1/suppliers/SUP3/demand", headers=bearer(key))
        assert r.status_code == 200 and r.json()["rows"] == []


def test_keys_cli_functions(home: Home) -> None:
    key = create_key(home, "supplier", "SUP9")
    assert key.startswith("cb_")
    stored = home.keys.read_text()
    assert key not in stored and key.split("_", 2)[2] not in stored  # only a hash is kept
    with pytest.raises(UsageError, match=r"--role: expected one of shopkeeper, supplier, admin; got 'boss'"):
        create_key(home, "boss", "x")
    with pytest.raises(UsageError, match="key id 'nope' is not in"):
        revoke_key(home, "nope")
    listed = list_keys(home)
    assert set(listed[0]) == {"key_id", "role", "subject", "created_at", "revoked"}


def test_errors_have_one_shape(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/no/such/route")
    assert r.status_code == 404 and r.json() == {"error": "not_found", "detail": "no route /no/such/route"}
    r = client.delete("/v1/groups/G1/picks", headers=bearer(keys["S1"]))
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    r = client.post(
        "/v1/groups/G1/feedback",
        content=b"{not json",
        headers=bearer(keys["S1"]) | {"Content-Type": "application/json"},
    )
    assert r.status_code == 422 and set(r.json()) == {"error", "detail"}


def test_prepared_route_matches_the_declared_endpoint(home: Home, keys: dict[str, str]) -> None:
    """The picks route's fast handler answers exactly as its declared endpoint through FastAPI's solver."""
    from api.app import create_app
    from api.routes.picks import group_picks
    from tests.api.conftest import FAST

    path = "/v1/groups/{group_id}/picks"
    plain = create_app(home, FAST)
    plain.router.routes = [r for r in plain.router.routes if getattr(r, "path", None) != path]
    plain.add_api_route(path, group_picks, methods=["GET"])  # an ordinary APIRoute
    cases = [
        ("/v1/groups/G1/picks", "S1"),
        ("/v1/groups/G1/picks?date=2026-11-22", "S1"),
        ("/v1/groups/G3/picks", "S1"),
        ("/v1/groups/G1/picks", "SUP1"),
        ("/v1/groups/NOPE/picks", "admin"),
        ("/v1/groups/G1/picks?date=2026-01-01", "admin"),
        ("/v1/groups/G1/picks", None),
        ("/v1/groups/G1/picks?lang=en", "S1"),
        ("/v1/groups/G1/picks?date=2026-11-22&lang=fr", "S1"),
    ]
    with TestClient(create_app(home, FAST)) as fast, TestClient(plain) as slow:
        for url, who in cases:
            for language in ({}, {"Accept-Language": "en-US,en;q=0.9"}):
                headers = (bearer(keys[who]) if who else {}) | language
                a, b = fast.get(url, headers=headers), slow.get(url, headers=headers)
                assert (a.status_code, a.json()) == (b.status_code, b.json()), (url, language)
                assert a.headers.get("content-language") == b.headers.get("content-language"), url
        bad_fast = fast.get("/v1/groups/G1/picks?date=soon", headers=bearer(keys["S1"]))
        bad_slow = slow.get("/v1/groups/G1/picks?date=soon", headers=bearer(keys["S1"]))
        assert bad_fast.status_code == bad_slow.status_code == 422
        assert "query.date" in bad_fast.json()["detail"] and "query.date" in bad_slow.json()["detail"]


def test_the_shop_card_shows_the_group_buy_price_with_the_list_price_struck(client: TestClient,
                                                                             keys: dict[str, str]) -> None:
    client.post("/login", data={"key": keys["S1"]})
    page = client.get("/shop").text
    assert '<s class="list">¥12.50</s> ¥11.00' in page  # P4 on campaign C3
    assert '<span class="price">¥29.90</span>' in page  # P1 sells at its list price: nothing struck


def test_ids_with_a_slash_reach_their_routes(tmp_path) -> None:
    """An id may hold `/` (`华东/SUP1`): percent-encoded as %2F it is decoded before routing, so each
    id segment of a route takes the rest of the path up to the route's fixed tail. Before, every such
    id was `no route` 404 — the supplier could not download at all."""
    import polars as pl

    from api.app import create_app
    from tests.api.conftest import FAST
    from tests.api.world import small_world, write_snapshot

    renamed = {"G1": "杭州/G1", "SUP1": "华东/SUP1", "C1": "C/1", "P1": "P/1"}
    world = {
        name: frame.with_columns(
            pl.col(c).replace(renamed) for c in frame.columns if c.endswith("_id") and c != "shopkeeper_id"
        )
        for name, frame in small_world().items()
    }
    h = Home(tmp_path / "home").ensure()
    write_snapshot(h, world, run_id="run-1")
    shop, sup = create_key(h, "shopkeeper", "S1"), create_key(h, "supplier", "华东/SUP1")
    admin = create_key(h, "admin", "ops")
    with TestClient(create_app(h, FAST)) as c:
        picks = c.get("/v1/groups/%E6%9D%AD%E5%B7%9E%2FG1/picks", headers=bearer(shop))
        assert picks.status_code == 200 and picks.json()["group_id"] == "杭州/G1"
        assert picks.json()["picks"][0]["product_id"] == "P/1"
        posted = {"product_id": "P/1", "action": "posted"}
        fb = c.post("/v1/groups/%E6%9D%AD%E5%B7%9E%2FG1/feedback", json=posted, headers=bearer(shop))
        assert fb.status_code == 202
        csv = c.get("/v1/suppliers/%E5%8D%8E%E4%B8%9C%2FSUP1/demand?format=csv", headers=bearer(sup))
        assert csv.status_code == 200 and "C/1" in csv.text
        assert c.get("/v1/campaigns/C%2F1/demand", headers=bearer(sup)).status_code == 200
        # another supplier's id still refused, not matched as a longer id
        assert c.get("/v1/suppliers/SUP2/demand", headers=bearer(sup)).status_code == 403
        recall = {"product_id": "P/1", "reason": "recall"}
        excl = c.post("/v1/admin/exclusions", json=recall, headers=bearer(admin))
        assert excl.status_code in (200, 201), excl.text
        gone = c.delete("/v1/admin/exclusions/P%2F1", headers=bearer(admin))
        assert gone.status_code == 200 and gone.json()["product_id"] == "P/1"
        metrics = c.get("/metrics", headers=bearer(admin)).text
        assert 'route="/v1/suppliers/{supplier_id}/demand"' in metrics  # the template, not `{...:path}`

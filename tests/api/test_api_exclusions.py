"""Exclusions that act at once: a shopkeeper's "not interested" (and "skip" where configured) and an
admin's platform-wide exclusion leave the very next picks request and page, survive a restart, reach
the other workers, and are what the nightly reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

import api.feedback_store
from api.app import create_app
from api.clock import TZ
from api.settings import Settings
from common.exclusions import exclusions_path, read_exclusions
from common.home import Home
from tests.api.conftest import FAST, bearer

LIST_DAY = datetime(2026, 11, 22, 10, tzinfo=TZ)  # small_world's picks are for 2026-11-22
RECALL = {"product_id": "P1", "reason": "recall: batch 2026-11-03"}


@pytest.fixture(autouse=True)
def _marks_on_the_list_day(monkeypatch) -> None:
    """Feedback lands as if tapped on the morning of the list's day (whatever the real clock says)."""
    monkeypatch.setattr(api.feedback_store, "platform_now", lambda: LIST_DAY)


def products(client: TestClient, key: str, group: str = "G1", query: str = "") -> list[str]:
    r = client.get(f"/v1/groups/{group}/picks{query}", headers=bearer(key))
    assert r.status_code == 200, r.text
    picks = r.json()["picks"]
    assert [p["rank"] for p in picks] == list(range(1, len(picks) + 1))  # ranked 1..n again
    return [p["product_id"] for p in picks]


def feedback(client: TestClient, key: str, product: str, action: str, group: str = "G1") -> None:
    r = client.post(f"/v1/groups/{group}/feedback", json={"product_id": product, "action": action},
                    headers=bearer(key))
    assert r.status_code == 202, r.text


# --- a shopkeeper's marks ---------------------------------------------------------------------------


def test_not_interested_leaves_the_groups_next_picks_request_and_page(client, keys):
    assert products(client, keys["S1"]) == ["P1", "P2", "P4"]
    feedback(client, keys["S1"], "P2", "not_interested")
    assert products(client, keys["S1"]) == ["P1", "P4"]  # at once, not at the next nightly
    assert products(client, keys["S1"], query="?date=2026-11-22&lang=en") == ["P1", "P4"]
    assert products(client, keys["admin"]) == ["P1", "P4"]  # what the group is served, whoever asks
    assert products(client, keys["S2"], "G3") == ["P1", "P4"]  # another group keeps its list
    client.post("/login", data={"key": keys["S1"]})
    page = client.get("/shop").text
    assert 'data-product="P2"' not in page and 'data-product="P4"' in page


def test_skip_only_marks_a_pick_by_default(client, keys):
    feedback(client, keys["S1"], "P4", "skip")
    assert products(client, keys["S1"]) == ["P1", "P2", "P4"]


def test_skip_leaves_the_list_when_the_service_is_set_to_hide_skipped_picks(home, keys):
    assert Settings.from_env({"CIRCLEBUY_HIDE_SKIPPED": "1"}).hide_skipped is True
    with TestClient(create_app(home, Settings(watch_interval_s=0.05, cookie_secure=False,
                                              hide_skipped=True))) as client:
        feedback(client, keys["S1"], "P4", "skip")
        assert products(client, keys["S1"]) == ["P1", "P2"]
        feedback(client, keys["S1"], "P1", "posted")  # posted stays on the list (marked on the page)
        assert products(client, keys["S1"]) == ["P1", "P2"]


def test_the_last_mark_counts_and_old_not_interested_marks_expire(home, keys, monkeypatch):
    with TestClient(create_app(home, FAST)) as client:
        monkeypatch.setattr(api.feedback_store, "platform_now", lambda: datetime(2026, 10, 1, 9, tzinfo=TZ))
        feedback(client, keys["S1"], "P1", "not_interested")  # 52 days before the list: expired
        monkeypatch.setattr(api.feedback_store, "platform_now", lambda: LIST_DAY)
        feedback(client, keys["S1"], "P2", "not_interested")
        assert products(client, keys["S1"]) == ["P1", "P4"]
        feedback(client, keys["S1"], "P2", "posted")  # changed their mind: the later mark wins
        assert products(client, keys["S1"]) == ["P1", "P2", "P4"]


# --- platform-wide exclusions ----------------------------------------------------------------------


def test_an_admin_exclusion_leaves_every_groups_next_request_and_can_be_lifted(client, keys):
    r = client.post("/v1/admin/exclusions", json=RECALL, headers=bearer(keys["admin"]))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["product_id"] == "P1" and body["name"] == "有机鸡蛋 30枚" and body["active"] is True
    assert body["reason"] == RECALL["reason"] and body["excluded_by"] and body["excluded_at"]
    assert products(client, keys["S1"]) == ["P2", "P4"]
    assert products(client, keys["S2"], "G3") == ["P4"]
    admin = bearer(keys["admin"])
    again = client.post("/v1/admin/exclusions", json={**RECALL, "reason": "twice"}, headers=admin)
    assert again.status_code == 200 and again.json()["excluded_at"] == body["excluded_at"]  # the first one
    listed = client.get("/v1/admin/exclusions", headers=bearer(keys["admin"])).json()["exclusions"]
    assert [e["product_id"] for e in listed] == ["P1"]
    client.post("/login", data={"key": keys["admin"]})
    assert "有机鸡蛋 30枚" not in client.get("/shop?shopkeeper=S2").text
    assert "recall: batch 2026-11-03" in client.get("/admin").text
    lifted = client.delete("/v1/admin/exclusions/P1", headers=bearer(keys["admin"]))
    assert lifted.status_code == 200 and lifted.json()["active"] is False and lifted.json()["lifted_at"]
    assert products(client, keys["S1"]) == ["P1", "P2", "P4"]
    gone = client.delete("/v1/admin/exclusions/P1", headers=bearer(keys["admin"]))
    assert gone.status_code == 404 and gone.json()["error"] == "not_excluded"


@pytest.mark.parametrize("who", ["S1", "SUP1"])
def test_only_admin_keys_manage_exclusions(client, keys, who):
    for method, path in (("POST", "/v1/admin/exclusions"), ("GET", "/v1/admin/exclusions"),
                         ("DELETE", "/v1/admin/exclusions/P1")):
        r = client.request(method, path, json=RECALL if method == "POST" else None, headers=bearer(keys[who]))
        assert r.status_code == 403, (method, r.text)
        assert r.json()["error"] == "wrong_role" and "admin keys only" in r.json()["detail"]
        assert client.request(method, path, json=RECALL if method == "POST" else None).status_code == 401
    assert products(client, keys["S1"]) == ["P1", "P2", "P4"]
    assert not exclusions_path(client.app.state.home).exists()


def test_an_unknown_product_or_a_bad_reason_is_refused_with_the_field_named(client, keys):
    admin = bearer(keys["admin"])
    r = client.post("/v1/admin/exclusions", json={"product_id": "P404", "reason": "recall"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"] == "unknown_product"
    assert "body.product_id: 'P404' is not a product of snapshot run-1" in r.json()["detail"]
    for reason in ("", "   ", "line one\nline two"):
        r = client.post("/v1/admin/exclusions", json={"product_id": "P1", "reason": reason}, headers=admin)
        assert r.status_code == 422 and "body.reason" in r.json()["detail"], reason
    r = client.post("/v1/admin/exclusions", json={"product_id": "P1"}, headers=admin)
    assert r.status_code == 422 and "body.reason" in r.json()["detail"]
    assert products(client, keys["S1"]) == ["P1", "P2", "P4"]


# --- durable: a restart, another worker, the nightly ------------------------------------------------


def test_exclusions_and_marks_survive_a_restart(home: Home, keys):
    with TestClient(create_app(home, FAST)) as first:
        r = first.post("/v1/admin/exclusions", json=RECALL, headers=bearer(keys["admin"]))
        assert r.status_code == 201
        feedback(first, keys["S1"], "P2", "not_interested")
        assert products(first, keys["S1"]) == ["P4"]
    with TestClient(create_app(home, FAST)) as restarted:  # rebuilt from the files alone
        assert products(restarted, keys["S1"]) == ["P4"]
        assert products(restarted, keys["S2"], "G3") == ["P4"]
        listed = restarted.get("/v1/admin/exclusions", headers=bearer(keys["admin"])).json()["exclusions"]
        assert [(e["product_id"], e["reason"]) for e in listed] == [("P1", RECALL["reason"])]
        assert restarted.delete("/v1/admin/exclusions/P1", headers=bearer(keys["admin"])).status_code == 200
    with TestClient(create_app(home, FAST)) as again:
        assert products(again, keys["S1"]) == ["P1", "P4"]  # the lift was durable too


def _eventually(check, seconds: float = 5.0) -> None:
    deadline = time.time() + seconds
    while not check():
        assert time.time() < deadline, "not applied by the other worker in time"
        time.sleep(0.02)


@pytest.fixture
def two_workers(home: Home, keys) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(create_app(home, FAST)) as a, TestClient(create_app(home, FAST)) as b:
        yield a, b


def test_another_worker_applies_them_within_its_watch_interval(two_workers, keys):
    a, b = two_workers
    assert a.post("/v1/admin/exclusions", json=RECALL, headers=bearer(keys["admin"])).status_code == 201
    feedback(a, keys["S1"], "P2", "not_interested")
    _eventually(lambda: products(b, keys["S1"]) == ["P4"])
    assert b.delete("/v1/admin/exclusions/P1", headers=bearer(keys["admin"])).status_code == 200
    _eventually(lambda: products(a, keys["S1"]) == ["P1", "P4"])


def test_the_nightly_reads_what_is_excluded_now(client, keys):
    home = client.app.state.home
    admin = bearer(keys["admin"])
    for product in ("P1", "P4"):
        client.post("/v1/admin/exclusions", json={"product_id": product, "reason": f"recall {product}"},
                    headers=admin)
    client.delete("/v1/admin/exclusions/P1", headers=admin)
    frame = read_exclusions(home)
    assert frame.columns == ["product_id", "reason", "by", "at"]
    assert frame.select("product_id", "reason").rows() == [("P4", "recall P4")]
    path = exclusions_path(home)
    assert path.parent == home.landing and path.name.startswith("_")  # beside feedback, not ingested
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("torn,exclude,P2")  # a crash mid-write: the torn line waits, nothing breaks
    assert read_exclusions(home).get_column("product_id").to_list() == ["P4"]

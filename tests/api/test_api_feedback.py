"""Feedback: validated, durable before 202, recorded once per Idempotency-Key, also after a restart."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

import api.feedback_store
from api.app import create_app
from api.clock import TZ
from api.feedback_store import HEADER, FeedbackStore
from common.contract import TABLES
from common.home import Home
from tests.api.conftest import FAST, bearer


def landed(home: Home) -> list[dict[str, str]]:
    rows = []
    for path in sorted((home.landing / "feedback").glob("*.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            rows += list(csv.DictReader(fh))
    return rows


def key_id(key: str) -> str:
    return key.split("_")[1]


def test_retry_recorded_once_and_after_restart(home: Home, keys: dict[str, str]) -> None:
    h = bearer(keys["S1"]) | {"Idempotency-Key": "tap-42"}
    scoped = f"{key_id(keys['S1'])}:tap-42"
    body = {"product_id": "P2", "action": "skip"}
    with TestClient(create_app(home, FAST)) as client:
        first = client.post("/v1/groups/G1/feedback", json=body, headers=h)
        assert first.status_code == 202 and first.json()["duplicate"] is False
        assert len(landed(home)) == 1  # on disk before the answer came back
        retry = client.post("/v1/groups/G1/feedback", json=body, headers=h)
        assert retry.status_code == 202 and retry.json()["duplicate"] is True
        assert retry.json()["feedback_id"] == scoped and retry.json()["at"] == first.json()["at"]
    with TestClient(create_app(home, FAST)) as restarted:  # a new process: the index comes from the files
        again = restarted.post("/v1/groups/G1/feedback", json=body, headers=h)
        assert again.status_code == 202 and again.json()["duplicate"] is True
        other = restarted.post(
            "/v1/groups/G1/feedback",
            json={"product_id": "P1", "action": "posted"},
            headers=bearer(keys["S1"]),
        )
        assert other.status_code == 202
    rows = landed(home)
    assert [r["feedback_id"] for r in rows].count(scoped) == 1 and len(rows) == 2
    assert rows[0] == {
        "feedback_id": scoped,
        "group_id": "G1",
        "product_id": "P2",
        "action": "skip",
        "at": first.json()["at"],
    }
    assert rows[0]["at"].endswith("+08:00")


def test_landing_file_follows_the_contract(client: TestClient, home: Home, keys: dict[str, str]) -> None:
    client.post(
        "/v1/groups/G1/feedback",
        json={"product_id": "P1", "action": "not_interested"},
        headers=bearer(keys["S1"]),
    )
    files = list((home.landing / "feedback").glob("*.csv"))
    assert len(files) == 1 and len(files[0].stem) == 10  # <YYYY-MM-DD>.csv
    header = files[0].read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == list(HEADER) == TABLES["feedback"].column_names


def test_validation_names_the_field(client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["S1"])
    r = client.post("/v1/groups/G1/feedback", json={"product_id": "P1", "action": "love"}, headers=h)
    assert r.status_code == 422 and "body.action" in r.json()["detail"]
    r = client.post("/v1/groups/G1/feedback", json={"product_id": "P404", "action": "skip"}, headers=h)
    assert (
        r.status_code == 422 and r.json()["error"] == "unknown_product" and "product_id" in r.json()["detail"]
    )
    r = client.post("/v1/groups/G1/feedback", json={"action": "skip"}, headers=h)
    assert r.status_code == 422 and "body.product_id" in r.json()["detail"]
    r = client.post(
        "/v1/groups/G1/feedback",
        json={"product_id": "P1", "action": "skip"},
        headers=h | {"Idempotency-Key": "has spaces, commas"},
    )
    assert r.status_code == 422 and "Idempotency-Key" in r.json()["detail"]


def test_key_reused_for_another_body_is_409(client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["S1"]) | {"Idempotency-Key": "k-1"}
    assert (
        client.post(
            "/v1/groups/G1/feedback", json={"product_id": "P1", "action": "skip"}, headers=h
        ).status_code
        == 202
    )
    r = client.post("/v1/groups/G1/feedback", json={"product_id": "P2", "action": "skip"}, headers=h)
    assert r.status_code == 409 and r.json()["error"] == "idempotency_conflict"


def test_idempotency_keys_are_scoped_to_the_caller(
    client: TestClient, home: Home, keys: dict[str, str]
) -> None:
    """Shopkeeper S2 reusing S1's key neither collides with nor learns S1's request, nor can pre-claim it."""
    a = client.post(
        "/v1/groups/G1/feedback",
        json={"product_id": "P1", "action": "skip"},
        headers=bearer(keys["S1"]) | {"Idempotency-Key": "tap-8812"},
    )
    assert a.status_code == 202 and a.json()["duplicate"] is False
    b = client.post(
        "/v1/groups/G3/feedback",
        json={"product_id": "P4", "action": "posted"},
        headers=bearer(keys["S2"]) | {"Idempotency-Key": "tap-8812"},
    )
    assert b.status_code == 202, b.text
    assert b.json()["duplicate"] is False and b.json()["group_id"] == "G3"
    assert "G1" not in b.text and "P1" not in b.text and "skip" not in b.text
    # S2 claims a key first; S1's later request with it is S1's own, new request
    pre = client.post(
        "/v1/groups/G3/feedback",
        json={"product_id": "P1", "action": "not_interested"},
        headers=bearer(keys["S2"]) | {"Idempotency-Key": "tap-9000"},
    )
    assert pre.status_code == 202
    mine = client.post(
        "/v1/groups/G2/feedback",
        json={"product_id": "P3", "action": "posted"},
        headers=bearer(keys["S1"]) | {"Idempotency-Key": "tap-9000"},
    )
    assert mine.status_code == 202 and mine.json()["duplicate"] is False and mine.json()["group_id"] == "G2"
    rows = landed(home)
    assert len(rows) == 4 and len({r["feedback_id"] for r in rows}) == 4
    assert {(r["group_id"], r["product_id"], r["action"]) for r in rows} == {
        ("G1", "P1", "skip"),
        ("G3", "P4", "posted"),
        ("G3", "P1", "not_interested"),
        ("G2", "P3", "posted"),
    }


def test_torn_last_line_is_not_glued(tmp_path: Path) -> None:
    home = Home(tmp_path)
    folder = home.landing / "feedback"
    folder.mkdir(parents=True)
    (folder / "2026-11-22.csv").write_text(
        ",".join(HEADER) + "\nold,G1,P1,skip,2026-11-22T08:00:00+08:00\ntorn,G1", encoding="utf-8"
    )
    store = FeedbackStore(home)
    assert store.get("old") is not None and store.get("torn") is None
    from zoneinfo import ZoneInfo

    store.record("G1", "P2", "posted", "new", now=datetime(2026, 11, 22, 9, tzinfo=ZoneInfo("Asia/Shanghai")))
    lines = (folder / "2026-11-22.csv").read_text(encoding="utf-8").splitlines()
    assert lines[-2] == "torn,G1" and lines[-1].startswith("new,G1,P2,posted,2026-11-22T09:00:00")


# --- feedback is about a pick of the group's list (black-box trial 2) ---------------------------------


def test_a_product_not_on_the_groups_list_is_refused(client: TestClient, home: Home, keys: dict[str, str]):
    """P3 is a product of the snapshot but not on G1's list for 2026-11-22 (P1, P2, P4)."""
    r = client.post("/v1/groups/G1/feedback", json={"product_id": "P3", "action": "posted"},
                    headers=bearer(keys["S1"]))
    assert r.status_code == 422 and r.json()["error"] == "not_in_picks", r.text
    detail = r.json()["detail"]
    assert "body.product_id: 'P3'" in detail and "G1" in detail and "2026-11-22" in detail
    r = client.post("/v1/groups/G1/feedback", json={"product_id": "P5", "action": "not_interested"},
                    headers=bearer(keys["S1"]))
    assert r.status_code == 422 and r.json()["error"] == "not_in_picks"
    assert landed(home) == []  # nothing recorded


def test_posted_and_skip_need_todays_list_not_interested_does_not(
    client: TestClient, home: Home, keys: dict[str, str], monkeypatch
) -> None:
    """A list for another day (the nightly did not publish today's): the page turns posted / skip off,
    and so does the API; not interested may still be said."""
    monkeypatch.setattr(api.feedback_store, "platform_now", lambda: datetime(2026, 12, 1, 13, tzinfo=TZ))
    h = bearer(keys["S1"])
    for action in ("posted", "skip"):
        r = client.post("/v1/groups/G1/feedback", json={"product_id": "P1", "action": action}, headers=h)
        assert r.status_code == 422 and r.json()["error"] == "stale_list", r.text
        assert "2026-11-22" in r.json()["detail"] and "today (2026-12-01)" in r.json()["detail"]
    r = client.post("/v1/groups/G1/feedback", json={"product_id": "P1", "action": "not_interested"},
                    headers=h)
    assert r.status_code == 202, r.text
    assert [(row["product_id"], row["action"]) for row in landed(home)] == [("P1", "not_interested")]


def test_a_retry_gets_its_first_answer_after_the_list_went_stale(
    client: TestClient, keys: dict[str, str], monkeypatch
) -> None:
    h = bearer(keys["S1"]) | {"Idempotency-Key": "tap-late"}
    body = {"product_id": "P1", "action": "posted"}
    first = client.post("/v1/groups/G1/feedback", json=body, headers=h)
    assert first.status_code == 202
    monkeypatch.setattr(api.feedback_store, "platform_now", lambda: datetime(2026, 11, 23, 0, 5, tzinfo=TZ))
    retry = client.post("/v1/groups/G1/feedback", json=body, headers=h)  # just after midnight
    assert retry.status_code == 202 and retry.json()["duplicate"] is True


def test_with_todays_and_tomorrows_lists_each_mark_goes_by_the_list_its_product_is_on(tmp_path: Path) -> None:
    """The page shows the latest list (tomorrow's, buttons off but not interested); the API takes
    posted / skip for today's picks, not interested for either list, and names both lists otherwise."""
    from datetime import date

    import polars as pl

    from api.keys import create_key
    from tests.api.world import small_world, write_snapshot

    world = small_world()
    tomorrow = small_world(day=date(2026, 11, 23))["picks"].filter(pl.col("group_id") == "G1").with_columns(
        pl.col("product_id").replace("P4", "P3"),
        pl.when(pl.col("product_id") == "P4").then(None).otherwise("campaign_id").alias("campaign_id"),
    )
    world["picks"] = pl.concat([world["picks"], tomorrow])  # G1: P1 P2 P4 today, P1 P2 P3 tomorrow
    home = Home(tmp_path / "h").ensure()
    write_snapshot(home, world, run_id="r-two-days")
    h = bearer(create_key(home, "shopkeeper", "S1"))
    with TestClient(create_app(home, FAST)) as client:

        def post(product: str, action: str):
            body = {"product_id": product, "action": action}
            return client.post("/v1/groups/G1/feedback", json=body, headers=h)

        assert post("P4", "posted").status_code == 202  # today's list
        assert post("P3", "not_interested").status_code == 202  # tomorrow's, as the page allows
        r = post("P3", "skip")
        assert r.status_code == 422 and r.json()["error"] == "stale_list"
        assert "is for 2026-11-23, not today (2026-11-22)" in r.json()["detail"]
        r = post("P5", "posted")
        assert r.status_code == 422 and r.json()["error"] == "not_in_picks"
        assert "for 2026-11-22 or 2026-11-23" in r.json()["detail"]

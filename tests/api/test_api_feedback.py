"""Feedback: validated, durable before 202, recorded once per Idempotency-Key, also after a restart."""

from __future__ import annotations

import csv
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
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
    from datetime import datetime
    from zoneinfo import ZoneInfo

    store.record("G1", "P2", "posted", "new", now=datetime(2026, 11, 22, 9, tzinfo=ZoneInfo("Asia/Shanghai")))
    lines = (folder / "2026-11-22.csv").read_text(encoding="utf-8").splitlines()
    assert lines[-2] == "torn,G1" and lines[-1].startswith("new,G1,P2,posted,2026-11-22T09:00:00")

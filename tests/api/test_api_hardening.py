"""Smaller findings of the probe (#14): strict dates, the Content-Type hint, revoked keys in the log,
no server paths in public bodies, local docs, HEAD."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.keys import revoke_key
from common.home import Home
from tests.api.conftest import FAST, bearer


@pytest.mark.parametrize(
    "bad", ["20261122", "2026-W47-7", "2026-326", "2026-11-22T00:00", "2026/11/22"])
def test_dates_must_be_exactly_yyyy_mm_dd(client: TestClient, keys: dict[str, str], bad: str) -> None:
    r = client.get(f"/v1/groups/G1/picks?date={bad}", headers=bearer(keys["S1"]))
    # one message for every wrong shape (not a regular expression for some, a sentence for others)
    assert r.status_code == 422 and "query.date: expected a date as YYYY-MM-DD" in r.json()["detail"], r.text
    r = client.get(f"/v1/suppliers/SUP1/demand?as_of={bad}", headers=bearer(keys["SUP1"]))
    assert r.status_code == 422 and "query.as_of: expected a date as YYYY-MM-DD" in r.json()["detail"], r.text


def test_a_day_the_calendar_lacks_is_named_so(client: TestClient, keys: dict[str, str]) -> None:
    """2026-02-30 is in the shape asked for: "expected a date as YYYY-MM-DD" sent the user looking
    for a typo in the shape."""
    r = client.get("/v1/suppliers/SUP1/demand?as_of=2026-02-30", headers=bearer(keys["SUP1"]))
    assert r.status_code == 422
    assert r.json()["detail"].startswith("query.as_of: '2026-02-30' is not a day of the calendar"), r.text


def test_good_dates_still_work(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/v1/groups/G1/picks?date=2026-11-22", headers=bearer(keys["S1"])).status_code == 200
    r = client.get("/v1/suppliers/SUP1/demand?as_of=2026-11-22", headers=bearer(keys["SUP1"]))
    assert r.status_code == 200


def test_a_body_without_json_content_type_is_told_so(client: TestClient, keys: dict[str, str]) -> None:
    """`curl -d '{...}'` sends application/x-www-form-urlencoded: the 422 names the header to send."""
    r = client.post(
        "/v1/groups/G1/feedback",
        content=b'{"product_id": "P1", "action": "posted"}',
        headers=bearer(keys["S1"]) | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 422 and "Content-Type: application/json" in r.json()["detail"]
    r = client.post(
        "/v1/groups/G1/feedback",
        content=b'{"product_id": "P1", "action": "posted"}',
        headers=bearer(keys["S1"]) | {"Content-Type": "application/json"},
    )
    assert r.status_code == 202


def test_a_revoked_keys_401_is_logged_with_its_key_id(
    client: TestClient, home: Home, keys: dict[str, str]
) -> None:
    key_id = keys["S1"].split("_")[1]
    revoke_key(home, key_id)
    access = client.app.state.access_log
    access.flush()
    access.stream = io.StringIO()
    r = client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"]))
    assert r.status_code == 401 and r.json()["error"] == "revoked_key"
    line = access.lines()[-1]
    assert line["status"] == 401 and line["key_id"] == key_id and line["role"] == "shopkeeper"


def test_public_bodies_hold_no_server_paths(tmp_path: Path) -> None:
    empty = Home(tmp_path / "secret-place" / "home").ensure()
    from api.keys import create_key

    key = create_key(empty, "shopkeeper", "S1")
    with TestClient(create_app(empty, FAST)) as c:
        for r in (c.get("/readyz"), c.get("/v1/groups/G1/picks", headers=bearer(key))):
            assert r.status_code == 503 and set(r.json()) == {"error", "detail"}
            assert "secret-place" not in r.text and "/" not in r.json()["detail"], r.text
    broken = Home(tmp_path / "other-secret" / "home").ensure()
    folder = broken.snapshots / "bad-run"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    broken.current.symlink_to(folder)
    with TestClient(create_app(broken, FAST)) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and "refused" in r.json()["detail"]
        assert "other-secret" not in r.text and "manifest" not in r.text


def test_docs_are_served_without_a_cdn(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        r = client.get(path)
        assert r.status_code == 200 and "/openapi.json" in r.text
        assert "http://" not in r.text and "https://" not in r.text and "<script" not in r.text
    assert client.get("/openapi.json").json()["info"]["title"] == "circlebuy"


def test_head_is_answered_like_get(client: TestClient, keys: dict[str, str]) -> None:
    for path, key in (
        ("/healthz", None),
        ("/readyz", None),
        ("/v1/groups/G1/picks", "S1"),
        ("/v1/suppliers/SUP1/demand?format=csv", "SUP1"),
        ("/login", None),
    ):
        headers = bearer(keys[key]) if key else {}
        got, head = client.get(path, headers=headers), client.head(path, headers=headers)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"" and head.headers.get("content-type") == got.headers.get("content-type")
        if "content-length" in got.headers:
            assert head.headers["content-length"] == got.headers["content-length"]
    assert client.head("/v1/groups/G1/picks").status_code == 401
    assert client.head("/v1/groups/G1/feedback", headers=bearer(keys["S1"])).status_code == 405


def test_an_admin_is_told_in_good_english_and_bad_json_is_named(client: TestClient,
                                                                keys: dict[str, str]) -> None:
    r = client.post("/v1/groups/G1/feedback", json={"product_id": "P1", "action": "posted"},
                    headers=bearer(keys["admin"]))
    assert r.status_code == 403 and r.json()["detail"].startswith("an admin key cannot"), r.text
    r = client.post("/v1/groups/G1/feedback", content=b'{"product_id": "P1", "action": }',
                    headers=bearer(keys["S1"]) | {"Content-Type": "application/json"})
    detail = r.json()["detail"]
    assert r.status_code == 422 and detail == "body: not valid JSON at character 31 (Expecting value)", detail
    # bytes that are not UTF-8 were a bare 400 "There was an error parsing the body"
    r = client.post("/v1/groups/G1/feedback", content=b'\xff\xfe{',
                    headers=bearer(keys["S1"]) | {"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request", r.text
    assert r.json()["detail"].startswith("body: not valid JSON (it must be UTF-8 text"), r.text

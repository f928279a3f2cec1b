"""Query strings of the data routes (black-box trial 2): a parameter a route does not take, or one sent
twice, is a 422 naming it, never silently ignored; `format` in any case; long ids clipped in errors;
a trailing slash served as the route, not a bare 307."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import bearer

LONG = "g" * 5000


@pytest.mark.parametrize(
    ("path", "who", "takes"),
    [
        ("/v1/suppliers/SUP1/demand", "SUP1", "takes format, as_of, lang"),
        ("/v1/groups/G1/picks", "S1", "takes date, lang"),
        ("/v1/campaigns/C1/demand", "SUP1", "takes lang"),
        ("/v1/admin/exclusions", "admin", "takes no query parameters"),
    ],
)
def test_a_parameter_the_route_does_not_take_is_named_in_a_422(
    client: TestClient, keys: dict[str, str], path: str, who: str, takes: str
) -> None:
    r = client.get(f"{path}?warehouse_id=w99&limit=100000000&page=-1", headers=bearer(keys[who]))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "unknown_parameter"
    assert "'warehouse_id', 'limit', 'page'" in body["detail"] and takes in body["detail"], body["detail"]


def test_feedback_takes_no_query_parameters(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/v1/groups/G1/feedback?dry_run=1", json={"product_id": "P1", "action": "posted"},
                    headers=bearer(keys["S1"]))
    assert r.status_code == 422 and r.json()["error"] == "unknown_parameter" and "'dry_run'" in r.text
    assert client.app.state.feedback.get("x") is None and len(client.app.state.feedback) == 0  # not recorded


def test_declared_parameters_still_work(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/groups/G1/picks?date=2026-11-22&lang=en", headers=bearer(keys["S1"]))
    assert r.status_code == 200 and r.json()["date"] == "2026-11-22"
    r = client.get("/v1/suppliers/SUP1/demand?format=json&as_of=2026-11-22", headers=bearer(keys["SUP1"]))
    assert r.status_code == 200 and len(r.json()["rows"]) == 4


def test_lang_is_taken_by_every_data_route_a_shopkeeper_or_supplier_reads(client: TestClient,
                                                                           keys: dict[str, str]) -> None:
    """A client that adds ?lang=zh to every request was refused (422) on the demand routes only."""
    h = bearer(keys["SUP1"])
    for path in ("/v1/suppliers/SUP1/demand?format=csv", "/v1/campaigns/C1/demand?"):
        plain = client.get(path, headers=h)
        zh = client.get(f"{path}&lang=zh", headers=h)
        assert zh.status_code == 200 and zh.content == plain.content


@pytest.mark.parametrize("fmt", ["CSV", "Csv", "PARQUET", "Json"])
def test_format_is_matched_without_regard_to_case(client: TestClient, keys: dict[str, str], fmt: str) -> None:
    r = client.get(f"/v1/suppliers/SUP1/demand?format={fmt}", headers=bearer(keys["SUP1"]))
    assert r.status_code == 200, r.text
    lower = client.get(f"/v1/suppliers/SUP1/demand?format={fmt.lower()}", headers=bearer(keys["SUP1"]))
    assert r.content == lower.content and r.headers["content-type"] == lower.headers["content-type"]


def test_a_parameter_sent_twice_is_refused_not_the_last_one_used(client: TestClient, keys: dict[str, str]):
    r = client.get("/v1/groups/G1/picks?date=2026-11-22&date=2026-01-01", headers=bearer(keys["S1"]))
    assert r.status_code == 422 and r.json()["error"] == "repeated_parameter"
    assert "query.date: given 2 times" in r.json()["detail"]
    r = client.get("/v1/suppliers/SUP1/demand?format=csv&format=json", headers=bearer(keys["SUP1"]))
    assert r.status_code == 422 and "query.format: given 2 times" in r.json()["detail"]


def test_long_ids_are_clipped_in_error_messages(client: TestClient, keys: dict[str, str]) -> None:
    for path, who, status in (
        (f"/v1/groups/{LONG}/picks", "S1", 403),
        (f"/v1/groups/{LONG}/picks", "admin", 404),
        (f"/v1/suppliers/{LONG}/demand", "SUP1", 403),
        (f"/v1/campaigns/{LONG}/demand", "admin", 404),
        (f"/v1/groups/G1/picks?date={LONG}", "S1", 422),
    ):
        r = client.get(path, headers=bearer(keys[who]))
        assert r.status_code == status, (path[:40], r.text[:200])
        detail = r.json()["detail"]
        assert "g" * 64 + "…" in detail and "g" * 65 not in detail and len(detail) < 300, detail[:300]
    r = client.get(f"/v1/groups/G1/picks?{LONG}=1", headers=bearer(keys["S1"]))
    assert r.status_code == 422 and len(r.json()["detail"]) < 300
    r = client.get(f"/v1/nope/{LONG}", headers=bearer(keys["S1"]))
    assert r.status_code == 404 and r.json()["detail"].endswith("g…") and len(r.json()["detail"]) < 100


def test_a_trailing_slash_is_served_as_the_route_not_a_bare_redirect(client: TestClient, keys: dict[str, str]
                                                                      ) -> None:
    plain = client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"]))
    r = client.get("/v1/groups/G1/picks/", headers=bearer(keys["S1"]), follow_redirects=False)
    assert r.status_code == 200 and r.json() == plain.json()
    r = client.get("/v1/suppliers/SUP1/demand/?format=csv", headers=bearer(keys["SUP1"]),
                   follow_redirects=False)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    r = client.post("/v1/groups/G1/feedback/", json={"product_id": "P1", "action": "posted"},
                    headers=bearer(keys["S1"]), follow_redirects=False)
    assert r.status_code == 202, r.text  # a redirected POST would have lost its body
    r = client.get("/v1/groups/G1/nothing/", headers=bearer(keys["S1"]), follow_redirects=False)
    assert r.status_code == 404 and json.loads(r.content)["error"] == "not_found"  # JSON, as every error

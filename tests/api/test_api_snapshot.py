"""Snapshot validation, the live switch under load, broken snapshots refused, readiness and metrics."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import httpx
import polars as pl
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.snapshot import load_snapshot
from common.errors import SnapshotError
from common.home import Home
from tests.api.conftest import FAST, LiveServer, bearer, republish
from tests.api.world import publish_snapshot, small_world, write_snapshot


def wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def unpublished(home: Home, run_id: str) -> Path:
    return write_snapshot(home, small_world(), run_id=run_id, publish=False)


def test_manifest_missing(home: Home) -> None:
    folder = unpublished(home, "r2")
    (folder / "manifest.json").unlink()
    with pytest.raises(SnapshotError, match=r"manifest.json: missing"):
        load_snapshot(folder)


def test_checksum_mismatch(home: Home) -> None:
    folder = unpublished(home, "r2")
    pl.DataFrame({"x": [1]}).write_parquet(folder / "groups.parquet")
    with pytest.raises(SnapshotError, match=r"groups.parquet: sha256 .* does not match"):
        load_snapshot(folder)


def test_row_count_mismatch(home: Home) -> None:
    folder = unpublished(home, "r2")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["row_counts"]["picks.parquet"] = 999
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match=r"picks.parquet: 7 rows but the manifest's row_counts says 999"):
        load_snapshot(folder)


def test_missing_column_and_bad_reference(home: Home) -> None:
    world = small_world()
    world["demand"] = world["demand"].drop("forecast_p90")
    folder = write_snapshot(home, world, run_id="r2", publish=False)
    with pytest.raises(SnapshotError, match=r"demand.parquet: missing column\(s\) forecast_p90"):
        load_snapshot(folder)
    world = small_world()
    world["picks"] = world["picks"].with_columns(pl.lit("P404").alias("product_id"))
    folder = write_snapshot(home, world, run_id="r3", publish=False)
    with pytest.raises(SnapshotError, match=r"picks.parquet: 1 product_id value\(s\) not in .*P404"):
        load_snapshot(folder)


def test_missing_file(home: Home) -> None:
    folder = unpublished(home, "r2")
    (folder / "campaigns.parquet").unlink()
    with pytest.raises(SnapshotError, match=r"campaigns.parquet: missing"):
        load_snapshot(folder)


def test_not_ready_without_snapshot(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    home = Home(tmp_path / "empty").ensure()
    with TestClient(create_app(home, FAST)) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["error"] == "not_ready"
        assert client.get("/healthz").status_code == 200
        r = client.get("/v1/groups/G1/picks", headers=bearer("cb_x_y"))
        assert r.status_code == 401  # auth first: no key -> 401 even before a snapshot exists
        write_snapshot(home, small_world(), run_id="late")  # the first nightly finishes
        wait_for(lambda: client.get("/readyz").status_code == 200)
        assert client.get("/readyz").json()["snapshot"] == "late"


def test_broken_snapshot_refused_old_keeps_serving(
    client: TestClient, home: Home, keys: dict[str, str]
) -> None:
    before = client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"])).json()
    folder = unpublished(home, "broken")
    with open(folder / "picks.parquet", "r+b") as fh:  # half-written: truncated after the manifest
        fh.truncate(100)
    publish_snapshot(home, folder)
    app = client.app
    wait_for(lambda: app.state.live.refusals >= 1)
    ready = client.get("/readyz").json()
    assert ready["snapshot"] == "run-1"
    assert client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"])).json() == before
    metrics = client.get("/metrics").text
    assert (
        'circlebuy_snapshot_info{run_id="run-1"' in metrics
        and "circlebuy_snapshot_refusals_total 1" in metrics
    )
    republish(home, "run-2", model_version="als-test-2")  # the next good run is taken
    wait_for(lambda: client.get("/readyz").json()["snapshot"] == "run-2")
    body = client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"])).json()
    assert body["model_version"] == "als-test-2"


def test_switch_under_load_no_failed_request(
    live_server: LiveServer, home: Home, keys: dict[str, str]
) -> None:
    """Threads hammer picks and downloads while the nightly publishes twice; every answer is a 200."""
    stop = threading.Event()
    statuses: list[int] = []
    versions: set[str] = set()
    errors: list[str] = []

    def hammer(path: str, key: str) -> None:
        with httpx.Client(base_url=live_server.url, headers=bearer(key), timeout=10) as c:
            while not stop.is_set():
                try:
                    r = c.get(path)
                    statuses.append(r.status_code)
                    if path.endswith("picks"):
                        versions.add(r.json()["model_version"])
                except Exception as exc:  # a refused connection or a torn body counts as a failure
                    errors.append(repr(exc))

    threads = [
        threading.Thread(target=hammer, args=a)
        for a in (
            ("/v1/groups/G1/picks", keys["S1"]),
            ("/v1/groups/G3/picks", keys["S2"]),
            ("/v1/suppliers/SUP1/demand?format=parquet", keys["SUP1"]),
            ("/v1/campaigns/C1/demand", keys["SUP1"]),
        )
    ]
    for t in threads:
        t.start()

    def live_run() -> str:
        return httpx.get(f"{live_server.url}/readyz", timeout=10).json()["snapshot"]

    time.sleep(0.3)
    for run in ("run-2", "run-3"):
        republish(home, run, model_version=f"als-test-{run[-1]}")
        wait_for(lambda run=run: live_run() == run, timeout=20)
        time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(statuses) > 50 and set(statuses) == {200}
    assert {"als-test-1", "als-test-3"} <= versions
    assert httpx.get(f"{live_server.url}/readyz").json()["snapshot"] == "run-3"


def test_metrics_and_logs_without_secrets(client: TestClient, keys: dict[str, str]) -> None:
    access = client.app.state.access_log
    access.flush()
    access.stream = io.StringIO()
    client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"]))
    client.get('/v1/groups/G3/picks?lang="quoted"', headers=bearer(keys["S1"]))  # a declared parameter
    lines = access.lines()
    assert [line["status"] for line in lines] == [200, 403]
    assert lines[0]["route"] == "/v1/groups/{group_id}/picks" and lines[0]["role"] == "shopkeeper"
    assert lines[0]["key_id"] == keys["S1"].split("_")[1] and lines[0]["ts"].endswith("Z")
    assert keys["S1"] not in access.stream.getvalue()
    text = client.get("/metrics").text
    assert 'circlebuy_requests_total{route="/v1/groups/{group_id}/picks",method="GET",status="200"} 1' in text
    assert (
        "circlebuy_request_duration_seconds_bucket"
        '{route="/v1/groups/{group_id}/picks",method="GET",le="+Inf"} 2' in text
    )
    assert 'circlebuy_snapshot_info{run_id="run-1",date="2026-11-22",model_version="als-test-1"} 1' in text

"""The nightly runner's guarantees, with stand-in stages: atomic publish, ledger, lock, backfill."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from common.errors import RunLockedError, StageFailedError, UsageError
from common.home import Home
from pipelines.nightly import NightlyConfig, run_backfill, run_nightly
from pipelines.nightly import runner as runner_mod
from pipelines.nightly.ledger import read_ledger
from pipelines.nightly.lock import run_lock
from pipelines.nightly.snapshot import live_snapshot, verify_snapshot
from pipelines.warehouse import connect

STAGE_NAMES = ["ingest", "load", "train", "picks", "forecast", "evaluate", "report", "publish"]


def fake_stages(calls: list[str]):
    """Stages that write a deterministic picks/demand for the run's date, then the real publish."""
    from pipelines.nightly.stages import stage_publish

    def make(name):
        def fn(ctx):
            calls.append(name)
            if name == "picks":
                ctx.picks = pl.DataFrame({"group_id": ["g1"], "for_date": [ctx.config.run_date],
                                          "rank": [1], "product_id": ["p1"],
                                          "model_version": ["fake"]})
                ctx.writer.write_frame("picks", ctx.picks)
            if name == "forecast":
                ctx.demand = pl.DataFrame({"product_id": ["p1"], "forecast_p50": [3.0],
                                           "model_version": ["fake"]})
                ctx.writer.write_frame("demand", ctx.demand)
            if name == "report":
                ctx.writer.write_text("report.html", "<html></html>")
            return 1, 1
        return fn

    return [(n, make(n)) if n != "publish" else (n, stage_publish) for n in STAGE_NAMES]


@pytest.fixture()
def home(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(runner_mod, "STAGES", fake_stages(calls))
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    return Home(tmp_path / "home")


def ledger(home: Home) -> pl.DataFrame:
    con = connect(home)
    try:
        return read_ledger(con)
    finally:
        con.close()


def test_success_publishes_snapshot_and_records_ledger(home):
    result = run_nightly(home, NightlyConfig(run_date=date(2026, 3, 1)))
    assert result["status"] == "succeeded"
    assert [s["name"] for s in result["stages"]] == STAGE_NAMES
    live = live_snapshot(home)
    assert live is not None and str(live) == result["snapshot"]
    manifest = verify_snapshot(live)
    assert manifest["date"] == "2026-03-01"
    assert set(manifest["files"]) == {"picks.parquet", "demand.parquet", "report.html"}
    rows = ledger(home)
    assert rows["status"].to_list() == ["succeeded"]
    assert [s["name"] for s in json.loads(rows["stages"][0])] == STAGE_NAMES


@pytest.mark.parametrize("stage", STAGE_NAMES)
def test_injected_failure_leaves_previous_snapshot_live_and_rerun_succeeds(home, monkeypatch, stage):
    first = run_nightly(home, NightlyConfig(run_date=date(2026, 3, 1)))
    before = live_snapshot(home)
    monkeypatch.setenv("CIRCLEBUY_FAIL_STAGE", stage)
    with pytest.raises(StageFailedError, match=stage) as raised:
        run_nightly(home, NightlyConfig(run_date=date(2026, 3, 2)))
    assert live_snapshot(home) == before and str(before) == first["snapshot"]
    # every failed stage leaves a report saying so, outside the snapshots
    report = Path(raised.value.summary["report"])
    assert report.parent.parent == home.root / "failed"
    page = report.read_text()
    assert f"failed at {stage}" in page and f"stage {stage} failed: failure injected" in page
    if stage == "ingest":  # the ingest section says why it has no counts, not "no raw files were ingested"
        assert "Ingest failed before its counts were recorded:</strong> failure injected" in page
        assert "no raw files were ingested" not in page and "Nothing is in quarantine" not in page
    verify_snapshot(before)  # untouched
    failed = ledger(home).filter(pl.col("status") == "failed")
    assert failed["failed_stage"].to_list() == [stage]
    assert "CIRCLEBUY_FAIL_STAGE" in failed["error"][0]
    assert not list(home.snapshots.glob(".staging-*"))
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE")
    again = run_nightly(home, NightlyConfig(run_date=date(2026, 3, 2)))
    assert again["status"] == "succeeded" and live_snapshot(home) != before


def test_the_old_stage_name_signals_still_injects_a_failure_at_load(home, monkeypatch):
    monkeypatch.setenv("CIRCLEBUY_FAIL_STAGE", "signals")  # renamed: it read the warehouse, built no signal
    with pytest.raises(StageFailedError, match="load"):
        run_nightly(home, NightlyConfig(run_date=date(2026, 3, 1)))
    assert ledger(home)["failed_stage"].to_list() == ["load"]


def test_unknown_fail_stage_is_a_usage_error(home, monkeypatch):
    monkeypatch.setenv("CIRCLEBUY_FAIL_STAGE", "nope")
    with pytest.raises(UsageError, match="not a stage"):
        run_nightly(home, NightlyConfig(run_date=date(2026, 3, 1)))


def _hold_lock(path, ready, release):
    with run_lock(path, what="test holder"):
        ready.set()
        release.wait(10)


def test_second_concurrent_run_is_refused_with_a_clear_message(home):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(home.lock, ready, release))
    home.ensure()
    holder.start()
    try:
        assert ready.wait(10)
        with pytest.raises(RunLockedError, match="another run is using this home"):
            run_nightly(home, NightlyConfig(run_date=date(2026, 3, 1)))
    finally:
        release.set()
        holder.join(10)
    assert run_nightly(home, NightlyConfig(run_date=date(2026, 3, 1)))["status"] == "succeeded"


def test_backfill_runs_in_order_and_stops_at_first_failure(home, monkeypatch):
    original = runner_mod.run_nightly
    seen = []

    def flaky(h, config):
        seen.append(config.run_date)
        if config.run_date == date(2026, 3, 3):
            monkeypatch.setenv("CIRCLEBUY_FAIL_STAGE", "train")
        try:
            return original(h, config)
        finally:
            monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)

    monkeypatch.setattr(runner_mod, "run_nightly", flaky)
    with pytest.raises(StageFailedError, match="backfill stopped at 2026-03-03"):
        run_backfill(home, date(2026, 3, 1), date(2026, 3, 5), NightlyConfig(run_date=date(2026, 3, 1)))
    assert seen == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
    assert verify_snapshot(live_snapshot(home))["date"] == "2026-03-02"


def test_only_the_last_n_snapshots_are_kept(home):
    for day in range(1, 5):
        run_nightly(home, NightlyConfig(run_date=date(2026, 3, day), keep_snapshots=2))
        time.sleep(0.01)
    kept = sorted(p.name for p in home.snapshots.iterdir())
    assert len(kept) == 2
    assert verify_snapshot(live_snapshot(home))["date"] == "2026-03-04"


def test_killed_run_is_marked_in_the_ledger_by_the_next_run(home):
    from pipelines.nightly.ledger import RunRecord, write_record

    con = connect(home)
    try:
        write_record(con, RunRecord(run_id="dead", run_date=date(2026, 3, 1)))
    finally:
        con.close()
    run_nightly(home, NightlyConfig(run_date=date(2026, 3, 1)))
    rows = ledger(home)
    assert rows.filter(pl.col("run_id") == "dead")["status"].to_list() == ["killed"]


def test_tampered_snapshot_is_refused_by_verify(home):
    run_nightly(home, NightlyConfig(run_date=date(2026, 3, 1)))
    live = live_snapshot(home)
    with open(live / "picks.parquet", "ab") as f:
        f.write(b"x")
    from common.errors import SnapshotError

    with pytest.raises(SnapshotError, match="checksum"):
        verify_snapshot(live)
    assert os.path.islink(home.current)

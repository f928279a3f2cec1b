"""The real nightly, end to end, on a tiny generated world (all stages, no stand-ins)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from common.home import Home
from pipelines.generate import run_generate
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly.snapshot import live_snapshot, verify_snapshot
from pipelines.warehouse import connect

END = date(2026, 11, 20)


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw")
    run_generate(out=out, groups=40, days=38, end=END, seed=3, dirty=False, fmt="parquet",
                 progress=False)
    return out


@pytest.fixture(scope="module")
def first_run(raw, tmp_path_factory):
    home = Home(tmp_path_factory.mktemp("home"))
    result = run_nightly(home, NightlyConfig(run_date=END, raw=raw))
    return home, result


def test_nightly_publishes_a_complete_snapshot(first_run):
    home, result = first_run
    assert result["status"] == "succeeded"
    assert [s["name"] for s in result["stages"]] == [
        "ingest", "load", "train", "picks", "forecast", "evaluate", "report", "publish"]
    live = live_snapshot(home)
    manifest = verify_snapshot(live)
    picks = pl.read_parquet(live / "picks.parquet")
    demand = pl.read_parquet(live / "demand.parquet")
    assert picks.height > 0 and demand.height > 0
    assert set(picks.columns) >= {"group_id", "for_date", "rank", "product_id", "campaign_id", "score",
                                  "slot", "reason", "model_version"}
    assert set(demand.columns) >= {"as_of", "campaign_id", "product_id", "supplier_id", "warehouse_id",
                                   "delivery_on", "ordered_qty", "groups_ordering", "forecast_p10",
                                   "forecast_p50", "forecast_p90", "suggested_qty", "method",
                                   "model_version"}
    assert picks["for_date"].unique().to_list() == [END]
    assert manifest["row_counts"]["picks.parquet"] == picks.height
    html = (live / "report.html").read_text()
    assert "<svg" in html and "https://" not in html
    ingest_stage = result["stages"][0]
    assert ingest_stage["rows_in"] == ingest_stage["rows_out"]  # a clean world: all loaded


def test_ledger_records_the_run_with_metrics_and_gates(first_run):
    home, result = first_run
    con = connect(home, read_only=True)
    try:
        row = con.sql("SELECT * FROM runs WHERE run_id = ?", params=[result["run_id"]]).pl()
    finally:
        con.close()
    assert row["status"].to_list() == ["succeeded"]
    gates = json.loads(row["gates"][0])
    assert {g["part"] for g in gates} == {"recsys", "forecast"}
    assert all(isinstance(g["message"], str) and g["message"] for g in gates)
    assert json.loads(row["model_versions"][0])["recsys"]


def test_same_date_again_gives_the_same_snapshot_and_no_duplicates(first_run, raw):
    home, result = first_run
    before = live_snapshot(home)
    counts = _table_counts(home)
    again = run_nightly(home, NightlyConfig(run_date=END, raw=raw))
    after = live_snapshot(home)
    assert after != before
    for name in ("picks", "demand"):
        assert_frame_equal(pl.read_parquet(before / f"{name}.parquet"),
                           pl.read_parquet(after / f"{name}.parquet"))
    assert _table_counts(home) == counts
    assert again["stages"][0]["rows_out"] == 0  # everything was a duplicate the second time
    # the full training is weekly: the second run refits the generators and reuses the saved ranker
    report = (after / "report.html").read_text()
    assert f"ranker reused from the training of 2026-11-20 (run {result['run_id']})" in report
    assert (home.models / f"recsys-{result['run_id']}.pkl").exists()
    # the pairs the models learned from, whether the ranker was trained or reused (it read 0 reusing)
    assert again["stages"][2]["name"] == "train" and again["stages"][2]["rows_out"] > 0
    assert again["stages"][2]["rows_out"] == result["stages"][2]["rows_out"]
    # the forecast evaluation is weekly: the second run reuses the first one's and says so
    assert f"forecast evaluation reused from run {result['run_id']}" in (after / "report.html").read_text()
    first, second = (json.loads((s / "evaluation.json").read_text()) for s in (before, after))
    reused = {k: v for k, v in second["forecast"].items() if k not in ("reused_from_date", "reused_as_of")}
    assert reused == {"reused_from_run": result["run_id"], **first["forecast"]}
    # ... scored as of the first run's D - horizon, which the reusing run names (keys only added)
    assert second["forecast"]["reused_as_of"] == first["as_of"]
    assert second["forecast"]["reused_from_date"] == str(END)
    # recommendations are scored on the training run's validation window every night, identically
    assert second["recsys"]["models"] == first["recsys"]["models"]
    assert second["recsys"]["source"].startswith("the training run's validation window")
    assert "Scored on: the training run&#x27;s validation window" in (after / "report.html").read_text()


def test_retraining_every_night_still_reuses_the_weekly_grid_search(first_run, raw):
    home, result = first_run
    again = run_nightly(home, NightlyConfig(run_date=END, raw=raw, retrain_every_days=1))
    report = (live_snapshot(home) / "report.html").read_text()
    assert "hyper-parameters reused from the tuning of 2026-11-20" in report
    assert "ranker reused" not in report
    assert (home.models / f"recsys-{again['run_id']}.pkl").exists()


def test_an_unreadable_saved_training_is_trained_again(first_run, raw):
    home, result = first_run
    for saved in home.models.glob("recsys-*.pkl"):
        saved.write_bytes(b"not a pickle")
    again = run_nightly(home, NightlyConfig(run_date=END, raw=raw))
    assert again["status"] == "succeeded"
    report = (live_snapshot(home) / "report.html").read_text()
    assert "could not be reused" in report and "trained again" in report
    assert (home.models / f"recsys-{again['run_id']}.pkl").stat().st_size > 100


def test_cli_failure_injection_exits_1_and_keeps_the_live_snapshot(first_run, raw):
    home, _ = first_run
    before = live_snapshot(home)
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "nightly", "--date", str(END), "--home",
         str(home.root), "--json"],
        capture_output=True, text=True, env={**_env(), "CIRCLEBUY_FAIL_STAGE": "forecast"},
    )
    assert proc.returncode == 1
    assert "stage forecast" in proc.stderr or "forecast" in proc.stderr
    assert live_snapshot(home) == before


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "CIRCLEBUY_FAIL_STAGE"}


def _table_counts(home: Home) -> dict:
    con = connect(home, read_only=True)
    try:
        return {t: con.sql(f'SELECT count(*) FROM "{t}"').fetchone()[0]
                for t in ("orders", "posts", "campaigns", "quarantine", "forecast_vintages")}
    finally:
        con.close()


def test_short_history_still_publishes_and_says_what_was_not_evaluated(tmp_path):
    raw = tmp_path / "raw"
    run_generate(out=raw, groups=20, days=12, end=END, seed=5, dirty=False, fmt="parquet",
                 progress=False)
    home = Home(tmp_path / "home")
    result = run_nightly(home, NightlyConfig(run_date=END, raw=raw))
    assert result["status"] == "succeeded"
    html = (live_snapshot(home) / "report.html").read_text()
    assert "not enough history" in html


def test_bad_raw_input_exits_2_and_json_reports_the_failed_run(tmp_path, raw):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "orders.parquet").write_bytes(b"not parquet")
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "nightly", "--date", str(END), "--home",
         str(tmp_path / "home"), "--raw", str(bad), "--json"],
        capture_output=True, text=True, env=_env(),
    )
    assert proc.returncode == 2, proc.stderr
    assert "orders.parquet" in proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "failed" and out["stages"][-1]["name"] == "ingest"


def test_snapshot_carries_group_and_supplier_names_for_the_pages(first_run):
    from api.snapshot import load_snapshot

    home, _ = first_run
    live = live_snapshot(home)
    groups = pl.read_parquet(live / "groups.parquet")
    assert groups.columns == ["group_id", "shopkeeper_id", "city", "warehouse_id", "name"]
    assert groups["name"].null_count() == 0 and groups["name"].str.contains(r"[\u4e00-\u9fff]").all()
    suppliers = pl.read_parquet(live / "suppliers.parquet")
    assert suppliers.columns == ["supplier_id", "name"] and suppliers.height > 0
    snap = load_snapshot(live)
    assert snap.group_names == dict(groups.select("group_id", "name").iter_rows())
    assert set(snap.supplier_names) == set(suppliers["supplier_id"])
    assert set(snap.warehouse_city) == set(groups["warehouse_id"])


def test_the_next_nightly_leaves_out_a_product_excluded_platform_wide(first_run, raw):
    """An admin's exclusion (the API's log beside the feedback) is read by the picks stage: no list holds
    the product; lifting it lets it back. Runs last: it republishes the module's home."""
    from api.exclusion_store import ExclusionStore

    home, _ = first_run
    before = pl.read_parquet(live_snapshot(home) / "picks.parquet")
    top = before.group_by("product_id").len().sort(["len", "product_id"], descending=[True, False])
    recalled = top["product_id"][0]
    store = ExclusionStore(home)
    store.exclude(recalled, "recall: test batch", "admin-key")
    result = run_nightly(home, NightlyConfig(run_date=END, raw=raw))
    assert result["status"] == "succeeded"
    after = pl.read_parquet(live_snapshot(home) / "picks.parquet")
    assert recalled not in after["product_id"].to_list()
    assert after["group_id"].n_unique() == before["group_id"].n_unique()  # the lists fill up instead
    report = (live_snapshot(home) / "report.html").read_text(encoding="utf-8")
    assert f"excluded platform-wide were left out of every list: {recalled}" in report
    store.lift(recalled, "admin-key")
    run_nightly(home, NightlyConfig(run_date=END, raw=raw))
    assert recalled in pl.read_parquet(live_snapshot(home) / "picks.parquet")["product_id"].to_list()



def test_a_pick_is_priced_at_its_campaigns_group_buy_price(first_run, raw):
    """The picks served the product's list price while members pay the campaign's (80-100% of it in the
    generated world, and in 以销定采 generally): the shopkeeper would quote the wrong price to the group."""
    from api.snapshot import load_snapshot

    home, _ = first_run
    live = live_snapshot(home)
    campaigns = pl.read_parquet(live / "campaigns.parquet")
    assert "price" in campaigns.columns
    price_of = dict(campaigns.select("campaign_id", "price").iter_rows())
    snap = load_snapshot(live)
    served = [p for body in snap.picks_bodies["zh_CN"][str(END)].values() for p in json.loads(body)["picks"]]
    with_campaign = [p for p in served if p["campaign_id"] is not None]
    assert with_campaign
    assert all(p["price"] == pytest.approx(price_of[p["campaign_id"]]) for p in with_campaign)
    assert any(p["price"] < p["list_price"] for p in with_campaign)  # the deal shows

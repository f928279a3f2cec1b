"""An empty snapshot never silently replaces a full one: refused (exit 2) unless --allow-empty, and the
CLI, the ledger and the report say why; the run's report badge says what happened (#14)."""

from __future__ import annotations

import json
import sys
from datetime import date

import polars as pl
import pytest

from common.errors import StageFailedError
from common.home import Home
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly import runner as runner_mod
from pipelines.nightly.ledger import read_ledger
from pipelines.nightly.snapshot import live_snapshot, verify_snapshot
from pipelines.nightly.stages import stage_publish, stage_report
from pipelines.warehouse import connect

STAGE_NAMES = ["ingest", "load", "train", "picks", "forecast", "evaluate", "report", "publish"]
DAY = date(2026, 11, 28)


def stages(sizes: dict[date, tuple[int, int]]):
    """Stand-ins that write `sizes[run_date]` = (picks rows, demand rows); the real report and publish."""

    def make(name):
        def fn(ctx):
            n_picks, n_demand = sizes[ctx.config.run_date]
            if name == "picks":
                ctx.picks = pl.DataFrame({"group_id": [f"g{i}" for i in range(n_picks)],
                                          "rank": [1] * n_picks, "model_version": ["fake"] * n_picks},
                                         schema={"group_id": pl.String, "rank": pl.Int64,
                                                 "model_version": pl.String})
                ctx.writer.write_frame("picks", ctx.picks)
            if name == "forecast":
                ctx.demand = pl.DataFrame({"product_id": [f"p{i}" for i in range(n_demand)],
                                           "forecast_p50": [3.0] * n_demand},
                                          schema={"product_id": pl.String, "forecast_p50": pl.Float64})
                ctx.writer.write_frame("demand", ctx.demand)
            return 1, 1
        return fn

    real = {"report": stage_report, "publish": stage_publish}
    return [(n, real.get(n) or make(n)) for n in STAGE_NAMES]


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    return Home(tmp_path / "home")


def use(monkeypatch, sizes):
    monkeypatch.setattr(runner_mod, "STAGES", stages(sizes))


def ledger(home: Home) -> pl.DataFrame:
    con = connect(home)
    try:
        return read_ledger(con)
    finally:
        con.close()


def test_an_empty_snapshot_is_refused_and_the_full_one_stays_live(home, monkeypatch):
    past = date(2026, 12, 31)
    use(monkeypatch, {DAY: (10, 8), past: (0, 0)})
    first = run_nightly(home, NightlyConfig(run_date=DAY))
    live = live_snapshot(home)
    assert first["status"] == "succeeded"
    report = (live / "report.html").read_text()
    assert 'class="badge s-ok">succeeded<' in report and "publishing" not in report
    with pytest.raises(StageFailedError, match="refused to publish") as failure:
        run_nightly(home, NightlyConfig(run_date=past))
    assert failure.value.exit_code == 2
    message = str(failure.value)
    assert "picks would have 0 rows where the live snapshot has 10" in message
    assert "demand would have 0 rows where the live snapshot has 8" in message
    assert "--allow-empty" in message and first["run_id"] in message
    assert live_snapshot(home) == live and verify_snapshot(live)["date"] == str(DAY)
    summary = failure.value.summary
    assert summary["status"] == "failed" and "refused to publish" in summary["error"]
    row = ledger(home).filter(pl.col("run_date") == past)
    assert row["status"].to_list() == ["failed"] and row["failed_stage"].to_list() == ["publish"]
    assert "demand would have 0 rows" in row["error"][0]
    gate = next(g for g in json.loads(row["gates"][0]) if g["part"] == "publish")
    assert gate["passed"] is False and "refused to publish" in gate["message"]
    refused = home.root / row["snapshot"][0]  # kept for a look, never made live
    assert refused.is_dir() and refused != live
    manifest = verify_snapshot(refused)
    assert manifest["published"] is False and "refused to publish" in manifest["refused"]
    report = (refused / "report.html").read_text()
    assert "not published" in report and "demand would have 0 rows" in report


def test_allow_empty_publishes_and_says_so(home, monkeypatch):
    past = date(2026, 12, 31)
    use(monkeypatch, {DAY: (10, 8), past: (0, 0)})
    run_nightly(home, NightlyConfig(run_date=DAY))
    result = run_nightly(home, NightlyConfig(run_date=past, allow_empty=True))
    assert result["status"] == "succeeded"
    assert verify_snapshot(live_snapshot(home))["date"] == str(past)
    gate = next(g for g in result["gates"] if g["part"] == "publish")
    assert gate["passed"] is True and "--allow-empty" in gate["message"]
    assert "--allow-empty" in (live_snapshot(home) / "report.html").read_text()


def test_a_configured_share_refuses_a_collapse_short_of_zero(home, monkeypatch):
    nxt = date(2026, 11, 29)
    use(monkeypatch, {DAY: (10, 8), nxt: (2, 8)})
    run_nightly(home, NightlyConfig(run_date=DAY))
    assert run_nightly(home, NightlyConfig(run_date=nxt))["status"] == "succeeded"  # share rule off
    use(monkeypatch, {nxt: (10, 8), date(2026, 11, 30): (2, 8)})
    run_nightly(home, NightlyConfig(run_date=nxt))
    with pytest.raises(StageFailedError, match="picks would have 2 rows, under 50% of the live snapshot"):
        run_nightly(home, NightlyConfig(run_date=date(2026, 11, 30), min_row_share=0.5))


def test_a_first_run_without_picks_is_refused_unless_allowed(home, monkeypatch):
    """No live snapshot to protect, but a first snapshot without one pick (a --date past the data)
    would have the service answer nothing while the run said "succeeded"."""
    use(monkeypatch, {DAY: (0, 0)})
    refused = "picks would have 0 rows, and no snapshot is live yet"
    with pytest.raises(StageFailedError, match=refused) as failure:
        run_nightly(home, NightlyConfig(run_date=DAY))
    assert failure.value.exit_code == 2 and live_snapshot(home) is None
    assert run_nightly(home, NightlyConfig(run_date=DAY, allow_empty=True))["status"] == "succeeded"


def test_a_first_run_with_picks_and_no_demand_publishes(home, monkeypatch):
    use(monkeypatch, {DAY: (10, 0)})
    assert run_nightly(home, NightlyConfig(run_date=DAY))["status"] == "succeeded"


def test_cli_exits_2_naming_the_empty_tables(home, monkeypatch, capsys):
    from pipelines import cli

    past = date(2026, 12, 31)
    use(monkeypatch, {DAY: (10, 8), past: (0, 0)})
    connect(home).close()  # the CLI's nightly wants a warehouse (or --raw) before it starts

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["circlebuy", "nightly", "--home", str(home.root), *args])
        with pytest.raises(SystemExit) as done:
            cli.main()
        return done.value.code

    assert run("--date", str(DAY)) in (0, None)
    capsys.readouterr()
    assert run("--date", str(past)) == 2
    err = capsys.readouterr().err
    assert "refused to publish" in err and "demand would have 0 rows" in err and "--allow-empty" in err
    assert run("--date", str(past), "--allow-empty", "--json") in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "succeeded" and out["date"] == str(past)

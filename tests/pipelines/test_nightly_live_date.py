"""A run for a date older than the live snapshot's (a backfill of past days, `nightly --date <past>`)
keeps its snapshot but never moves HOME/current back in time, and says so (CLI line, --json `live` /
`not_live_reason`, the ledger's publish gate, the manifest, the report); `--make-live` rolls back on
purpose; a re-run of the live date still replaces it."""

from __future__ import annotations

import json
import sys
from datetime import date

import pytest

from common.home import Home
from pipelines.nightly import NightlyConfig, run_backfill, run_nightly
from pipelines.nightly import runner as runner_mod
from pipelines.nightly.ledger import read_ledger
from pipelines.nightly.snapshot import live_snapshot, verify_snapshot
from pipelines.nightly.stages import stage_publish, stage_report
from pipelines.vintages import load_vintages
from pipelines.warehouse import connect
from tests.pipelines.conftest import picks_and_demand_stand_in, two_picks

STAGE_NAMES = ["ingest", "load", "train", "picks", "forecast", "evaluate", "report", "publish"]

LIVE = date(2026, 12, 2)
OLDER = (date(2026, 11, 30), date(2026, 12, 1))


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    real = {"report": stage_report, "publish": stage_publish}
    def habit_picks(ctx):
        return two_picks(ctx, "habit")

    stages = [(n, real.get(n) or picks_and_demand_stand_in(n, habit_picks)) for n in STAGE_NAMES]
    monkeypatch.setattr(runner_mod, "STAGES", stages)
    home = Home(tmp_path / "home")
    run_nightly(home, NightlyConfig(run_date=LIVE))
    return home


def live_date(home: Home) -> str:
    return verify_snapshot(live_snapshot(home))["date"]


def test_a_backfill_of_older_dates_keeps_them_but_not_live(home):
    live_before = live_snapshot(home)
    results = run_backfill(home, OLDER[0], OLDER[1], NightlyConfig(run_date=OLDER[0]))
    assert [r["status"] for r in results] == ["succeeded", "succeeded"]
    assert live_snapshot(home) == live_before and live_date(home) == str(LIVE)
    for day, result in zip(OLDER, results, strict=True):
        assert result["live"] is False
        reason = result["not_live_reason"]
        assert str(day) in reason and str(LIVE) in reason and "--make-live" in reason
        kept = verify_snapshot(home.snapshots / result["run_id"])  # kept, whole, under snapshots/
        assert kept["date"] == str(day) and kept["live"] is False and kept["not_live_reason"] == reason
        gate = next(g for g in result["gates"] if g["part"] == "publish")
        assert gate["live"] is False and gate["badge"] == "kept, not live" and gate["passed"] is True
        report = (home.snapshots / result["run_id"] / "report.html").read_text()
        assert "kept, not live" in report and str(LIVE) in report
    with connect(home) as con:
        ledger = read_ledger(con)
    older_rows = ledger.filter(ledger["run_date"] != LIVE)
    assert older_rows["status"].to_list() == ["succeeded", "succeeded"]
    assert all("kept, not live" in g for g in older_rows["gates"].to_list())


def test_a_nightly_for_a_past_date_does_not_take_over_and_a_rerun_or_newer_date_does(home):
    past = run_nightly(home, NightlyConfig(run_date=OLDER[1]))
    assert past["live"] is False and live_date(home) == str(LIVE)
    rerun = run_nightly(home, NightlyConfig(run_date=LIVE))  # the same date as live: replaces it
    assert rerun["live"] is True and "not_live_reason" not in rerun
    assert live_snapshot(home) == (home.snapshots / rerun["run_id"]).resolve()
    assert not any(g["part"] == "publish" for g in rerun["gates"])
    newer = run_nightly(home, NightlyConfig(run_date=date(2026, 12, 3)))
    assert newer["live"] is True and live_date(home) == "2026-12-03"


def test_make_live_rolls_back_on_purpose_and_says_so(home):
    result = run_nightly(home, NightlyConfig(run_date=OLDER[1], make_live=True))
    assert result["live"] is True and live_date(home) == str(OLDER[1])
    gate = next(g for g in result["gates"] if g["part"] == "publish")
    assert gate["live"] is True and "--make-live" in gate["message"] and str(LIVE) in gate["message"]


def test_a_list_never_served_does_not_replace_the_served_one(home):
    """The pick vintage of a day is what shopkeepers were served; a not-live re-run keeps it."""
    with connect(home) as con:
        served = load_vintages(con, LIVE, LIVE)["run_id"].unique().to_list()
    assert len(served) == 1
    # a newer live day, then a re-run of LIVE, which is now older than the live one
    run_nightly(home, NightlyConfig(run_date=date(2026, 12, 3)))
    result = run_nightly(home, NightlyConfig(run_date=LIVE))
    assert result["live"] is False
    with connect(home) as con:
        assert load_vintages(con, LIVE, LIVE)["run_id"].unique().to_list() == served
        # a day with no served list yet gets the backfilled one
        run_nightly(home, NightlyConfig(run_date=OLDER[0]))
    with connect(home) as con:
        assert load_vintages(con, OLDER[0], OLDER[0]).height > 0


def test_cli_says_the_snapshot_is_not_live(home, monkeypatch, capsys):
    from pipelines import cli

    def run(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["circlebuy", *args, "--home", str(home.root)])
        with pytest.raises(SystemExit) as done:
            cli.main()
        return done.value.code

    assert run("nightly", "--date", str(OLDER[1])) in (0, None)
    out = capsys.readouterr().out
    assert "kept, not made live" in out and str(LIVE) in out and "live snapshot:" not in out
    assert run("nightly", "--date", str(OLDER[1]), "--json") in (0, None)
    summary = json.loads(capsys.readouterr().out)
    assert summary["live"] is False and str(LIVE) in summary["not_live_reason"]
    assert run("backfill", "--from", str(OLDER[0]), "--to", str(OLDER[1])) in (0, None)
    captured = capsys.readouterr()
    assert captured.out.count("kept, not live") == 2 and "--make-live" in captured.err
    assert f"older than the live snapshot's date ({LIVE})" in captured.err and str(OLDER[0]) in captured.err
    assert live_date(home) == str(LIVE)
    assert run("backfill", "--from", str(OLDER[0]), "--to", str(OLDER[1]), "--make-live") in (0, None)
    assert live_date(home) == str(OLDER[1])

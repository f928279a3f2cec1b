"""`evaluate --vintages` and the report's vintages table say, per night, whether its pick list was served
to shopkeepers: a backfill, or a nightly for a date older than the live snapshot's, keeps its list (a day
no list was served for) but never went live, and read as a `production` night like any other."""

from __future__ import annotations

import json
import sys
from datetime import date

import pytest

from common.home import Home
from pipelines import cli
from pipelines.nightly import NightlyConfig, run_backfill, run_nightly
from pipelines.nightly import runner as runner_mod
from pipelines.nightly.stages import stage_publish
from pipelines.report import ReportContext, render_report
from pipelines.vintages import render_vintages, run_vintages, served_runs
from pipelines.warehouse import connect
from tests.pipelines.conftest import picks_and_demand_stand_in

STAGE_NAMES = ["ingest", "load", "train", "picks", "forecast", "evaluate", "report", "publish"]
LIVE, PAST, BACKFILLED = date(2026, 12, 2), date(2026, 12, 1), date(2026, 11, 30)
TODAY = date(2026, 12, 10)  # every night's day has passed


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """LIVE published live; then a backfill of BACKFILLED and a nightly for PAST, both older than the
    live snapshot's date: kept, not made live."""
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    stages = [(n, stage_publish if n == "publish" else picks_and_demand_stand_in(n)) for n in STAGE_NAMES]
    monkeypatch.setattr(runner_mod, "STAGES", stages)
    home = Home(tmp_path / "home")
    assert run_nightly(home, NightlyConfig(run_date=LIVE))["live"] is True
    assert run_backfill(home, BACKFILLED, BACKFILLED, NightlyConfig(run_date=BACKFILLED))[0]["live"] is False
    assert run_nightly(home, NightlyConfig(run_date=PAST))["live"] is False
    return home


def test_each_night_says_whether_its_list_was_served(home):
    result = run_vintages(home, BACKFILLED, LIVE, today=TODAY)
    nights = {n["for_date"]: n for n in result["nights"]}
    assert list(nights) == [str(BACKFILLED), str(PAST), str(LIVE)]  # no night dropped
    assert {d: n["served"] for d, n in nights.items()} == {
        str(BACKFILLED): False, str(PAST): False, str(LIVE): True}
    assert result["not_served"] == [str(BACKFILLED), str(PAST)]
    assert result["lists"] == 6 and all(n["lists"] == 2 for n in nights.values())
    with connect(home) as con:  # each night names the run whose list it scores
        runs = dict(con.execute("SELECT run_date, run_id FROM runs").fetchall())
    assert {d: n["run_id"] for d, n in nights.items()} == {str(d): r for d, r in runs.items()}


def test_a_served_night_stays_served_after_a_rerun_that_did_not_go_live(home):
    run_nightly(home, NightlyConfig(run_date=date(2026, 12, 3)))  # newer: LIVE is now in the past
    assert run_nightly(home, NightlyConfig(run_date=LIVE))["live"] is False  # kept, its list not stored
    nights = {n["for_date"]: n["served"] for n in run_vintages(home, LIVE, LIVE, today=TODAY)["nights"]}
    assert nights == {str(LIVE): True}


def test_the_terminal_and_the_report_mark_the_nights_never_served(home):
    result = run_vintages(home, BACKFILLED, LIVE, today=TODAY)
    lines = render_vintages(result).splitlines()
    assert lines[1].split()[-1] == "served"
    rows = {line.split()[0]: line.split()[-1] for line in lines[2:5]}
    assert rows == {str(BACKFILLED): "no", str(PAST): "no", str(LIVE): "yes"}
    note = next(line for line in lines if line.startswith("served no:"))
    assert f"{BACKFILLED}, {PAST}" in note and "never made live" in note
    html = render_report(ReportContext(run_id="r", date=TODAY, status="succeeded", model_version="fake",
                                       vintages=result))
    section = html.split('id="vintages"')[1].split("</section>")[0]
    assert "<th>served</th>" in section
    assert f"<td>{LIVE}</td><td>production</td>" in section
    for day, said in ((BACKFILLED, "no, never live"), (PAST, "no, never live"), (LIVE, "yes")):
        row = section.split(f"<tr><td>{day}</td>")[1].split("</tr>")[0]
        assert row.endswith(f"<td>{said}</td>")
    assert f"Never served to shopkeepers: {BACKFILLED}, {PAST}" in section


def test_evaluate_vintages_json_has_served_per_night(home, monkeypatch, capsys):
    monkeypatch.setattr(cli, "_platform_today", lambda: TODAY)
    monkeypatch.setattr(sys, "argv", ["circlebuy", "evaluate", "--vintages", f"{BACKFILLED}..{LIVE}",
                                      "--home", str(home.root), "--json"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert [(n["for_date"], n["served"]) for n in out["nights"]] == [
        (str(BACKFILLED), False), (str(PAST), False), (str(LIVE), True)]


def test_a_run_the_ledger_does_not_know_is_neither_served_nor_not(home):
    with connect(home) as con:
        live_run = con.execute("SELECT run_id FROM runs WHERE run_date = ?", [LIVE]).fetchone()[0]
        assert served_runs(con, [live_run, "no-such-run"]) == {live_run: True, "no-such-run": None}

"""The closed loop, end to end: an experiment created from the CLI, two nightlies that serve each
enrolled group its arm's list and keep every published list, the report scoring the first night's
lists, and `evaluate --vintages` printing the trend and the arm's verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta

import polars as pl
import pytest

from common.home import Home
from pipelines.generate import run_generate
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly.snapshot import live_snapshot
from pipelines.vintages import load_vintages
from pipelines.warehouse import connect

END = date(2026, 11, 20)
FIRST = END - timedelta(days=1)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    run_generate(out=raw, groups=40, days=38, end=END, seed=3, progress=False)
    home = Home(tmp_path_factory.mktemp("home"))
    made = cli("experiment", "create", "spring", "--arms", "production,reorder", "--share", "1",
               "--home", str(home.root))
    assert made.returncode == 0, made.stderr
    first = run_nightly(home, NightlyConfig(run_date=FIRST, raw=raw))
    second = run_nightly(home, NightlyConfig(run_date=END, raw=raw))
    return home, first, second


def test_every_published_list_is_kept_with_its_arm(loop):
    home, first, second = loop
    assert first["status"] == second["status"] == "succeeded"
    con = connect(home)
    try:
        kept = load_vintages(con, FIRST, END)
    finally:
        con.close()
    assert set(kept["for_date"].unique().to_list()) == {FIRST, END}
    assert set(kept["arm"].unique().to_list()) == {"production", "reorder"}
    assert (kept["experiment"] == "spring").all()
    # the live list of an enrolled group is its arm's: the reorder arm's lists carry its model's version
    live = pl.read_parquet(live_snapshot(home) / "picks.parquet")
    arms = kept.filter(pl.col("for_date") == END).select("group_id", "arm").unique()
    served = live.join(arms, on="group_id").join(
        kept.filter(pl.col("for_date") == END).select("group_id", "rank", "product_id"),
        on=["group_id", "rank"], suffix="_kept")
    assert (served["product_id"] == served["product_id_kept"]).all()
    # the same night again replaces its lists, never duplicates them
    con = connect(home)
    try:
        n = con.sql(f"SELECT count(*) FROM pick_vintages WHERE for_date = DATE '{END}'").fetchone()[0]
    finally:
        con.close()
    assert n == kept.filter(pl.col("for_date") == END).height


def test_the_report_scores_the_last_nights_lists(loop):
    home, _, _ = loop
    html = (live_snapshot(home) / "report.html").read_text()
    assert "Published picks, scored after the fact" in html
    section = html.split('id="vintages"')[1].split("</section>")[0]
    assert "Published picks, scored after the fact" in section
    for arm in ("production", "reorder"):
        assert f"<td>{FIRST}</td><td>{arm}</td>" in section


def test_evaluate_vintages_prints_the_trend_and_the_verdict(loop):
    home, _, _ = loop
    proc = cli("evaluate", "--vintages", f"{FIRST}..{END}", "--home", str(home.root), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["lists"] > 0 and [n["for_date"] for n in out["nights"] if n["arm"] == "production"] == [
        str(FIRST), str(END)]
    assert {r["slot"] for r in out["by_slot"]} <= {"hot", "regular", "replenish", "new"}
    assert out["by_reason"] and "posted_vs_not" in out
    spring = out["experiments"][0]
    assert spring["name"] == "spring" and spring["running"]
    (verdict,) = spring["verdicts"]["hit"]
    assert verdict["arm"] == "reorder" and verdict["control"] == "production"
    assert verdict["verdict"].startswith("arm reorder ")
    text = cli("evaluate", "--vintages", f"{FIRST}..{END}", "--home", str(home.root))
    assert text.returncode == 0 and "experiment spring" in text.stdout and "hit rate" in text.stdout


def test_experiment_and_vintage_mistakes_exit_2_with_a_clear_message(loop):
    home, _, _ = loop
    h = ["--home", str(home.root)]
    cases = [
        (["experiment", "create", "spring", "--arms", "production,reorder", *h], "already exists"),
        (["experiment", "create", "x", "--arms", "production,nope", *h], "unknown arm(s) nope"),
        (["experiment", "create", "y", "--arms", "production", *h], "two or more"),
        (["experiment", "create", "z", "--arms", "production,reorder", "--share", "1.5", *h], "--share"),
        (["experiment", "stop", "nobody", *h], "no experiment 'nobody'"),
        (["evaluate", "--vintages", f"{END}..{FIRST}", *h], "before FROM"),
        (["evaluate", "--vintages", "yesterday", *h], "FROM..TO"),
    ]
    for args, message in cases:
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
    listed = json.loads(cli("experiment", "list", "--json", *h).stdout)
    assert [e["name"] for e in listed] == ["spring"]
    assert cli("experiment", "stop", "spring", *h).returncode == 0
    assert json.loads(cli("experiment", "list", "--json", *h).stdout)[0]["running"] is False


def test_a_night_without_an_experiment_reads_production_in_the_terminal_as_in_the_report():
    """The terminal said arm "-" where the report said "production" for the same night."""
    from pipelines.vintages import render_vintages

    night = {"for_date": "2026-03-24", "lists": 3, "hit_rate": 0.5, "precision": 0.1, "ndcg": 0.2}
    result = {"from": "2026-03-24", "to": "2026-03-24", "horizon_days": 1, "lists": 3, "nights": [night],
              "by_slot": [], "by_reason": []}
    row = render_vintages(result).splitlines()[2]
    assert row.split()[:2] == ["2026-03-24", "production"]

"""Retention (`--keep`): the served days are kept newest by date, never the live one; snapshots that were
never served (refused by the publish guard, backfilled days older than the live one) are counted apart,
so they never push a served day out; the ledger marks a removed snapshot (`snapshot_removed_at`), and
an old warehouse's `runs` table gains that column without losing a row."""

from __future__ import annotations

import json
from datetime import date

import duckdb
import polars as pl
import pytest

from common.errors import StageFailedError
from common.home import Home
from pipelines.nightly import NightlyConfig, run_backfill, run_nightly
from pipelines.nightly import runner as runner_mod
from pipelines.nightly.ledger import read_ledger
from pipelines.nightly.snapshot import live_snapshot, verify_snapshot
from pipelines.nightly.stages import stage_publish
from pipelines.warehouse import connect

STAGE_NAMES = ["ingest", "load", "train", "picks", "forecast", "evaluate", "report", "publish"]
EMPTY_DAYS = {date(2026, 12, 5), date(2026, 11, 26)}  # a date past the data: no pick, so refused


def stand_in(name):
    def fn(ctx):
        if name == "picks":
            n = 0 if ctx.config.run_date in EMPTY_DAYS else 1
            ctx.picks = pl.DataFrame({"group_id": ["g1"] * n, "for_date": [ctx.config.run_date] * n,
                                      "rank": [1] * n, "product_id": ["p1"] * n,
                                      "model_version": ["fake"] * n},
                                     schema={"group_id": pl.String, "for_date": pl.Date, "rank": pl.Int64,
                                             "product_id": pl.String, "model_version": pl.String})
            ctx.writer.write_frame("picks", ctx.picks)
        if name == "forecast":
            ctx.demand = pl.DataFrame({"product_id": ["p1"], "forecast_p50": [3.0]})
            ctx.writer.write_frame("demand", ctx.demand)
        if name == "report":
            ctx.writer.write_text("report.html", "<html></html>")
        return 1, 1
    return fn


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    monkeypatch.setattr(runner_mod, "STAGES",
                        [(n, stage_publish if n == "publish" else stand_in(n)) for n in STAGE_NAMES])
    return Home(tmp_path / "home")


def ledger(home: Home) -> pl.DataFrame:
    with connect(home) as con:
        return read_ledger(con)


def on_disk(home: Home) -> dict[str, str]:
    """{run_id: date} of the snapshot folders on disk."""
    return {p.name: json.loads((p / "manifest.json").read_text())["date"]
            for p in home.snapshots.iterdir() if p.is_dir() and not p.name.startswith(".")}


def nightly(home: Home, day: date, **kw) -> dict:
    return run_nightly(home, NightlyConfig(run_date=day, **kw))


def test_served_days_are_kept_and_refused_or_never_live_ones_do_not_count(home, monkeypatch):
    """The trial's sequence: 11-23, 11-24, 11-25 twice, 11-22 (older: not live), a backfill of 11-20..21
    (not live), refused runs for 12-05 and 11-26, a failure injected at forecast, 11-25 again."""
    served = [nightly(home, date(2026, 11, d))["run_id"] for d in (23, 24, 25, 25)]
    older = [nightly(home, date(2026, 11, 22))["run_id"]]
    older += [r["run_id"] for r in run_backfill(home, date(2026, 11, 20), date(2026, 11, 21),
                                                NightlyConfig(run_date=date(2026, 11, 20)))]
    for day in sorted(EMPTY_DAYS, reverse=True):
        with pytest.raises(StageFailedError) as refused:
            nightly(home, day)
        older.append(refused.value.summary["run_id"])
    monkeypatch.setenv("CIRCLEBUY_FAIL_STAGE", "forecast")
    with pytest.raises(StageFailedError):
        nightly(home, date(2026, 11, 25))
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE")
    last = nightly(home, date(2026, 11, 25))["run_id"]
    served.append(last)

    kept = on_disk(home)
    assert live_snapshot(home).name == last
    # every served snapshot (5 = --keep) is still there: 11-23, 11-24 and every 11-25
    assert set(served) <= set(kept), f"served snapshots removed: {set(served) - set(kept)}"
    # the never-served ones are counted apart (5 of them, within their own --keep)
    assert set(kept) == set(served) | set(older)
    # no ledger row names a folder that is gone without saying so
    rows = ledger(home)
    assert "snapshot_removed_at" in rows.columns
    for row in rows.iter_rows(named=True):
        if row["snapshot"] and row["snapshot_removed_at"] is None:
            assert (home.snapshots / row["run_id"]).is_dir(), row["run_id"]


def test_the_oldest_served_day_goes_first_and_the_ledger_marks_it(home):
    ids = {d: nightly(home, date(2026, 3, d), keep_snapshots=2)["run_id"] for d in (3, 4)}
    # an older day backfilled later (newest on disk by time, oldest by date): never served
    ids[1] = nightly(home, date(2026, 3, 1), keep_snapshots=2)["run_id"]
    ids[5] = nightly(home, date(2026, 3, 5), keep_snapshots=2)["run_id"]
    kept = on_disk(home)
    assert set(kept) == {ids[4], ids[5], ids[1]}  # 03-03 (served, oldest date) went, not 03-04
    assert verify_snapshot(live_snapshot(home))["date"] == "2026-03-05"
    rows = {r["run_id"]: r for r in ledger(home).iter_rows(named=True)}
    assert rows[ids[3]]["snapshot_removed_at"] is not None
    assert rows[ids[3]]["snapshot"]  # the path is kept, for the record, next to when it went
    assert all(rows[i]["snapshot_removed_at"] is None for i in (ids[1], ids[4], ids[5]))


def test_the_live_snapshot_is_never_removed_even_when_rolled_back_to_an_older_day(home):
    for d in (3, 4, 5):
        nightly(home, date(2026, 3, d), keep_snapshots=1)
    rolled = nightly(home, date(2026, 3, 2), keep_snapshots=1, make_live=True)["run_id"]
    assert live_snapshot(home).name == rolled
    assert rolled in on_disk(home)


def test_an_old_ledger_gains_the_column_without_losing_rows(home):
    home.ensure()
    con = duckdb.connect(str(home.warehouse))
    con.execute("""CREATE TABLE runs (run_id VARCHAR PRIMARY KEY, run_date DATE, started_at TIMESTAMPTZ,
        ended_at TIMESTAMPTZ, status VARCHAR, failed_stage VARCHAR, error VARCHAR, snapshot VARCHAR,
        stages VARCHAR, row_counts VARCHAR, model_versions VARCHAR, metrics VARCHAR, gates VARCHAR,
        evaluation VARCHAR)""")
    con.execute("INSERT INTO runs (run_id, run_date, status) "
                "VALUES ('old-run', DATE '2026-01-01', 'succeeded')")
    con.close()
    nightly(home, date(2026, 3, 1))
    rows = ledger(home)
    assert rows.height == 2 and "old-run" in rows["run_id"].to_list()
    assert rows.filter(pl.col("run_id") == "old-run")["snapshot_removed_at"].to_list() == [None]


def test_a_folder_already_gone_is_marked_by_the_next_publish(home):
    """A warehouse from before the column, whose retention removed folders without saying so (or a
    folder deleted by hand): the next published run marks those rows."""
    import shutil

    first = nightly(home, date(2026, 3, 1))["run_id"]
    shutil.rmtree(home.snapshots / first)
    nightly(home, date(2026, 3, 2))
    rows = {r["run_id"]: r for r in ledger(home).iter_rows(named=True)}
    assert rows[first]["snapshot_removed_at"] is not None

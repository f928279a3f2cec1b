"""Experiments have nights: a nightly for date D serves an experiment iff its first night <= D <= its last
(whenever that nightly runs), and a group held by an experiment that overlapped another never joins the
other when the first stops: it goes back to production. A black-box trial (2026-12-04) found that
`stop exp1` handed all of exp1's groups to exp2 on the next nightly (exp2's arms then mixed groups with
nights of another treatment), that an experiment created today served backfilled days of a year before,
and that a re-run of one of its nights after `stop` rewrote that night's lists to production."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import duckdb
import numpy as np
import polars as pl
import pytest

from common.home import Home
from pipelines import cli
from pipelines.nightly import NightlyConfig, run_backfill, run_nightly
from pipelines.nightly import runner as runner_mod
from pipelines.nightly.stages import _serve_arms, stage_publish
from pipelines.recsys_stage import picks_with_arms
from pipelines.vintages import (
    DatedExperiment,
    dated_experiments,
    ensure_tables,
    list_experiments,
    load_vintages,
    plan_night,
)
from pipelines.warehouse import connect
from recsys.experiments import Experiment, assign_arms
from tests.pipelines.conftest import picks_and_demand_stand_in

GROUPS = [f"g{i:03d}" for i in range(60)]
STAGE_NAMES = ["ingest", "load", "train", "picks", "forecast", "evaluate", "report", "publish"]
D0 = date(2025, 6, 6)  # the live nightly before the experiments are created
D = [D0 + timedelta(days=k) for k in range(8)]
EXP1 = Experiment("exp1", ("production", "popularity"), 0.5)
EXP2 = Experiment("exp2", ("reorder", "popularity", "itemknn_cosine"), 1.0)


class _Codes(list):
    def decode(self, idx: np.ndarray) -> list[str]:
        return [self[i] for i in idx]


def _production() -> SimpleNamespace:
    """Enough of a trained Production for the arms: its groups; no generator (arms serve production's
    list, the experiment column still says who is enrolled)."""
    return SimpleNamespace(signal=SimpleNamespace(groups=_Codes(GROUPS)), models={})


def _arm_picks(ctx) -> pl.DataFrame:
    picks = pl.DataFrame({"group_id": GROUPS, "for_date": [ctx.config.run_date] * len(GROUPS),
                          "rank": [1] * len(GROUPS), "product_id": ["p1"] * len(GROUPS),
                          "slot": ["regular"] * len(GROUPS), "model_version": ["fake"] * len(GROUPS)})
    ctx.production = _production()
    return _serve_arms(ctx, picks, pl.DataFrame(schema={"product_id": pl.String}))


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["circlebuy", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    return done.value.code or 0, capsys.readouterr().err


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    stages = [(n, stage_publish if n == "publish" else picks_and_demand_stand_in(n, _arm_picks))
              for n in STAGE_NAMES]
    monkeypatch.setattr(runner_mod, "STAGES", stages)
    home = Home(tmp_path / "home")
    assert run_nightly(home, NightlyConfig(run_date=D0))["live"] is True
    return home


def _enrolled(home: Home, day: date) -> dict[str, str | None]:
    with connect(home) as con:
        kept = load_vintages(con, day, day)
    return dict(kept.select("group_id", "experiment").iter_rows())


def test_a_stopped_experiments_groups_go_back_to_production_not_to_another(home, monkeypatch, capsys):
    h = ["--home", str(home.root)]
    assert _cli(monkeypatch, capsys, "experiment", "create", "exp1", "--arms", "production,popularity",
                "--share", "0.5", *h)[0] == 0
    code, err = _cli(monkeypatch, capsys, "experiment", "create", "exp2", "--arms",
                     "reorder,popularity,itemknn_cosine", "--share", "1.0", *h)
    assert code == 0 and f"served from the nightly for {D[1]}" in err
    run_backfill(home, D[1], D[3], NightlyConfig(run_date=D[1]))
    drawn1 = set(assign_arms(GROUPS, EXP1)["group_id"].to_list())
    before = _enrolled(home, D[3])
    assert {g for g, e in before.items() if e == "exp1"} == drawn1
    exp2_before = {g for g, e in before.items() if e == "exp2"}
    assert exp2_before == set(GROUPS) - drawn1
    code, err = _cli(monkeypatch, capsys, "experiment", "stop", "exp1", *h)
    assert code == 0, err
    assert (f"stopped experiment exp1 after its last night {D[3]} (first {D[1]}): its {len(drawn1)} groups "
            f"(enrolled on {D[3]}) return to production from the nightly for {D[4]}") in err
    run_nightly(home, NightlyConfig(run_date=D[4]))
    after = _enrolled(home, D[4])
    assert {g for g, e in after.items() if e == "exp2"} == exp2_before  # exp2 keeps its groups, no more
    assert all(after[g] is None for g in drawn1)  # exp1's groups are served production
    with connect(home) as con:
        kept = load_vintages(con, D[4], D[4])
    assert kept.filter(pl.col("group_id").is_in(list(drawn1)))["arm"].is_null().all()


def test_an_experiment_serves_its_nights_only_whenever_they_run(home, monkeypatch, capsys):
    h = ["--home", str(home.root)]
    assert _cli(monkeypatch, capsys, "experiment", "create", "exp1", "--arms", "production,popularity",
                "--share", "0.5", *h)[0] == 0
    with connect(home) as con:
        (row,) = list_experiments(con)
    assert row["start"] == str(D[1]) and row["last"] is None and row["nights"] == f"{D[1]}.. (running)"
    # a backfill of days before its first night (a year back, or yesterday) never sees it
    run_backfill(home, D0 - timedelta(days=2), D0 - timedelta(days=1), NightlyConfig(run_date=D0))
    assert set(_enrolled(home, D0 - timedelta(days=1)).values()) == {None}
    run_backfill(home, D[1], D[1], NightlyConfig(run_date=D[1]))
    assert "exp1" in set(_enrolled(home, D[1]).values())
    code, err = _cli(monkeypatch, capsys, "experiment", "stop", "exp1", "--last", str(D[1]), *h)
    assert code == 0 and f"after its last night {D[1]}" in err
    # a re-run of a night inside its window keeps it (made live on purpose, so its list is kept) ...
    run_nightly(home, NightlyConfig(run_date=D[1], make_live=True))
    assert "exp1" in set(_enrolled(home, D[1]).values())
    # ... one after its last night does not
    run_nightly(home, NightlyConfig(run_date=D[2], make_live=True))
    assert set(_enrolled(home, D[2]).values()) == {None}
    with connect(home) as con:
        (row,) = list_experiments(con)
    assert (row["start"], row["last"], row["running"]) == (str(D[1]), str(D[1]), False)


def test_a_last_night_before_nights_it_served_live_is_refused(home, monkeypatch, capsys):
    """Nights an experiment served to shopkeepers are history: `--last` before them would hand its
    treated groups to another experiment; a backfilled night (never served) does not count."""
    h = ["--home", str(home.root)]
    _cli(monkeypatch, capsys, "experiment", "create", "exp1", "--arms", "production,popularity", *h)
    run_nightly(home, NightlyConfig(run_date=D[1], make_live=True))
    run_nightly(home, NightlyConfig(run_date=D[2], make_live=True))
    code, err = _cli(monkeypatch, capsys, "experiment", "stop", "exp1", "--last", str(D[1]), *h)
    assert code == 2 and f"a night experiment 'exp1' already served; its last night is {D[2]}" in err
    assert _cli(monkeypatch, capsys, "experiment", "stop", "exp1", "--last", str(D[2]), *h)[0] == 0


def test_start_and_last_are_checked_and_created_before_any_nightly_it_starts_with_the_first(
        tmp_path, monkeypatch, capsys):
    home = tmp_path / "fresh"
    home.mkdir()
    h = ["--home", str(home)]
    code, err = _cli(monkeypatch, capsys, "experiment", "create", "ab", "--arms", "production,popularity", *h)
    assert code == 0 and "served from the first nightly run" in err
    code, err = _cli(monkeypatch, capsys, "experiment", "create", "bad", "--arms", "production,popularity",
                     "--start", "2025-13-01", *h)
    assert code == 2 and "--start" in err
    code, err = _cli(monkeypatch, capsys, "experiment", "stop", "ab", "--last", "2025-06-01", *h)
    assert code == 2 and "has served no night yet" in err
    code, err = _cli(monkeypatch, capsys, "experiment", "create", "late", "--arms", "production,reorder",
                     "--start", "2025-06-10", *h)
    assert code == 0 and "served from the nightly for 2025-06-10" in err
    code, err = _cli(monkeypatch, capsys, "experiment", "stop", "late", "--last", "2025-06-09", *h)
    assert code == 2 and "2025-06-09 is before the first night of experiment 'late', 2025-06-10" in err
    from pipelines.vintages import experiments_for_night

    with connect(Home(home)) as con:
        plan, notes = experiments_for_night(con, date(2025, 6, 8))
        starts = {d.name: d.start for d in dated_experiments(con)}
    assert plan.tonight == ["ab"] and notes == ["experiment ab starts with this night (2025-06-08): it was "
                                                 "created before any nightly ran"]
    assert starts == {"ab": date(2025, 6, 8), "late": date(2025, 6, 10)}


def _dated(e: Experiment, start: date, last: date | None = None, minute: int = 0) -> DatedExperiment:
    return DatedExperiment(e, datetime(2026, 1, 1, 0, minute, tzinfo=UTC), start, last, last is not None)


def test_the_plan_keeps_held_groups_out_for_good_and_orders_by_creation():
    exp1, exp2 = _dated(EXP1, D[1], D[3]), _dated(EXP2, D[1], minute=1)
    plan = plan_night([exp2, exp1], D[5])  # exp1 stopped after D[3]; exp2 still runs
    assert plan.tonight == ["exp2"] and [e.name for e in plan.experiments] == ["exp1", "exp2"]
    assert plan.held_by == {"exp1": [], "exp2": ["exp1"]}
    picks = pl.DataFrame({"group_id": GROUPS, "rank": [1] * len(GROUPS)})
    _, arms, notes = picks_with_arms(_production(), D[5], picks, plan.experiments, held_by=plan.held_by,
                                     tonight=plan.tonight)
    assert set(arms["experiment"].to_list()) == {"exp2"}
    assert set(arms["group_id"]) == set(GROUPS) - set(assign_arms(GROUPS, EXP1)["group_id"])
    (held,) = [n for n in notes if n.startswith("experiment ")]
    assert held.startswith(f"experiment exp2: {60 - arms.height} of the 60 groups it drew are in an "
                           "earlier experiment (exp1)")
    assert "(in that one while it runs, then production)" in held
    # an experiment whose nights do not overlap another's takes any group it draws
    later = _dated(EXP2, D[4], minute=1)
    assert plan_night([exp1, later], D[5]).held_by == {"exp2": []}
    # one stopped before it served holds nothing
    never = DatedExperiment(EXP1, datetime(2026, 1, 1, tzinfo=UTC), None, None, True)
    assert plan_night([never, exp2], D[5]).experiments == [EXP2]


def test_experiments_from_before_dates_are_dated_from_what_they_served(tmp_path):
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    con.execute("CREATE TABLE experiments (name VARCHAR, arms VARCHAR, share DOUBLE, created_at TIMESTAMPTZ, "
                "stopped_at TIMESTAMPTZ)")
    con.execute("CREATE TABLE pick_vintages (for_date DATE, group_id VARCHAR, rank BIGINT, "
                "product_id VARCHAR, slot VARCHAR, reason_code VARCHAR, arm VARCHAR, experiment VARCHAR, "
                "run_id VARCHAR, stored_at TIMESTAMPTZ)")
    created, stopped = datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 3, tzinfo=UTC)
    con.execute("INSERT INTO experiments VALUES ('old', 'production,reorder', 0.5, ?, ?), "
                "('idle', 'production,reorder', 0.5, ?, NULL)", [created, stopped, created])
    for day in (D[1], D[2]):
        con.execute("INSERT INTO pick_vintages VALUES (?, 'g1', 1, 'p', 'regular', NULL, 'reorder', 'old', "
                    "'r', now())", [day])
    ensure_tables(con)
    dated = {d.name: d for d in dated_experiments(con)}
    assert (dated["old"].start, dated["old"].last, dated["old"].stopped) == (D[1], D[2], True)
    assert (dated["idle"].start, dated["idle"].last) == (None, None)  # from the first nightly run
    assert not dated["old"].serves(D[3]) and dated["old"].serves(D[2])
    con.close()

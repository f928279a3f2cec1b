"""Words and numbers of the run that must not contradict each other: the recsys gate names what was
published (`published_method`: the generator published as the ranker's fallback is not "the production
model"), the two "production" numbers say what each is, the report counts every stage, a reused
forecast evaluation names one run (the one that computed it) everywhere, and a reused ranker's
model_version names the day it was trained."""

from __future__ import annotations

import re
from datetime import date
from types import SimpleNamespace

import polars as pl
import pytest

from common.home import Home
from pipelines.gates import GateVerdict
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly import runner as runner_mod
from pipelines.nightly import stages as stages_mod
from pipelines.nightly.context import RunContext
from pipelines.nightly.ledger import RunRecord, recent_evaluation, write_record
from pipelines.nightly.reporting import (
    headline_metrics,
    note_forecast_honesty,
    note_rules_cost,
    recsys_gate_outcome,
)
from pipelines.nightly.snapshot import SnapshotWriter, live_snapshot
from pipelines.report import ReportContext, render_report
from pipelines.warehouse import connect, day_start

FALLBACK_REASON = ("ranker ndcg@10 0.3706 (mean of 4 weekly folds) does not beat the best generator "
                   "'tifu_knn' (0.3952) or the group's own history (0.3648); falling back to 'tifu_knn'")
DETAILS = {"production_ndcg": 0.395244, "popularity_ndcg": 0.241833, "best_generator_ndcg": 0.395244,
           "folds": 4}
MODELS = {"popularity": {"ndcg@10": 0.247107}, "production": {"ndcg@10": 0.405837},
          "picks": {"ndcg@10": 0.365243}, "tifu_knn": {"ndcg@10": 0.405837}}


def test_a_generator_published_as_fallback_is_named_and_the_numbers_say_what_they_are():
    gate = recsys_gate_outcome(GateVerdict(passed=True, reason=FALLBACK_REASON, details=DETAILS), "tifu_knn")
    message = gate["message"]
    assert gate["published_method"] == "tifu_knn" and gate["published_fallback"] is True
    assert message.startswith("recsys: the best generator 'tifu_knn' was published as the fallback, "
                              "not the ranker (")
    assert "production model published" not in message
    # the gate's number is the mean of the folds, and it says so
    assert "'tifu_knn' NDCG 0.395 vs popularity 0.242 (mean of 4 weekly validation folds" in message
    assert gate["production_ndcg_scope"] == "mean of 4 weekly validation folds"
    assert gate["production_ndcg"] == 0.395244  # the old keys stay

    recsys = {"models": MODELS, "production_model": "tifu_knn"}
    ctx = SimpleNamespace(evaluation={"k": 10, "recsys": recsys}, config=SimpleNamespace(k=10),
                          record=SimpleNamespace(gates=[gate]), picks=None, demand=None)
    note_rules_cost(ctx)
    message = gate["message"]
    assert "the ranker before the rules" not in message  # the ranker was not published
    assert ("production (the generator 'tifu_knn', published as the ranker's fallback, before the rules) "
            "0.406") in message
    metrics = headline_metrics(ctx)
    assert metrics["recsys.published_method"] == "tifu_knn"
    assert metrics["recsys.production.ndcg@10"] == 0.405837  # the old key stays

    html = render_report(ReportContext(run_id="r", date=date(2011, 12, 1), status="succeeded",
                                       model_version="m", recsys=recsys, gates=[gate]))
    ranking = html[html.index('id="ranking"'):html.index('id="forecast"')]
    assert "the published ranker (production)" not in ranking
    assert "published as the ranker&#x27;s fallback" in ranking or "as the ranker's fallback" in ranking


def test_a_published_ranker_is_named_the_ranker():
    verdict = GateVerdict(passed=True, reason="ranker beats 'als'", details=DETAILS)
    gate = recsys_gate_outcome(verdict, "ranker")
    assert gate["published_method"] == "ranker" and gate["published_fallback"] is False
    assert gate["message"].startswith("recsys: production model published: the ranker (ranker beats 'als')")


def test_the_report_counts_every_stage_of_the_run(tmp_path, monkeypatch):
    """The report is written by the 7th of 8 stages: it must not say "6 stage(s)"."""
    from pipelines.nightly.stages import STAGE_NAMES, stage_publish, stage_report

    def stand_in(ctx):
        return 1, 1

    real = {"report": stage_report, "publish": stage_publish}

    def picks(ctx):
        ctx.picks = pl.DataFrame({"group_id": ["g1"], "for_date": [ctx.config.run_date], "rank": [1],
                                  "product_id": ["p1"], "model_version": ["fake"]})
        ctx.writer.write_frame("picks", ctx.picks)
        return 1, 1

    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    monkeypatch.setattr(runner_mod, "STAGES", [(n, real.get(n) or (picks if n == "picks" else stand_in))
                                               for n in STAGE_NAMES])
    home = Home(tmp_path / "home")
    run_nightly(home, NightlyConfig(run_date=date(2026, 11, 25)))
    text = re.sub(r"<[^>]+>", "", (live_snapshot(home) / "report.html").read_text())
    assert "6 stage(s)" not in text
    assert "8 stages; the first 6 took" in text and "report, publish" in text


def _record(run_id: str, day: date, evaluation: dict) -> RunRecord:
    return RunRecord(run_id=run_id, run_date=day, status="succeeded", evaluation=evaluation)


FORECAST = {"series_evaluated": 5, "models": {"production": {"wape": 1.303}, "seasonal_naive": {"wape": 1.5},
                                              "imapa": {"wape": 1.242}}}


@pytest.fixture()
def chained_ledger(tmp_path):
    """11-23 computed the forecast evaluation (as of 11-16); 11-25's first run reused it."""
    home = Home(tmp_path / "home")
    home.ensure()
    with connect(home) as con:
        write_record(con, _record("a-1123", date(2026, 11, 23),
                                  {"as_of": "2026-11-16", "forecast": FORECAST}))
        write_record(con, _record("b-1125", date(2026, 11, 25), {
            "as_of": "2026-11-18", "forecast": {"reused_from_run": "a-1123", **FORECAST}}))
    return home


def test_a_reused_forecast_evaluation_names_the_run_that_computed_it_everywhere(chained_ledger):
    config = NightlyConfig(run_date=date(2026, 11, 25))
    ctx = RunContext(home=chained_ledger, config=config,
                     record=RunRecord(run_id="c-1125", run_date=config.run_date),
                     writer=SnapshotWriter(chained_ledger, "c-1125", config.run_date), as_of=None)
    block = stages_mod._forecast_evaluation(ctx, None)
    assert block["reused_from_run"] == "a-1123" and block["reused_as_of"] == "2026-11-16"
    ctx.evaluation = {"as_of": "2026-11-18", "forecast": block}
    ctx.record.gates.append({"part": "forecast", "passed": True,
                             "message": "forecast: production model published"})
    note_forecast_honesty(ctx)
    said = [*ctx.notes, ctx.record.gates[0]["message"]]
    runs = {run for text in said for run in re.findall(r"reused from run (\S+?)[) ]", text)}
    assert runs == {"a-1123"}, said
    assert not any("as of 2026-11-18" in text for text in said)  # the block was scored as of 11-16
    assert any("as of 2026-11-16" in text for text in said)


def test_a_reused_evaluation_is_not_reused_again_past_its_age(chained_ledger):
    with connect(chained_ledger) as con:
        assert recent_evaluation(con, date(2026, 11, 29), 7)["run_id"] == "a-1123"
        # 11-30: the computing run is 7 days old; the 11-25 run that only reused it must not extend it
        assert recent_evaluation(con, date(2026, 11, 30), 7) is None


def test_a_reused_ranker_is_versioned_by_its_training_day(tmp_path, monkeypatch):
    import pipelines.recsys_stage as recsys_stage
    from recsys.training_report import Gate

    home = Home(tmp_path / "home")
    home.ensure()
    (home.root / "models").mkdir(exist_ok=True)
    (home.root / "models" / "recsys-a.pkl").write_bytes(b"x")
    day = date(2026, 11, 24)
    saved = {"run_id": "a", "run_date": date(2026, 11, 23), "trained_on": "2026-11-23",
             "trained_by_run": "a", "file": "models/recsys-a.pkl"}
    monkeypatch.setattr(stages_mod, "recent_ranker", lambda con, run_date, days: saved)
    report = SimpleNamespace(tuned_on="2026-11-23", params={}, model="ranker", training_rows=0,
                             gate=Gate(0.5, 0.3, 0.45, True, 4, "ranker beats 'als'"))
    run = recsys_stage.RecsysRun(report=report, model_version=f"ranker@{day}", timings_s={})
    monkeypatch.setattr(recsys_stage, "reuse_recsys",
                        lambda *a, **k: (SimpleNamespace(chosen="ranker", signal=SimpleNamespace(
                            daily=pl.DataFrame({"g": [0], "i": [0]}))), run))

    def pick_for_day(prod, for_date, run, *a, **k):
        return pl.DataFrame({"group_id": ["g1"], "for_date": [for_date], "rank": [1], "product_id": ["p1"],
                             "campaign_id": [None], "score": [1.0], "slot": ["hot"], "reason": ["r"],
                             "model_version": [f"{prod.chosen}@{for_date}"]}), run
    monkeypatch.setattr(recsys_stage, "pick_for_day", pick_for_day)
    config = NightlyConfig(run_date=day)
    orders = pl.DataFrame({"ordered_at": [None]}, schema={"ordered_at": pl.Datetime("us", "Asia/Shanghai")})
    ctx = RunContext(home=home, config=config, record=RunRecord(run_id="b", run_date=day),
                     writer=SnapshotWriter(home, "b", day), as_of=day_start(day),
                     frames={"orders": orders, "groups": pl.DataFrame({"group_id": ["g1"]})})
    stages_mod.stage_train(ctx)
    assert ctx.record.model_versions["recsys"] == "ranker@2026-11-23"
    stages_mod.stage_picks(ctx)
    assert ctx.picks["model_version"].to_list() == ["ranker@2026-11-23"]


def test_a_night_that_reuses_both_evaluations_stamps_the_day_they_were_scored(monkeypatch):
    """A night reusing last week's evaluation wrote its own D - 7 as the evaluation's as_of, while the
    numbers inside were scored as of the earlier run's (the report said so; evaluation.json did not)."""
    from datetime import date
    from types import SimpleNamespace

    import pipelines.nightly.stages as stages
    from pipelines.evaluate.config import EvaluateConfig

    monkeypatch.setattr(EvaluateConfig, "from_settings",
                        classmethod(lambda cls, day, settings, max_products: SimpleNamespace(
                            as_of_day=day, horizon_days=7, k=10)))
    monkeypatch.setattr(stages, "_reused_recsys_evaluation", lambda ctx: {
        "reused_from_run": "a-1", "reused_as_of": "2026-11-08", "groups_evaluated": 3})
    monkeypatch.setattr(stages, "_forecast_evaluation", lambda ctx, config: {
        "reused_from_run": "a-1", "reused_as_of": "2026-11-08", "series_evaluated": 2})
    written = {}
    ctx = SimpleNamespace(
        config=SimpleNamespace(evaluate=True, run_date=date(2026, 11, 18), horizon_days=7, settings=None,
                               evaluate_max_products=None, full_evaluation=False, k=10),
        production=SimpleNamespace(validation=None), notes=[], record=SimpleNamespace(evaluation=None),
        writer=SimpleNamespace(write_text=lambda name, text: written.setdefault(name, text)))
    stages.stage_evaluate(ctx)
    assert ctx.evaluation["as_of"] == "2026-11-08" and '"as_of": "2026-11-08"' in written["evaluation.json"]

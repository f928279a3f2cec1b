"""The nightly says when the forecast's production is the seasonal-naive fallback, and when production's
held-out error is worse than the best statistical baseline it measured: in the forecast gate's line
(ledger, --json, manifest), the report's notes and its forecast section. Notes only: the gate's
pass/fail and the run's status do not change."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from common.home import Home
from pipelines.demand_stage import DemandRun
from pipelines.gates import GateVerdict
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly import runner as runner_mod
from pipelines.nightly.reporting import event_analog_sentence, gate_outcome, level_shift_sentence
from pipelines.nightly.snapshot import live_snapshot
from pipelines.nightly.stages import stage_publish, stage_report

DAY = date(2026, 12, 2)
STAGE_NAMES = ["ingest", "load", "train", "picks", "forecast", "evaluate", "report", "publish"]
FALLBACK_REASON = ("mean over the last 3 weekly folds (weights fitted without the fold scored), head "
                   "series' totals: WAPE 0.847 vs seasonal naive 0.695")


def forecast_block(*, fallback: bool, production_wape: float) -> dict:
    """An evaluate forecast block shaped as pipelines.evaluate.forecast writes it (the trial's numbers)."""
    gate = {"passed": not fallback, "production_wape": 0.8471 if fallback else 0.4444,
            "seasonal_naive_wape": 0.6952 if fallback else 0.4759,
            "reason": FALLBACK_REASON if fallback else "mean over the last 6 weekly folds: WAPE 0.444 vs "
                                                       "seasonal naive 0.476"}
    models = {"seasonal_naive": 1.087757, "historic_average": 1.050395, "imapa": 1.000392,
              "production": production_wape}
    return {"series_evaluated": 606,
            "production_is": {"method": "seasonal_naive" if fallback else "daily_ensemble",
                              "model": "ensemble", "gate": gate},
            "models": {n: {"wape": w, "bias": 0.1, "pinball": 0.2, "coverage_p10_p90": 0.6}
                       for n, w in models.items()}}


def use(monkeypatch, block: dict, mode: str = "campaigns", accounting: dict | None = None) -> None:
    def stand_in(name):
        def fn(ctx):
            if name == "picks":
                ctx.picks = pl.DataFrame({"group_id": ["g1"], "rank": [1], "model_version": ["fake"]})
                ctx.writer.write_frame("picks", ctx.picks)
            if name == "forecast":
                ctx.demand = pl.DataFrame({"product_id": ["p1"], "forecast_p50": [3.0],
                                           "method": ["nowcast"]})
                ctx.writer.write_frame("demand", ctx.demand)
                verdict = GateVerdict(passed=True, reason="held-out recent campaigns: nowcast WAPE 0.391 "
                                                          "vs 0.716 (seasonal naive)")
                ctx.demand_run = DemandRun(mode=mode, gate=verdict, rows=1, accounting=accounting or {})
                ctx.record.gates.append(gate_outcome("forecast", verdict))
            if name == "evaluate":
                ctx.evaluation = {"as_of": "2026-11-25", "horizon_days": 7, "k": 10, "recsys": {},
                                  "forecast": block}
            return 1, 1
        return fn

    real = {"report": stage_report, "publish": stage_publish}
    monkeypatch.setattr(runner_mod, "STAGES", [(n, real.get(n) or stand_in(n)) for n in STAGE_NAMES])


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    return Home(tmp_path / "home")


def forecast_gate(result: dict) -> dict:
    return next(g for g in result["gates"] if g["part"] == "forecast")


def test_a_seasonal_naive_fallback_is_said_in_the_gate_and_the_notes(home, monkeypatch):
    use(monkeypatch, forecast_block(fallback=True, production_wape=1.087757))
    result = run_nightly(home, NightlyConfig(run_date=DAY))
    assert result["status"] == "succeeded"
    gate = forecast_gate(result)
    assert gate["passed"] is True  # the nowcast's gate: unchanged
    assert gate["evaluated_fallback"] is True and gate["evaluated_production_is"] == "seasonal_naive"
    assert "seasonal naive fallback, not the ensemble model" in gate["message"]
    assert "WAPE 0.847 vs seasonal naive 0.695" in gate["message"] and "3 weekly folds" in gate["message"]
    assert gate["badge"].startswith("passed, daily fallback")
    report = (live_snapshot(home) / "report.html").read_text()
    assert "No notes for this run" not in report
    assert "seasonal naive fallback, not the ensemble model" in report
    assert "nowcasts" in report  # which forecast the snapshot's demand table holds


def test_production_worse_than_the_best_baseline_gets_a_note_not_a_failure(home, monkeypatch):
    use(monkeypatch, forecast_block(fallback=False, production_wape=1.582935))
    result = run_nightly(home, NightlyConfig(run_date=DAY))
    assert result["status"] == "succeeded"
    gate = forecast_gate(result)
    assert gate["passed"] is True and gate["evaluated_fallback"] is False
    assert gate["worse_than_baseline"] is True and gate["best_baseline"] == "imapa"
    assert gate["best_baseline_wape"] == pytest.approx(1.000392)
    assert "worse than the best statistical baseline, imapa (1.000, +58%)" in gate["message"]
    report = (live_snapshot(home) / "report.html").read_text()
    assert "imapa&#x27;s 1.000 by 0.583" in report or "imapa's 1.000 by 0.583" in report


def test_nothing_is_added_when_production_is_the_model_and_beats_the_baselines(home, monkeypatch):
    use(monkeypatch, forecast_block(fallback=False, production_wape=0.9))
    gate = forecast_gate(run_nightly(home, NightlyConfig(run_date=DAY)))
    assert gate["evaluated_fallback"] is False and gate["worse_than_baseline"] is False
    assert "badge" not in gate and "evaluation" not in gate["message"]
    assert "No notes for this run" in (live_snapshot(home) / "report.html").read_text()


def test_a_last_week_that_broke_from_the_forecast_is_said_in_the_notes_and_on_the_gate(home, monkeypatch):
    # the festival world's daily forecast as of 2026-02-23 (aggregation.ensemble.level_shift)
    shift = {"days_from": "2026-02-16", "days": 7, "head_sold": 50605.0, "head_forecast": 140524.8,
             "sold_over_forecast": 0.3601, "older_folds_sold_over_forecast": [0.9388, 1.8368]}
    use(monkeypatch, forecast_block(fallback=False, production_wape=0.9), mode="daily",
        accounting={"level_shift": shift})
    result = run_nightly(home, NightlyConfig(run_date=DAY))
    gate = forecast_gate(result)
    assert result["status"] == "succeeded" and gate["passed"] is True  # said, not a failure
    assert gate["level_shift"] == shift  # the ledger's and --json's gate line
    report = (live_snapshot(home) / "report.html").read_text()
    assert ("the 7 days from 2026-02-16 sold 0.36x what the daily forecast model said for the "
            "best-selling products (50,605 units against 140,525") in report
    assert "the weeks before them ran 0.94x to 1.84x" in report


def test_a_forecast_corrected_near_a_festival_is_said_in_the_notes_and_on_the_gate(home, monkeypatch):
    # aggregation.daily.with_event_analog's info, as of the day before CNY 2026 on a 16-month world
    said = [{"event": "cny", "label": "春节", "event_day": "2026-02-17", "last_year": "2025-01-29",
             "analog_origin": "2025-01-28", "applied": True, "days_corrected": 7, "days_from": "2026-02-16",
             "sold_over_forecast": [1.21, 0.38, 0.35, 0.36, 0.4, 0.41, 0.39], "by_category": {}}]
    use(monkeypatch, forecast_block(fallback=False, production_wape=0.9), mode="daily",
        accounting={"event_analog": said})
    result = run_nightly(home, NightlyConfig(run_date=DAY))
    gate = forecast_gate(result)
    assert result["status"] == "succeeded" and gate["event_analog"] == said
    report = (live_snapshot(home) / "report.html").read_text()
    assert ("春节 (cny, 2026-02-17) is near; the same forecaster, run on the history as it stood on "
            "2025-01-28") in report
    assert ("off by 0.35x to 1.21x (sold over forecast, all products) on the 7 day(s) from "
            "2026-02-16") in report


def test_a_presale_nowcast_corrected_near_a_festival_is_said_in_the_notes(home, monkeypatch):
    # PresaleForecaster._fit_analog's said, as of the day before CNY 2026 on the 2.3-year world
    band = {"share": 0.0, "windows": 3215, "came": 17478.0, "forecast_to_come": 24545.9, "week_ratio": 0.713}
    said = [{"event": "cny", "label": "春节", "event_day": "2026-02-17", "last_year": "2025-01-29",
             "analog_origin": "2025-01-28", "applied": True, "days": ["2026-02-16", "2026-02-22"],
             "bands": [{"band": 0, **band}], "bar": 1.1}]
    use(monkeypatch, forecast_block(fallback=False, production_wape=0.9), accounting={"event_analog": said})
    result = run_nightly(home, NightlyConfig(run_date=DAY))
    assert result["status"] == "succeeded" and forecast_gate(result)["event_analog"] == said
    report = (live_snapshot(home) / "report.html").read_text()
    assert "春节 (cny, 2026-02-17) is near; the pre-sale nowcast, fitted as it stood on 2025-01-28" in report
    assert ("expected 24,546 units on the campaigns not open yet that closed in the week after it, and "
            "17,478 came (0.71x)") in report
    assert "campaigns closing 2026-02-16 to 2026-02-22 is multiplied by last year" in report


def test_a_presale_nowcast_not_corrected_says_why():
    said = {"event": "mid_autumn", "label": "中秋节", "event_day": "2025-10-06", "last_year": "2024-09-17",
            "analog_origin": "2024-09-03", "applied": False, "days": ["2025-09-22"], "bands": [],
            "reason": "last year the windows not open yet got 27,274 units against 25,548 forecast: within "
                      "the bar of 1.10x, no sign of the event"}
    assert event_analog_sentence(said) == (
        "forecast: 中秋节 (mid_autumn, 2025-10-06) is near; the pre-sale nowcast is not corrected for it "
        "by last year's (2024-09-17): last year the windows not open yet got 27,274 units against 25,548 "
        "forecast: within the bar of 1.10x, no sign of the event")


def test_a_festival_without_last_years_history_is_said_not_corrected():
    said = {"event": "cny", "label": "春节", "event_day": "2026-02-17", "last_year": "2025-01-29",
            "analog_origin": "2025-01-28", "applied": False,
            "reason": "the history before 2025-01-28 holds 0 day(s) of sales; the correction needs 56 days"}
    sentence = event_analog_sentence(said)
    assert sentence == ("forecast: 春节 (cny, 2026-02-17) is near; the forecast is not corrected for it by "
                        "last year's (2025-01-29): the history before 2025-01-28 holds 0 day(s) of "
                        "sales; the correction needs 56 days")


def test_a_reopening_after_a_shutdown_is_said_in_units_not_as_a_ratio():
    # Online Retail as of 2011-01-10: the week from 2011-01-03 reopened after Christmas, and the
    # model fitted without it (on the closed days before) forecast nothing
    shift = {"days_from": "2011-01-03", "days": 7, "head_sold": 50811.0, "head_forecast": 0.0,
             "sold_over_forecast": 50812.0, "older_folds_sold_over_forecast": [0.0, 0.5155]}
    sentence = level_shift_sentence(shift)
    assert ("sold 50,811 units of the best-selling products where the daily forecast model said "
            "none") in sentence
    assert "50812" not in sentence and "the weeks before them ran 0.00x to 0.52x" in sentence


def test_the_level_shift_travels_from_the_daily_forecast_to_the_forecast_stage():
    shift = {"days_from": "2026-02-16", "days": 7, "sold_over_forecast": 0.36}
    run = DemandRun.of({"mode": "daily", "gate": {"passed": True, "reason": "r"}, "level_shift": shift,
                        "rows": 3})
    assert run.mode == "daily" and run.accounting["level_shift"] == shift


def test_a_failed_gate_names_the_fallback_that_was_published():
    verdict = GateVerdict(passed=False, reason=FALLBACK_REASON)
    gate = gate_outcome("forecast", verdict, published="seasonal_naive")
    assert "so the fallback (seasonal_naive) was published instead" in gate["message"]
    assert gate["published_method"] == "seasonal_naive" and gate["passed"] is False
    assert "published_method" not in gate_outcome("forecast", GateVerdict(passed=True, reason="x"),
                                                  published="nowcast")


def presale_block(bias: float, coverage: float, wape: float, additive_wape: float) -> dict:
    def scored(w, b, c):
        return {"wape": w, "bias": b, "pinball": 1.0, "coverage_p10_p90": c}
    return {"campaigns_evaluated": 120, "at_share": {
        "0.00": {"production": scored(wape, bias, coverage), "additive": scored(additive_wape, -0.168, 0.879),
                 "multiplicative": scored(2.0, 0.5, 0.5)},
        "0.50": {"production": scored(0.3, -0.05, 0.8), "additive": scored(0.4, 0.0, 0.8),
                 "multiplicative": scored(0.5, 0.0, 0.8)}}}


def test_a_presale_nowcast_off_before_the_windows_open_gets_a_note(home, monkeypatch):
    """The trial's world: at share 0 the nowcast was 38% short and its interval held 70% of outcomes,
    while the gate (a WAPE on held-out campaigns) said passed."""
    block = forecast_block(fallback=False, production_wape=0.9)
    block["presale"] = presale_block(bias=-0.382, coverage=0.703, wape=0.9, additive_wape=0.8)
    use(monkeypatch, block)
    result = run_nightly(home, NightlyConfig(run_date=DAY))
    gate = forecast_gate(result)
    assert gate["passed"] is True  # a note, not a failure
    assert gate["presale_opening_bias"] == pytest.approx(-0.382)
    assert gate["presale_opening_coverage"] == pytest.approx(0.703)
    assert gate["presale_opening_below_baseline"] is True
    assert "under the outcome by 38%" in gate["message"] and "holds 70% of the outcomes" in gate["message"]
    assert "the additive baseline's WAPE 0.800 beats its 0.900" in gate["message"]
    assert gate["badge"] == "passed, pre-sale off at opening"
    assert "before the windows opened" in (live_snapshot(home) / "report.html").read_text()


def test_a_presale_nowcast_that_holds_at_opening_adds_keys_but_no_note(home, monkeypatch):
    block = forecast_block(fallback=False, production_wape=0.9)
    block["presale"] = presale_block(bias=-0.05, coverage=0.8, wape=0.5, additive_wape=0.8)
    use(monkeypatch, block)
    gate = forecast_gate(run_nightly(home, NightlyConfig(run_date=DAY)))
    assert gate["presale_opening_bias"] == pytest.approx(-0.05)
    assert gate["presale_opening_below_baseline"] is False
    assert "badge" not in gate and "pre-sale" not in gate["message"]


def test_a_first_double11_corrected_by_the_first_618_says_so():
    said = {"event": "double11", "label": "双11", "event_day": "2025-11-11", "last_year": "2024-11-11",
            "read_instead": {"event": "618", "label": "618", "day": "2025-06-18",
                             "because": "the history before 2024-11-10 holds 0 day(s) of sales; the "
                                        "correction needs 56 days"},
            "analog_origin": "2025-06-17", "applied": True, "days_corrected": 7, "days_from": "2025-11-10",
            "sold_over_forecast": [1.02, 0.98, 0.41, 0.39, 0.4, 0.42, 0.45], "by_category": {}}
    assert event_analog_sentence(said) == (
        "forecast: 双11 (double11, 2025-11-11) is near; the same forecaster, run on the history as it "
        "stood on 2025-06-17 (as far before 618, 2025-06-18, the latest other shopping festival "
        "(last year's, 2024-11-11, is not in the history)), would have been off by 0.39x to 1.02x (sold "
        "over forecast, all products) on the 7 day(s) from 2025-11-10 that stood to it as this "
        "forecast's do; those days are multiplied by 618's ratios, per category")

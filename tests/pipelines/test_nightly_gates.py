"""The quality gate's outcome in plain words, for the report and the ledger."""

from datetime import date

import pytest

from pipelines.demand_stage import DemandRun
from pipelines.gates import GateVerdict
from pipelines.nightly.reporting import gate_outcome


def forecast_gate(gate: dict) -> GateVerdict:
    """The forecast stage's verdict, read from build_demand's info the way the nightly reads it."""
    return DemandRun.of({"gate": gate}).gate


def test_passed_gate_says_production_was_published():
    out = gate_outcome("forecast", forecast_gate({"passed": True, "reason": "WAPE 0.2 vs 0.4"}))
    assert out["passed"] is True
    assert out["message"] == "forecast: production model published (WAPE 0.2 vs 0.4)"


def test_worse_model_says_the_fallback_was_published():
    out = gate_outcome("recsys", GateVerdict(passed=False, reason="0.20 < 0.25"))
    assert out["message"].startswith("recsys: production model was worse than its baseline")


def test_short_history_is_not_called_a_worse_model():
    gate = {"passed": False, "trained": False, "reason": "only 10 day(s) of order history"}
    out = gate_outcome("forecast", forecast_gate(gate))
    assert out["message"] == ("forecast: too little history for the production model, so the fallback "
                              "was published (only 10 day(s) of order history)")
    assert out["trained"] is False


def test_the_recsys_gate_line_says_what_the_rules_cost():
    """The gate passes the ranker against popularity; the line must say that the picks shopkeepers
    get, after the rules, score below popularity (the probe's 0.355 vs 0.405)."""
    from types import SimpleNamespace

    from pipelines.nightly.reporting import note_rules_cost
    from pipelines.report import ReportContext, render_report

    gate = gate_outcome("recsys", GateVerdict(passed=True, reason="ranker beats the best generator"))
    models = {"popularity": {"ndcg@10": 0.405}, "production": {"ndcg@10": 0.42},
              "picks": {"ndcg@10": 0.355}}
    ctx = SimpleNamespace(evaluation={"k": 10, "recsys": {"models": models}},
                          config=SimpleNamespace(k=10), record=SimpleNamespace(gates=[gate]))
    note_rules_cost(ctx)
    message = ctx.record.gates[0]["message"]
    assert message.startswith("recsys: production model published")
    assert "published picks (after the business rules) score NDCG@10 0.355" in message
    assert "production (the ranker before the rules) 0.420, popularity 0.405" in message
    assert "the rules cost 0.065" in message and "BELOW the popularity baseline" in message
    assert gate["picks_below_popularity"] is True and gate["rules_cost"] == 0.065
    # the window's own figures beside it: rules_cost is their difference, not production_ndcg's
    assert gate["production_ndcg_eval"] - gate["picks_ndcg"] == pytest.approx(gate["rules_cost"])
    assert gate["popularity_ndcg_eval"] == 0.405 and "evaluation window" in gate["picks_ndcg_scope"]
    html = render_report(ReportContext(run_id="r", date=date(2026, 11, 28), status="succeeded",
                                       model_version="m", recsys={"models": models}, gates=[gate]))
    assert "passed, picks below popularity" in html and "s-warn" in html
    assert "The published picks score below the popularity baseline" in html  # the summary says it too
    ranking = html[html.index('id="ranking"'):html.index('id="forecast"')]
    want = "What shopkeepers get: the published picks (after the business rules) score NDCG@10 0.355"
    assert want in ranking
    note_rules_cost(ctx)  # once only
    assert ctx.record.gates[0]["message"] == message


def test_picks_at_or_above_popularity_keep_a_plain_pass():
    from types import SimpleNamespace

    from pipelines.nightly.reporting import note_rules_cost

    gate = gate_outcome("recsys", GateVerdict(passed=True, reason=""))
    models = {"popularity": {"ndcg@10": 0.3}, "production": {"ndcg@10": 0.42}, "picks": {"ndcg@10": 0.4}}
    ctx = SimpleNamespace(evaluation={"k": 10, "recsys": {"models": models}},
                          config=SimpleNamespace(k=10), record=SimpleNamespace(gates=[gate]))
    note_rules_cost(ctx)
    assert "badge" not in gate and gate["picks_below_popularity"] is False
    assert "at or above the popularity baseline" in gate["message"]


def test_a_stage_without_a_gate_says_so_and_counts_as_passed():
    out = gate_outcome("forecast", DemandRun.of({"mode": "daily", "rows": 3}).gate)
    assert out["passed"] is True
    assert out["message"] == "forecast: production model published (no quality gate reported)"


def test_an_untrained_forecast_is_not_called_a_worse_model():
    run = DemandRun.untrained("no order before 2026-03-01")
    out = gate_outcome("forecast", run.gate)
    assert run.mode == "none" and out["trained"] is False
    assert out["message"].startswith("forecast: too little history for the production model")

"""The quality gate's outcome in plain words, for the report and the ledger."""

from pipelines.nightly.reporting import gate_outcome


def test_passed_gate_says_production_was_published():
    out = gate_outcome("forecast", {"gate": {"passed": True, "reason": "WAPE 0.2 vs 0.4"}})
    assert out["passed"] is True
    assert out["message"] == "forecast: production model published (WAPE 0.2 vs 0.4)"


def test_worse_model_says_the_fallback_was_published():
    out = gate_outcome("recsys", {"gate": {"passed": False, "reason": "0.20 < 0.25"}})
    assert out["message"].startswith("recsys: production model was worse than its baseline")


def test_short_history_is_not_called_a_worse_model():
    gate = {"passed": False, "trained": False, "reason": "only 10 day(s) of order history"}
    out = gate_outcome("forecast", {"gate": gate})
    assert out["message"] == ("forecast: too little history for the production model, so the fallback "
                              "was published (only 10 day(s) of order history)")
    assert out["trained"] is False

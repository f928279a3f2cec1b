"""`circlebuy evaluate` on orders-only data, a black-box tester's findings: a date whose horizon holds
no paid order is refused (it scored every model 0 and halved the mean), the mean counts only the
dates that scored a model, date errors name the option used and every refused date at once, the
text says when the forecast fell back and over how many days its totals run, the fallback reason
names `reorder` once, and no bootstrap interval is claimed over a handful of groups. Small frames
and hand-built results: no model is trained here."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from common.errors import UsageError
from pipelines.evaluate.intervals import mean_interval, paired_difference, ratio_interval
from pipelines.evaluate.recsys import ndcg_intervals
from pipelines.evaluate.report import render_date, render_evaluation
from pipelines.evaluate.run import check_dates_have_orders, mean_block, parse_dates

START = date(2026, 2, 1)
SHUTDOWN = [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)]  # no order at all on these days
LAST = date(2026, 3, 20)


def orders_every_day_but(skip: list[date], *, cancelled: list[date] = ()) -> pl.DataFrame:
    """One order a day (noon UTC: the same platform day) from START to LAST, none on `skip`; those on
    `cancelled` are cancelled (not paid)."""
    days = [START + timedelta(days=i) for i in range((LAST - START).days + 1)]
    days = [d for d in days if d not in skip]
    return pl.DataFrame({
        "ordered_at": [datetime(d.year, d.month, d.day, 4, tzinfo=UTC) for d in days],
        "status": ["cancelled" if d in cancelled else "paid" for d in days],
    })


def refusal(orders: pl.DataFrame, dates: list[date], horizon: int) -> UsageError:
    with pytest.raises(UsageError) as refused:
        check_dates_have_orders(orders, dates, horizon)
    assert refused.value.exit_code == 2
    return refused.value


# 1. a horizon without paid orders ------------------------------------------------------------------

def test_a_date_whose_horizon_is_a_shutdown_is_refused_naming_the_date_and_its_days():
    message = str(refusal(orders_every_day_but(SHUTDOWN), [SHUTDOWN[0]], 3))
    assert message.startswith("--as-of: 2026-03-02: no paid order in the 3-day horizon "
                              "(2026-03-02 to 2026-03-04)"), message
    check_dates_have_orders(orders_every_day_but(SHUTDOWN), [SHUTDOWN[0]], 4)  # 03-05 has one: fine


def test_orders_cancelled_since_are_no_paid_orders():
    """The horizon is scored against paid orders (recsys.folds.relevant_pairs): cancelled ones only
    are a horizon with nothing to score."""
    orders = orders_every_day_but([], cancelled=SHUTDOWN)
    assert "2026-03-02: no paid order" in str(refusal(orders, [SHUTDOWN[0]], 3))


def date_result(day: str, *, groups: int, ndcg: dict, wape: dict, head: dict) -> dict:
    return {"as_of": day, "horizon_days": 3, "k": 10,
            "recsys": {"groups_evaluated": groups,
                       "models": {n: {"ndcg@10": v, "hit@10": v} for n, v in ndcg.items()}},
            "forecast": {"series_evaluated": 4,
                         "models": {n: {"wape": v, "coverage_p10_p90": 1.0} for n, v in wape.items()},
                         "head": {"models": {n: {"total_wape": v, "bias": 0.1} for n, v in head.items()}}}}


def test_the_mean_counts_a_date_only_where_it_scored_the_model_and_names_no_winner_for_it():
    scored = date_result("2026-02-23", groups=12, ndcg={"reorder": 0.3, "production": 0.4},
                         wape={"production": 0.5, "seasonal_naive": 0.6},
                         head={"production": 0.4, "seasonal_naive": 0.45})
    empty = date_result("2026-03-02", groups=0, ndcg={"reorder": 0.0, "production": 0.0},
                        wape={"production": None, "seasonal_naive": None},
                        head={"production": None, "seasonal_naive": None})
    mean = mean_block([scored, empty])
    production = mean["recsys"]["models"]["production"]
    assert production["ndcg@10"] == 0.4 and production["dates"] == 1  # not (0.4 + 0) / 2
    forecast = mean["forecast"]["models"]["production"]
    assert forecast == {"wape": 0.5, "coverage_p10_p90": 1.0, "dates": 1}  # no coverage of zeros
    assert mean["forecast"]["head"]["models"]["production"] == {"total_wape": 0.4, "bias": 0.1, "dates": 1}
    assert mean["winners"][1] == {"as_of": "2026-03-02", "recsys": None, "forecast_head_total_wape": None}
    assert mean["winners"][0]["recsys"] == "production"
    assert mean["dates"] == ["2026-02-23", "2026-03-02"]


# 4. date errors --------------------------------------------------------------------------------------

def test_a_range_past_the_data_names_the_range_option_and_every_refused_date():
    dates = parse_dates(None, "2026-02-23..2026-04-06", "7d")  # 02-23 .. 04-06 weekly; data ends 03-20
    message = str(refusal(orders_every_day_but(SHUTDOWN), dates, 3))
    assert message.startswith("--as-of-range: 4 of 7 dates refused; "), message
    assert "--as-of:" not in message
    for day in ("2026-03-02", "2026-03-23", "2026-03-30", "2026-04-06"):
        assert day in message
    assert "2026-03-16" not in message.split("; the orders run")[0]  # 03-16..03-18 is scored


def test_the_cli_blames_the_range_it_was_given(monkeypatch, capsys, tmp_path):
    """Through the CLI: the dates of --as-of-range keep their option on the way to the check."""
    from common.home import Home
    from pipelines.ingest import run_ingest
    from tests.pipelines.conftest import TINY_END, build_tiny_tables, write_raw_folder
    from tests.pipelines.test_cli_usage import run

    home = Home(tmp_path / "h")
    run_ingest(write_raw_folder(tmp_path / "raw", build_tiny_tables()), home.ensure(), run_date=TINY_END)
    code, err = run(monkeypatch, capsys, "evaluate", "--as-of-range", "2026-01-09..2026-01-12",
                    "--every", "1d", "--horizon-days", "2", "--home", str(home.root))
    assert code == 2, err
    assert "--as-of-range: 3 of 4 dates refused; 2026-01-11, 2026-01-12: nothing to evaluate there" in err
    assert "2026-01-10: the 2-day horizon runs past the orders" in err, err


def test_the_horizon_advice_is_said_once_and_matches_the_check():
    orders = orders_every_day_but([])
    message = str(refusal(orders, [date(2026, 2, 10)], 60))
    assert message.count("--horizon-days") == 1, message
    assert "no as-of date has orders before it, its whole 60-day horizon within the orders and a paid " \
           "order in that horizon" in message
    message = str(refusal(orders, [date(2026, 3, 19)], 7))
    assert message.count("--horizon-days") == 1, message
    assert "on all 7 days" not in message and "from 2026-02-02 to 2026-03-14" in message
    # what the message promises is what the check does: a horizon with a gap but a paid order passes
    check_dates_have_orders(orders_every_day_but([date(2026, 3, 3)]), [date(2026, 3, 2)], 7)


# 2. and 3. the text report --------------------------------------------------------------------------

def forecast_block(horizon: int) -> dict:
    models = {"seasonal_naive": {"wape": 0.61, "bias": 0.1, "pinball": 1.0, "coverage_p10_p90": 0.8},
              "production": {"wape": 0.61, "bias": 0.1, "pinball": 1.0, "coverage_p10_p90": 0.8}}
    head = {"threshold": 28.0, "window_days": 28, "series": 25,
            "models": {"production": {"total_wape": 0.5, "bias": 0.1, "coverage_p10_p90": 0.8}}}
    gate = {"production_wape": 0.7123, "seasonal_naive_wape": 0.6512, "passed": False,
            "scored_on": "mean over 4 weekly folds, head series' 3-day totals",
            "reason": "mean over the last 4 weekly folds (weights fitted without the fold scored), head "
                      "series' totals: WAPE 0.712 vs seasonal naive 0.651"}
    return {"series_evaluated": 40, "days": horizon, "models": models, "head": head,
            "production_is": {"method": "seasonal_naive", "model": "ensemble", "gate": gate}}


def test_the_text_says_when_the_forecast_fell_back_and_the_gate_figures():
    text = render_date({"as_of": "2026-03-09", "horizon_days": 3, "k": 10, "forecast": forecast_block(3)})
    assert "failed its gate, so production is seasonal_naive" in text
    assert "WAPE 0.712 vs seasonal naive 0.651" in text


def test_a_passed_gate_adds_no_note():
    block = forecast_block(7)
    block["production_is"] = {"method": "daily_ensemble", "model": "ensemble",
                              "gate": {**block["production_is"]["gate"], "passed": True}}
    assert "gate" not in render_date({"as_of": "2026-03-09", "horizon_days": 7, "k": 10, "forecast": block})


def test_the_head_totals_are_said_over_the_real_horizon():
    result = {"as_of": "2026-03-09", "horizon_days": 3, "k": 10, "forecast": forecast_block(3),
              "recsys": {"groups_evaluated": 0, "models": {}}}
    text = render_date(result)
    assert "3-day totals" in text and "7-day" not in text
    rolled = render_evaluation({"dates": [result, {**result, "as_of": "2026-03-16"}],
                                "mean": mean_block([result, {**result, "as_of": "2026-03-16"}])})
    assert "head series, 3-day totals (mean over dates)" in rolled and "7-day" not in rolled


# 6. the all-series forecast in the text mean ---------------------------------------------------------

def test_the_text_mean_prints_every_series_forecast_table():
    result = {"as_of": "2026-03-09", "horizon_days": 3, "k": 10, "forecast": forecast_block(3),
              "recsys": {"groups_evaluated": 0, "models": {}}}
    rolled = {"dates": [result, {**result, "as_of": "2026-03-16"}],
              "mean": mean_block([result, {**result, "as_of": "2026-03-16"}])}
    mean_text = render_evaluation(rolled).split("mean over 2 dates")[1]
    assert "daily forecasts, every series (mean over dates)" in mean_text
    row = next(line for line in mean_text.splitlines()
               if line.startswith("seasonal_naive") and "0.6100" in line)
    assert row.split()[-1] == "2"  # the dates that scored it


# 5. the fallback reason names `reorder` once ---------------------------------------------------------

class Tuned:
    """The little of recsys.tuning.FoldTuned that the gate reads."""

    metrics = {"reorder": {"ndcg@10": 0.1937}, "popularity": {"ndcg@10": 0.12}}
    fold_metrics = {"reorder": [{"ndcg@10": 0.1937}]}

    def mean_over(self, name: str, key: str, folds: list[int]) -> float:
        return self.metrics[name][key]


@pytest.mark.parametrize("best", ["reorder", "popularity"])
def test_the_fallback_reason_names_the_best_generator_once_when_it_is_reorder(monkeypatch, best):
    from recsys import ranker_training
    from recsys.production_config import ProductionConfig

    monkeypatch.setattr(ranker_training, "chained_scores",
                        lambda *args, **kwargs: ([(0, {"ndcg@10": 0.15})], None))
    rows = [pl.DataFrame({"label": [0, 1]})]
    _, _, reason, _ = ranker_training.train_ranker(rows, rows, Tuned(), best, [], [], 10, ProductionConfig())
    rows = [pl.DataFrame({"label": [1]}), pl.DataFrame({"label": [1]})]
    _, _, chained, _ = ranker_training.forward_chained(rows, Tuned(), best, [], [], 10, ProductionConfig())
    for text in (reason, chained):
        assert text.endswith(f"falling back to {best!r}"), text
        if best == "reorder":
            assert text.count("0.1937") == 1 and "own history" in text, text
        else:
            assert "'popularity' (0.1200) or the group's own history (0.1937)" in text, text


# 7. no interval over a handful of groups ------------------------------------------------------------

def test_too_few_groups_give_no_interval_and_no_verdict():
    three = np.ones(3)
    assert mean_interval(three) is None and ratio_interval(three, three) is None
    gap = paired_difference(np.ones(3), np.zeros(3), np.ones(3))
    assert gap == {"difference": 1.0, "ci90": None, "real": None}
    enough = paired_difference(np.ones(20) * 0.5, np.zeros(20), np.ones(20))  # intervals.MIN_UNITS
    assert enough["real"] is True and enough["ci90"] == [0.5, 0.5]


def test_the_text_says_too_few_groups_for_an_interval():
    relevant = pl.DataFrame({"group_id": ["G1", "G2", "G3"], "product_id": ["P1", "P1", "P2"]})
    ranked = relevant.with_columns(pl.lit(1).alias("rank"))
    cis = ndcg_intervals({"popularity": ranked, "production": ranked}, relevant, 10, seed=1)
    assert cis["ndcg@10"] == {"popularity": None, "production": None}
    assert cis["production_minus_model_ndcg@10"]["popularity"]["real"] is None
    assert cis["note"] == "too few groups for an interval (3)"
    models = {n: {"ndcg@10": 1.0} for n in ("popularity", "production")}
    text = render_date({"as_of": "2026-03-09", "horizon_days": 7, "k": 10,
                        "recsys": {"groups_evaluated": 3, "models": models, "intervals": cis}})
    assert "too few groups for an interval (3)" in text and "[1.000, 1.000]" not in text


def test_a_range_skips_and_names_a_date_whose_horizon_is_a_shutdown(monkeypatch, capsys):
    """A rolling range across a closure asks for the dates that can be scored: the closed week is
    skipped and named (stderr, `skipped` in the JSON), where a date typed with --as-of is refused."""
    import contextlib

    import pipelines.evaluate.run as run_module
    from pipelines.evaluate.run import AsOfDates, EvaluateConfig, empty_horizons, run_evaluate

    orders = orders_every_day_but(SHUTDOWN)
    week_before, closed, week_after = date(2026, 2, 23), SHUTDOWN[0], date(2026, 3, 9)
    assert empty_horizons(orders, [week_before, closed, week_after], 3) == [closed]
    evaluated: list = []
    monkeypatch.setattr(run_module, "load_frames", lambda home, drop=None: {"orders": orders})
    monkeypatch.setattr(run_module, "warehouse_runner", lambda *a, **k: contextlib.nullcontext(None))
    monkeypatch.setattr(run_module, "evaluate_dates", lambda frames, config, dates, progress, run: (
        evaluated.extend(dates) or ({"dates": [], "mean": {}}, pl.DataFrame(), pl.DataFrame())))
    config = EvaluateConfig(as_of_day=week_before, horizon_days=3)
    result = run_evaluate(None, config, dates=AsOfDates([week_before, closed, week_after], "--as-of-range"))
    assert evaluated == [week_before, week_after]
    assert result["skipped"] == [{"as_of": "2026-03-02", "reason": "no paid order in the horizon"}]
    assert "skipped 2026-03-02 of --as-of-range" in capsys.readouterr().err
    with pytest.raises(UsageError, match="2026-03-02: no paid order"):
        run_evaluate(None, config, dates=AsOfDates([week_before, closed], "--as-of"))

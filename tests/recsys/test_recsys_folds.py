"""No single week decides: tuning, the gate and the fallback read the mean over weekly folds."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import polars as pl
import pytest

import recsys.tuning as tuning
from recsys.folds import fold_windows
from recsys.production import ProductionConfig, refit_production, train_production
from recsys.training_report import TrainingReport
from recsys.tuning import TuningConfig, best_generator, tune_folds
from tests.recsys.test_recsys_picks import FAST
from tests.recsys.world import make_world

# NDCG of each (model, parameters) on folds newest first: `hot` wins only the newest fold (the week
# after a festival), `own` wins the other three and on average
SCORES = {
    ("hot", 1): [0.40, 0.10, 0.12, 0.11],
    ("hot", 2): [0.30, 0.20, 0.20, 0.20],
    ("own", 1): [0.25, 0.30, 0.31, 0.29],
}


class FakeModel:
    def __init__(self, name, p):
        self.key = (name, p)

    def fit(self, signal):
        self.fold = signal
        return self


def test_the_fold_mean_chooses_parameters_and_the_fallback_not_the_last_week(monkeypatch):
    monkeypatch.setattr(tuning, "make_model", lambda name, seed, p: FakeModel(name, p))
    monkeypatch.setattr(tuning, "evaluate_model", lambda model, relevant, k: {
        "ndcg@10": SCORES[model.key][model.fold], "hit@10": 1.0})
    config = TuningConfig(models=("hot", "own"), grids={"hot": [{"p": 1}, {"p": 2}], "own": [{"p": 1}]})
    folds = [(j, pl.DataFrame()) for j in range(4)]  # the fake "signal" is the fold index
    tuned = tune_folds(iter(folds), config)
    assert tuned.params["hot"] == {"p": 2}  # 0.225 on average beats 0.1825, though p=1 won the newest fold
    assert tuned.per_fold["hot"] == [0.30, 0.20, 0.20, 0.20]
    assert tuned.metrics["own"]["ndcg@10"] == pytest.approx(0.2875)
    assert best_generator(tuned.metrics, 10) == "own"  # the newest fold alone would say "hot"
    assert [t["params"] for t in tuned.trials["hot"]] == [{"p": 1}, {"p": 2}]
    assert tuned.fold_models == []  # nothing kept unless asked
    kept = tune_folds(iter(folds), config, keep_models=True).fold_models
    assert [signal for signal, _ in kept] == [0, 1, 2, 3]  # newest first, as the folds came
    # each fold's models are the chosen point's, fitted on that fold: hot's second point, not its first
    for j, (_, models) in enumerate(kept):
        assert models["hot"].key == ("hot", 2) and models["hot"].fold == j


def test_folds_are_weekly_and_end_at_the_cutoff():
    config = ProductionConfig(validation_folds=4)
    assert fold_windows(date(2024, 3, 25), config) == [
        date(2024, 3, 18), date(2024, 3, 11), date(2024, 3, 4), date(2024, 2, 26)]


def test_production_reports_every_fold_and_labels_end_before_the_earliest():
    frames = make_world(groups=50, products=70, days=75, end=date(2024, 3, 31), seed=9)
    prod = train_production(frames, date(2024, 3, 25), FAST)
    report = prod.report
    folds = report.windows["validation_folds"]
    assert folds[0] == "2024-03-18" and len(folds) == FAST.validation_folds
    assert report.windows["train_labels"][1] == folds[-1]  # label windows end where the folds begin
    for name, t in report.tuning.items():
        assert len(t.folds) == len(folds), name
        assert t.validation["ndcg@10"] == pytest.approx(sum(t.folds) / len(folds), abs=1e-6)
    assert report.gate.folds == len(folds)
    if prod.ranker is not None:
        assert len(report.ranker_validation["folds"]) == len(folds)
        assert report.ranker_validation["ndcg@10"] > report.tuning["reorder"].validation["ndcg@10"]
    # beside the parameters, what each production fit derived from them and the data
    assert report.tuning["als"].fitted["regularization_"] == pytest.approx(prod.models["als"].regularization_)
    assert report.tuning["bpr"].fitted["iterations_"] == prod.models["bpr"].iterations_
    assert "popularity_" not in report.tuning["als"].fitted  # scalars only, never the arrays
    saved = report.to_dict()
    saved["tuning"]["bpr"]["fitted"] = {"iterations_": -1}  # what an earlier day's fit said
    later = refit_production(frames, date(2024, 3, 31), report.params, prod.ranker, prod.chosen, saved,
                             FAST)  # the nightly's reuse: today's fit, today's values
    assert later.report.tuning["bpr"].fitted["iterations_"] == later.models["bpr"].iterations_ >= 1
    # the report's JSON reads back as the same report (saved trainings, the ledger)
    assert TrainingReport.from_dict(report.to_dict()) == report
    old = {k: v for k, v in report.to_dict().items() if k not in ("windows", "timings_s")}
    assert TrainingReport.from_dict(old).gate == report.gate  # an older saved training still reads


def test_a_short_history_trains_the_ranker_forward_chained_on_the_folds():
    # 33 days of history before the as-of day: the earliest fold starts on day 5, so no label window
    # ends before it; each fold is scored by a ranker trained on the older folds only
    end = date(2024, 3, 31)
    frames = make_world(groups=60, products=70, days=40, end=end, seed=4)
    as_of = end - timedelta(days=6)
    prod = train_production(frames, as_of, FAST)
    report = prod.report
    chained = report.ranker_validation["forward_chained_folds"]
    assert chained and 0 in chained and (FAST.validation_folds - 1) not in chained  # the oldest has no past
    assert len(report.ranker_validation["folds"]) == len(chained)
    assert report.windows["label_windows"] == 0
    best = report.best_generator
    same = sum(report.tuning[best].folds[j] for j in chained) / len(chained)
    if prod.ranker is not None:
        assert report.ranker_validation["ndcg@10"] > same
        assert "forward" not in (report.fallback_reason or "") and "older" in report.gate.reason
        # the gate's numbers are on the same folds, so "beats the best generator" reads true in them
        assert report.gate.best_generator_ndcg == round(same, 6)
        assert report.gate.production_ndcg > report.gate.best_generator_ndcg
        pop_same = sum(report.tuning["popularity"].folds[j] for j in chained) / len(chained)
        assert report.gate.popularity_ndcg == round(pop_same, 6) and report.gate.folds == len(chained)
    else:
        assert "older folds" in report.fallback_reason and prod.chosen == best


def test_one_fold_is_too_few_to_chain():
    end = date(2024, 3, 31)
    frames = make_world(groups=40, products=50, days=12, end=end, seed=4)  # no label window fits
    prod = train_production(frames, end - timedelta(days=2), replace(FAST, validation_folds=1))
    assert prod.ranker is None
    assert "too few folds" in prod.report.fallback_reason


def test_each_fold_fits_every_grid_point_once_and_the_features_reuse_the_tuned_models(monkeypatch):
    from collections import Counter

    from recsys.models.base import Recommender

    fits: Counter = Counter()
    fit = Recommender.fit

    def counting_fit(self, signal):
        fits[(self.name, signal.as_of_day)] += 1
        return fit(self, signal)

    monkeypatch.setattr(Recommender, "fit", counting_fit)
    frames = make_world(groups=50, products=70, days=75, end=date(2024, 3, 31), seed=9)
    prod = train_production(frames, date(2024, 3, 25), FAST)
    folds = [date.fromisoformat(d) for d in prod.report.windows["validation_folds"]]
    for name in FAST.tuning.models:
        for day in folds:
            # the tuning's fits only: the ranker's validation rows read the models the tuning fitted
            assert fits[(name, day)] == len(FAST.tuning.grids.get(name, [{}])), (name, day)
    # the models the validation run keeps are the ones fitted on the newest fold
    assert prod.validation.signal.as_of_day == folds[0]

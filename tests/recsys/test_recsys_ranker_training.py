"""The ranker's gate scores each fold with the ranker as it would have stood at the fold's start."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

import recsys.ranker_training as ranker_training
from recsys.production import ProductionConfig
from recsys.ranker_training import train_ranker
from recsys.tuning import FoldTuned

GROUPS, ITEMS, TOP = 40, 20, 3
FOLDS = 4
CONFIG = replace(ProductionConfig(), ranker=replace(ProductionConfig().ranker, max_iter=40,
                                                    min_samples_leaf=5, neg_per_group=ITEMS))


def _window(day: int, signal: str, seed: int, fold: int | None = None) -> pl.DataFrame:
    """Candidates of one week: every group ordered the TOP items highest on feature `signal`."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(GROUPS), ITEMS)
    i = np.tile(np.arange(ITEMS), GROUPS)
    a, b = rng.random(g.size), rng.random(g.size)
    frame = pl.DataFrame({"g": g, "i": i, "a": a, "b": b, "_as_of_day": np.full(g.size, day)})
    frame = frame.with_columns(
        label=(pl.col(signal).rank("ordinal", descending=True).over("g") <= TOP).cast(pl.Int8))
    if fold is None:
        return frame
    return frame.with_columns(pl.lit(fold, pl.Int16).alias("_fold"), pl.format("g{}", "g").alias("group_id"),
                              pl.format("p{}", "i").alias("product_id"))


def _relevant(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.filter(pl.col("label") == 1).select("group_id", "product_id")


def _tuned(fold_ndcg: list[float]) -> FoldTuned:
    folds = [{"ndcg@10": v} for v in fold_ndcg]
    mean = {"ndcg@10": float(np.mean(fold_ndcg))}
    return FoldTuned({"pop": {}, "reorder": {}}, {"pop": mean, "reorder": {"ndcg@10": 0.0}},
                     {"pop": fold_ndcg, "reorder": [0.0] * len(fold_ndcg)}, {},
                     {"pop": folds, "reorder": [{"ndcg@10": 0.0}] * len(fold_ndcg)})


def _regime_change():
    # the label windows (before every fold) ordered by `a`; from the oldest fold on, groups order by `b`
    windows = [_window(day, "a", seed=day) for day in (60, 67, 74)]
    val_rows = [_window(109 - 7 * j, "b", seed=200 + j, fold=j) for j in range(FOLDS)]
    return windows, val_rows, [_relevant(r) for r in val_rows]


@pytest.fixture
def trained_weeks(monkeypatch) -> list[set[int]]:
    """The as-of days of the rows each LearnedRanker.fit reads, in the order of the fits."""
    seen: list[set[int]] = []
    fit = ranker_training.LearnedRanker.fit

    def recording_fit(self, frame):
        seen.append(set(frame["_as_of_day"].unique().to_list()))
        return fit(self, frame)

    monkeypatch.setattr(ranker_training.LearnedRanker, "fit", recording_fit)
    return seen


def test_each_fold_is_scored_by_a_ranker_trained_on_the_windows_and_the_older_folds(trained_weeks):
    windows, val_rows, relevant = _regime_change()
    seen = trained_weeks
    train_ranker(windows, val_rows, _tuned([0.3] * FOLDS), "pop", relevant, [ITEMS] * FOLDS, GROUPS, CONFIG)
    window_days = {60, 67, 74}
    fold_days = [109 - 7 * j for j in range(FOLDS)]
    # fold j (newest first): the windows and every fold older than it, never itself or a newer one
    for j in range(FOLDS):
        assert seen[j] == window_days | set(fold_days[j + 1:]), j
    assert seen[FOLDS] == window_days | set(fold_days)  # the published ranker: every fold too


def test_a_ranker_that_learns_the_new_regime_is_not_failed_by_stale_windows():
    # a generator scores 0.55 on every fold; the windows alone teach `a`, which says nothing about
    # the folds: a ranker trained on them only scores 0.26-0.33 on each fold and would be failed
    windows, val_rows, relevant = _regime_change()
    tuned = _tuned([0.55] * FOLDS)
    ranker, trial, reason, metrics = train_ranker(windows, val_rows, tuned, "pop", relevant, [ITEMS] * FOLDS,
                                                  GROUPS, CONFIG)
    folds = metrics["folds"]
    assert folds[-1] < 0.4  # the oldest fold: nothing before it shows the new regime (0.26)
    assert folds[0] > 0.7 and folds == sorted(folds, reverse=True)  # the newest: three weeks of it (0.78)
    assert metrics["ndcg@10"] == pytest.approx(np.mean(folds), abs=1e-6)
    assert ranker is not None and reason == "" and trial is not None
    assert "forward_chained_folds" not in metrics  # label windows exist: not the short-history path


def test_with_a_two_week_horizon_a_fold_never_learns_from_the_next_older_one(trained_weeks):
    # folds start a week apart; with a 14-day horizon the next older fold's labels cover the first
    # week of this one, so only the folds two or more weeks older may train its ranker
    windows, val_rows, relevant = _regime_change()
    seen = trained_weeks
    config = replace(CONFIG, horizon_days=14)
    train_ranker(windows, val_rows, _tuned([0.3] * FOLDS), "pop", relevant, [ITEMS] * FOLDS, GROUPS, config)
    fold_days = [109 - 7 * j for j in range(FOLDS)]
    for j in range(FOLDS):
        assert seen[j] == {60, 67, 74} | set(fold_days[j + 2:]), j
    # without label windows (a short history) the same rule: the newest fold learns from folds 2 and 3
    seen.clear()
    _, _, _, metrics = train_ranker([], val_rows, _tuned([0.3] * FOLDS), "pop", relevant, [ITEMS] * FOLDS,
                                    GROUPS, config)
    assert metrics["forward_chained_folds"] == [0, 1]
    assert seen[:2] == [set(fold_days[2:]), {fold_days[3]}]

"""A small grid search per generator on a validation window that ends before the evaluation date."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from common.settings import DEFAULT_SEED
from recsys.metrics import ranking_metrics
from recsys.models import make_model
from recsys.models.base import Recommender
from recsys.signal import Signal

GRIDS: dict[str, list[dict]] = {
    "popularity": [{"half_life": h, "window_days": w} for h in (3.0, 14.0) for w in (7, 28)],
    "city_popularity": [
        {"half_life": h, "window_days": 28, "global_weight": gw} for h in (3.0, 14.0) for gw in (0.1, 1.0)
    ],
    "reorder": [
        {"half_life": h, "value": "lines", "exposure_penalty": p}
        for h in (7.0, 21.0, None)
        for p in (0.0, 0.5)
    ],
    "itemknn_cosine": [{"K": K, "half_life": h} for K in (20, 100) for h in (14.0, None)],
    "itemknn_bm25": [{"K": 100, "B": B, "half_life": h} for B in (0.3, 0.8) for h in (14.0, None)],
    # the L2 weight relative to a group's confidence mass (`ALS`): a fixed 0.05 left the factors
    # reproducing "ever bought" wherever groups are large (NDCG@10 0.02-0.11 on the festival world and
    # on Online Retail pooled into 116 groups, against 0.19-0.47 relative; BENCHMARKS)
    "als": [
        {"factors": 64, "alpha": a, "relative_regularization": r, "half_life": 21.0}
        for a in (1.0, 5.0)
        for r in (0.1, 0.3)
    ],
    # one point: a learning rate of 0.05 (the grid's other point until 2026-12-02) never won the tuning
    # on Online Retail, its pooled groups or the festival world (below 0.01 on 18 of 21 weeks read) and
    # cost half of BPR's tuning on the M world; 50 epochs instead of 100 cost Online Retail's
    # production 0.003 (BENCHMARKS, "BPR's grid down to one point")
    "bpr": [{"factors": 64, "learning_rate": 0.01, "iterations": 100}],
    "members": [{}],
    "tifu_knn": [
        {"half_life": h, "k_neighbors": 50, "alpha": a} for h in (21.0, None) for a in (0.7, 0.9)
    ],
    "repeat_cycle": [{"shrinkage": s, "spread": sp} for s in (2.0, 5.0) for sp in (None, 1.0)],
    # the group's own year-ago orders first: where no fold reaches back a year every point ties, and
    # the first is kept
    "year_ago": [{"own_weight": w, "pad_days": p} for w in (1.0, 0.0) for p in (0, 7)],
}


@dataclass(frozen=True)
class TuningConfig:
    """Which generators, their grids, and the metric to maximise."""

    models: tuple[str, ...] = tuple(GRIDS)
    grids: dict[str, list[dict]] = field(default_factory=lambda: GRIDS)
    k: int = 10
    seed: int = DEFAULT_SEED


@dataclass
class Tuned:
    """The best parameters, validation metrics and the fitted best model, per generator."""

    params: dict[str, dict]
    metrics: dict[str, dict]
    trials: dict[str, list[dict]]
    fitted: dict[str, Recommender]


def evaluate_model(model: Recommender, relevant: pl.DataFrame, k: int) -> dict[str, float]:
    """Metrics of a fitted model's top-k over the whole catalog for the groups in `relevant`."""
    groups = relevant["group_id"].unique().sort()
    recs = model.recommend(groups, k)
    return ranking_metrics(recs, relevant, k, len(model.signal_.items), model.signal_.item_meta)


def tune(signal: Signal, relevant: pl.DataFrame, config: TuningConfig | None = None) -> Tuned:
    """Fit every grid point on `signal`, score NDCG@k on `relevant`, keep the best per model."""
    config = config or TuningConfig()
    params, metrics, trials, fitted = {}, {}, {}, {}
    key = f"ndcg@{config.k}"
    for name in config.models:
        best = None
        trials[name] = []
        for p in config.grids.get(name, [{}]):
            model = make_model(name, seed=config.seed, **p).fit(signal)
            m = evaluate_model(model, relevant, config.k)
            trials[name].append({"params": p, key: m[key]})
            if best is None or m[key] > best[1][key] + 1e-12:
                best = (p, m, model)
        params[name], metrics[name], fitted[name] = best
    return Tuned(params, metrics, trials, fitted)


@dataclass
class FoldTuned:
    """Parameters chosen by the mean over validation folds, and each model's figures per fold."""

    params: dict[str, dict]
    metrics: dict[str, dict]  # mean over folds of every metric, for the chosen parameters
    per_fold: dict[str, list[float]]  # NDCG@k per fold (newest first), chosen parameters
    trials: dict[str, list[dict]]
    fold_metrics: dict[str, list[dict]]  # every metric per fold (newest first), chosen parameters
    # with `keep_models`: per fold (newest first), its signal and every generator fitted with the
    # chosen parameters on it, as the tuning fitted them
    fold_models: list[tuple[Signal, dict[str, Recommender]]] = field(default_factory=list)

    def mean_over(self, name: str, key: str, folds: list[int] | None = None) -> float:
        """`name`'s mean of metric `key` over the folds `folds` (indices, newest first), or over all."""
        if folds is None:
            return self.metrics[name][key]
        return float(np.mean([self.fold_metrics[name][j][key] for j in folds]))


def tune_folds(
    folds: Iterable[tuple[Signal, pl.DataFrame]],
    config: TuningConfig | None = None,
    keep_models: bool = False,
) -> FoldTuned:
    """Fit every grid point on each fold's signal, score it on the fold's relevant pairs, and keep per
    generator the parameters with the best *mean* NDCG@k over the folds (ties: first in the grid).

    `folds` yields (signal, relevant) one at a time. Without `keep_models` only one fold's signal and
    models are alive at a time. With it, every fold's signal (its cached matrices included) and every
    grid point's fitted model are kept until the means decide; the chosen models are returned with
    their signals (`fold_models`), so that a caller need not fit them again, and the rest are freed
    (more memory while tuning: the M world's peak went from 7.0-7.2 to 7.4-7.5 GiB, BENCHMARKS)."""
    config = config or TuningConfig()
    key = f"ndcg@{config.k}"
    scores: dict[str, list[list[dict]]] = {n: [] for n in config.models}  # model -> point -> folds
    fitted: list[tuple[Signal, dict[str, list[Recommender]]]] = []  # fold -> model -> point
    n_folds = 0
    for signal, relevant in folds:
        n_folds += 1
        models: dict[str, list[Recommender]] = {}
        for name in config.models:
            grid = config.grids.get(name, [{}])
            if not scores[name]:
                scores[name] = [[] for _ in grid]
            for j, p in enumerate(grid):
                model = make_model(name, seed=config.seed, **p).fit(signal)
                scores[name][j].append(evaluate_model(model, relevant, config.k))
                if keep_models:
                    models.setdefault(name, []).append(model)
                del model
        if keep_models:
            fitted.append((signal, models))
        del models
    if n_folds == 0:
        raise ValueError("no validation fold to tune on")
    params, metrics, per_fold, trials, fold_metrics = {}, {}, {}, {}, {}
    chosen_point: dict[str, int] = {}
    for name in config.models:
        grid = config.grids.get(name, [{}])
        means = [float(np.mean([m[key] for m in point])) for point in scores[name]]
        best = int(np.argmax(means))  # argmax: the first of equal means
        chosen_point[name] = best
        params[name] = grid[best]
        chosen = scores[name][best]
        metrics[name] = {m: round(float(np.mean([f[m] for f in chosen])), 6) for m in chosen[0]}
        per_fold[name] = [round(f[key], 6) for f in chosen]
        fold_metrics[name] = chosen
        trials[name] = [{"params": p, key: round(v, 6)} for p, v in zip(grid, means, strict=True)]
    fold_models = [(signal, {n: points[chosen_point[n]] for n, points in models.items()})
                   for signal, models in fitted]
    return FoldTuned(params, metrics, per_fold, trials, fold_metrics, fold_models)


def best_generator(metrics: dict[str, dict], k: int) -> str:
    """The generator with the highest validation NDCG@k (ties: first in order)."""
    names = list(metrics)
    return names[int(np.argmax([metrics[n][f"ndcg@{k}"] for n in names]))]

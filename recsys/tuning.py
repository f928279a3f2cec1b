"""A small grid search per generator on a validation window that ends before the evaluation date."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

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
    "als": [
        {"factors": f, "alpha": a, "regularization": 0.05, "half_life": 21.0}
        for f in (32, 64)
        for a in (5.0, 20.0)
    ],
    "bpr": [{"factors": 64, "learning_rate": lr, "iterations": 100} for lr in (0.01, 0.05)],
    "members": [{}],
    "tifu_knn": [
        {"half_life": h, "k_neighbors": 50, "alpha": a} for h in (21.0, None) for a in (0.7, 0.9)
    ],
    "repeat_cycle": [{"shrinkage": s, "spread": sp} for s in (2.0, 5.0) for sp in (None, 1.0)],
}


@dataclass(frozen=True)
class TuningConfig:
    """Which generators, their grids, and the metric to maximise."""

    models: tuple[str, ...] = tuple(GRIDS)
    grids: dict[str, list[dict]] = field(default_factory=lambda: GRIDS)
    k: int = 10
    seed: int = 7


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


def best_generator(metrics: dict[str, dict], k: int) -> str:
    """The generator with the highest validation NDCG@k (ties: first in order)."""
    names = list(metrics)
    return names[int(np.argmax([metrics[n][f"ndcg@{k}"] for n in names]))]

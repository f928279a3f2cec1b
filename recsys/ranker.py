"""The learned production ranker: gradient-boosted trees over generator scores and features.

Two objectives, on the same labelled candidate rows:

- `lambdarank` (the default): LightGBM's LGBMRanker, one query per group and label window
  (`_as_of_day`, g). It learns only how to order a group's own candidates, so what differs between
  groups (how much they buy) or between weeks (a rush, a lull) is no longer something the trees
  must spend splits on; its margins are mapped to [0, 1] by a logistic fit on the training rows, so
  that the pick rules that add to the score keep their scale.
- `binary`: the pointwise P(ordered in the window | features) of HistGradientBoostingClassifier.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from common.errors import NotFittedError, UsageError
from common.settings import DEFAULT_SEED
from recsys.features import feature_columns

OBJECTIVES = ("lambdarank", "binary")

# features whose scale is the length of the history or the size of the platform in absolute counts:
# a split learnt on them in one season (or on a short history) means something else a few months
# later. Their regime-free counterparts (shares of active groups, shares of the group's own order
# days, recency in the group's own gaps, within-group scaled scores) stay.
REGIME_FEATURES = (
    "product_age",
    "i_first_age",
    "first_order_age",
    "g_days",
    "g_lines",
    "g_items",
    "own_lines",
    "own_members",
    "i_buyers",
    "i_groups_1",
    "i_groups_7",
    "i_groups_28",
    "city_groups_7",
    "i_trend",
)


@dataclass(frozen=True)
class RankerConfig:
    """Candidate pool size, label windows, sampling of training negatives, and the booster's knobs."""

    n_per_model: int = 40
    train_windows: int = 8  # at most this many label windows of `horizon` days before validation
    window_spacing_days: int | None = None  # days between label-window starts (None: the horizon)
    # label windows a year before the forecast week and the newest folds (recsys.label_windows.
    # year_ago_windows): the season they are in, where the history reaches back that far
    year_ago_windows: int = 5
    max_groups_per_window: int = 500  # groups (with a positive) sampled per window, to bound the rows
    window_group_share: float = 0.1  # ... or this share of all groups when larger (large worlds)
    label_groups: int = 4000  # windows are added, newest first, until this many labelled groups
    min_train_windows: int = 2
    neg_per_group: int = 50
    objective: str = "lambdarank"  # or "binary" (pointwise); see the module docstring
    exclude_features: tuple[str, ...] = REGIME_FEATURES
    max_iter: int = 150
    learning_rate: float = 0.06
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    # OpenMP threads for the booster. LightGBM with `deterministic` and row-wise histograms gives the
    # same trees and scores at any count (checked bit for bit); 2 fit 1.8x faster on the 2-core box,
    # where nothing else runs during the fit (BENCHMARKS, "BPR's grid down to one point")
    n_threads: int = 2
    min_gain: float = 0.0  # the ranker must beat the best generator's validation NDCG by this share


class LearnedRanker:
    """Scores in [0, 1] for labelled candidates: a learning-to-rank booster (default) or a pointwise
    classifier, per `RankerConfig.objective`."""

    def __init__(self, config: RankerConfig | None = None, seed: int = DEFAULT_SEED) -> None:
        self.config = config or RankerConfig()
        self.seed = seed
        if self.config.objective not in OBJECTIVES:
            known = ", ".join(OBJECTIVES)
            raise UsageError(f"unknown ranker objective {self.config.objective!r}; known: {known}")

    def fit(self, frame: pl.DataFrame) -> Self:
        """Learn from labelled candidates (a `label` column of 0/1; `_as_of_day` and `g` the query)."""
        c = self.config
        # a column with no finite value (e.g. no exposure log in real data) carries nothing to learn
        excluded = set(c.exclude_features)
        columns = [name for name in feature_columns(frame) if name not in excluded]
        x = _matrix(frame, columns)
        keep = np.isfinite(x).any(axis=0)
        self.features_ = [name for name, k in zip(columns, keep, strict=True) if k]
        x = x[:, keep]
        y = frame["label"].to_numpy().astype(np.int32)
        with threadpool_limits(c.n_threads, "openmp"):
            if c.objective == "binary":
                self.model_ = HistGradientBoostingClassifier(
                    max_iter=c.max_iter,
                    learning_rate=c.learning_rate,
                    max_leaf_nodes=c.max_leaf_nodes,
                    min_samples_leaf=c.min_samples_leaf,
                    l2_regularization=c.l2_regularization,
                    early_stopping=False,
                    random_state=self.seed,
                ).fit(x, y)
            else:
                self.model_, self.scale_ = self._fit_ranker(x, y, query_ids(frame))
        self.objective_ = c.objective
        self.n_train_ = len(y)
        self.n_pos_ = int(y.sum())
        return self

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Scores in [0, 1], one per row of `frame` (higher: more likely ordered)."""
        if not hasattr(self, "model_"):
            raise NotFittedError("LearnedRanker used before fit(); call fit(labelled candidates) first")
        x = _matrix(frame, self.features_)
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        with threadpool_limits(self.config.n_threads, "openmp"):
            # a ranker pickled before objectives existed is the pointwise classifier
            if getattr(self, "objective_", "binary") == "binary":
                return self.model_.predict_proba(x)[:, 1].astype(np.float32)
            margin = self.model_.predict(x, num_threads=self.config.n_threads)
        a, b = self.scale_
        return (1.0 / (1.0 + np.exp(-(a * margin + b)))).astype(np.float32)

    def _fit_ranker(
        self, x: np.ndarray, y: np.ndarray, query: np.ndarray
    ) -> tuple[object, tuple[float, float]]:
        """LGBMRanker (lambdarank, NDCG) on query blocks, then a 1-d logistic fit of its margins."""
        import lightgbm as lgb

        c = self.config
        order = np.argsort(query, kind="stable")  # LightGBM wants each query's rows together
        _, sizes = np.unique(query[order], return_counts=True)  # np.unique sorts: same order
        model = lgb.LGBMRanker(
            objective="lambdarank",
            n_estimators=c.max_iter,
            learning_rate=c.learning_rate,
            num_leaves=c.max_leaf_nodes,
            min_child_samples=c.min_samples_leaf,
            reg_lambda=c.l2_regularization,
            n_jobs=c.n_threads,
            deterministic=True,
            force_row_wise=True,
            random_state=self.seed,
            verbose=-1,
        ).fit(x[order], y[order], group=sizes)
        margin = model.predict(x, num_threads=c.n_threads)
        return model, _logistic(margin, y)


def query_ids(frame: pl.DataFrame) -> np.ndarray:
    """One integer per row naming its query: the group at the window's as-of day (`_as_of_day`, g), or the
    group alone when the rows carry no as-of day (one window)."""
    if "_as_of_day" in frame.columns:
        keys = frame.select(pl.struct(pl.col("_as_of_day").fill_null(0), pl.col("g")).rank("dense"))
    else:
        keys = frame.select(pl.col("g").rank("dense"))
    return keys.to_series().to_numpy().astype(np.int64)


def _logistic(margin: np.ndarray, y: np.ndarray, steps: int = 25) -> tuple[float, float]:
    """(a, b) of P(y = 1) = sigmoid(a * margin + b) by Newton's method (a slightly ridged 2-d fit);
    (1, 0) when the labels are all one class."""
    if y.min() == y.max():
        return 1.0, 0.0
    m = margin.astype(np.float64)
    w = np.zeros(2)
    design = np.column_stack([m, np.ones_like(m)])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(design @ w)))
        grad = design.T @ (p - y) + 1e-6 * w
        hess = (design * (p * (1 - p))[:, None]).T @ design + 1e-6 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    if not np.isfinite(w).all() or w[0] <= 0:  # never reverse (or flatten) the learnt order
        return 1.0, 0.0
    return float(w[0]), float(w[1])


def sample_training_rows(frame: pl.DataFrame, neg_per_group: int, seed: int) -> pl.DataFrame:
    """Every positive, and up to `neg_per_group` random negatives per group (groups with a positive)."""
    pos_groups = frame.filter(pl.col("label") == 1).select("g").unique()
    f = frame.join(pos_groups, on="g")
    rng = np.random.default_rng(seed)
    f = f.with_columns(_u=pl.Series(rng.random(f.height)))
    neg = f.filter(pl.col("label") == 0).with_columns(_r=pl.col("_u").rank("ordinal").over("g"))
    neg = neg.filter(pl.col("_r") <= neg_per_group).drop("_r")
    return pl.concat([f.filter(pl.col("label") == 1), neg]).drop("_u").sort("g", "i")


def _matrix(frame: pl.DataFrame, columns: list[str]) -> np.ndarray:
    """Float32 feature matrix; nulls and infinities become NaN (the booster's missing value)."""
    x = frame.select(columns).cast(pl.Float32).to_numpy()
    if not x.flags.writeable:  # one column comes back as a read-only view of the series
        x = x.copy()
    x[~np.isfinite(x)] = np.nan
    return x

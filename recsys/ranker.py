"""The learned production ranker: gradient-boosted trees over generator scores and features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from pipelines.errors import NotFittedError
from recsys.features import feature_columns


@dataclass(frozen=True)
class RankerConfig:
    """Candidate pool size, sampling of training negatives, and the booster's knobs."""

    n_per_model: int = 40
    train_windows: int = 8  # at most this many label windows of `horizon` days before validation
    max_groups_per_window: int = 500  # groups (with a positive) sampled per window, to bound the rows
    window_group_share: float = 0.1  # ... or this share of all groups when larger (large worlds)
    label_groups: int = 4000  # windows are added, newest first, until this many labelled groups
    min_train_windows: int = 2
    neg_per_group: int = 50
    max_iter: int = 150
    learning_rate: float = 0.06
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    n_threads: int = 1  # OpenMP threads for the booster (more spin-waits badly on a shared machine)
    min_gain: float = 0.0  # the ranker must beat the best generator's validation NDCG by this share


class LearnedRanker:
    """P(ordered in the next window | candidate features), from HistGradientBoostingClassifier."""

    def __init__(self, config: RankerConfig | None = None, seed: int = 7) -> None:
        self.config = config or RankerConfig()
        self.seed = seed

    def fit(self, frame: pl.DataFrame) -> Self:
        """Learn from labelled candidates (a `label` column of 0/1)."""
        c = self.config
        # a column with no finite value (e.g. no exposure log in real data) carries nothing to learn
        columns = feature_columns(frame)
        x = _matrix(frame, columns)
        keep = np.isfinite(x).any(axis=0)
        self.features_ = [name for name, k in zip(columns, keep, strict=True) if k]
        x = x[:, keep]
        y = frame["label"].to_numpy()
        with threadpool_limits(c.n_threads, "openmp"):
            self.model_ = HistGradientBoostingClassifier(
                max_iter=c.max_iter,
                learning_rate=c.learning_rate,
                max_leaf_nodes=c.max_leaf_nodes,
                min_samples_leaf=c.min_samples_leaf,
                l2_regularization=c.l2_regularization,
                early_stopping=False,
                random_state=self.seed,
            ).fit(x, y)
        self.n_train_ = len(y)
        self.n_pos_ = int(y.sum())
        return self

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        """Scores in [0, 1], one per row of `frame`."""
        if not hasattr(self, "model_"):
            raise NotFittedError("LearnedRanker used before fit(); call fit(labelled candidates) first")
        x = _matrix(frame, self.features_)
        with threadpool_limits(self.config.n_threads, "openmp"):
            return self.model_.predict_proba(x)[:, 1].astype(np.float32)


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
    x[~np.isfinite(x)] = np.nan
    return x

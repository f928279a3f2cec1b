"""The one small interface every generator shares, and the name -> class registry.

`fit(signal) -> self`, `score(candidates)`, `recommend(groups, n)`. Learned state ends in `_`.
An unknown group gets the model's cold-start row (global recent popularity unless a model
knows better); an unknown product gets a null score.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Self

import numpy as np
import polars as pl

from pipelines.errors import NotFittedError, UsageError
from recsys.signal import Signal

CHUNK = 1024  # groups scored per dense block

MODELS: dict[str, type[Recommender]] = {}


def register(cls: type[Recommender]) -> type[Recommender]:
    """Class decorator: make a model available by its `name`."""
    MODELS[cls.name] = cls
    return cls


def make_model(name: str, **params: object) -> Recommender:
    """Build a registered model by name; unknown names fail with the list of known ones."""
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return MODELS[name](**params)


class Recommender(ABC):
    """A candidate generator / scorer over the group x item signal."""

    name: ClassVar[str] = "base"

    def __init__(self, seed: int = 7) -> None:
        self.seed = seed

    # -- the interface -------------------------------------------------------------------------
    def fit(self, signal: Signal) -> Self:
        """Learn from `signal`; returns self."""
        self.signal_ = signal
        pop = signal.matrix(7.0, "days", 28)
        self.popularity_ = np.asarray(pop.sum(axis=0)).ravel().astype(np.float32)
        self._fit(signal)
        return self

    def get_params(self) -> dict:
        """The constructor's parameters (seed included)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def score_rows(self, g_rows: np.ndarray) -> np.ndarray:
        """Dense scores (len(g_rows) x n_items, float32); a row of -1 is an unknown group."""
        self._check_fitted()
        g_rows = np.asarray(g_rows, dtype=np.int64)
        out = np.empty((len(g_rows), len(self.signal_.items)), dtype=np.float32)
        known = g_rows >= 0
        if known.any():
            out[known] = self._score_known(g_rows[known])
        if (~known).any():
            out[~known] = self._cold_scores()
        return out

    def score(self, candidates: pl.DataFrame) -> pl.DataFrame:
        """`candidates` (group_id, product_id) with a `score` column; null for unknown products."""
        self._check_fitted()
        if candidates.height == 0:
            return candidates.with_columns(score=pl.lit(None, dtype=pl.Float32))
        g = self.signal_.groups.encode(candidates["group_id"])
        i = self.signal_.items.encode(candidates["product_id"])
        return candidates.with_columns(score=pl.Series(self.score_pairs(g, i)).fill_nan(None))

    def score_pairs(self, g_rows: np.ndarray, i_rows: np.ndarray) -> np.ndarray:
        """Scores of (group row, item row) pairs; NaN where the item row is -1 (unknown)."""
        self._check_fitted()
        scores = np.full(len(g_rows), np.nan, dtype=np.float32)
        ug, inv = np.unique(np.asarray(g_rows, dtype=np.int64), return_inverse=True)
        i_rows = np.asarray(i_rows, dtype=np.int64)
        for start in range(0, len(ug), CHUNK):
            block = self.score_rows(ug[start : start + CHUNK])
            sel = (inv >= start) & (inv < start + CHUNK) & (i_rows >= 0)
            scores[sel] = block[inv[sel] - start, i_rows[sel]]
        return scores

    def recommend(
        self, groups: pl.Series | list[str], n: int, allowed: np.ndarray | None = None
    ) -> pl.DataFrame:
        """Top-n products per group (group_id, rank, product_id, score); ties broken by popularity.

        `allowed` is an item mask (n_items,) or a group x item mask (len(groups), n_items).
        """
        self._check_fitted()
        groups = pl.Series("group_id", groups, dtype=pl.String)
        g = self.signal_.groups.encode(groups)
        parts = []
        for start in range(0, len(g), CHUNK):
            rows = g[start : start + CHUNK]
            block = self.score_rows(rows)
            if allowed is not None:
                mask = allowed if allowed.ndim == 1 else allowed[start : start + CHUNK]
                block = np.where(mask, block, -np.inf)
            parts.append(_top_n(block, self.popularity_, n, start))
        cols = [np.concatenate(c) for c in zip(*parts, strict=True)] if parts else [np.empty(0)] * 4
        gi, ii, rank, sc = cols
        return pl.DataFrame(
            {
                "group_id": groups.gather(gi.astype(np.int64)),
                "rank": pl.Series(rank.astype(np.int64), dtype=pl.Int64),
                "product_id": self.signal_.items.decode(ii.astype(np.int64)),
                "score": pl.Series(sc.astype(np.float32), dtype=pl.Float32),
            }
        )

    # -- for subclasses ------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, signal: Signal) -> None: ...

    @abstractmethod
    def _score_known(self, g_rows: np.ndarray) -> np.ndarray: ...

    def _cold_scores(self) -> np.ndarray:
        """Scores for a group the model has never seen: recent global popularity."""
        return self.popularity_

    def _check_fitted(self) -> None:
        if not hasattr(self, "signal_"):
            raise NotFittedError(f"model {self.name!r} used before fit(); call fit(signal) first")


def _top_n(block: np.ndarray, pop: np.ndarray, n: int, offset: int) -> tuple[np.ndarray, ...]:
    """Per row, the n best finite scores; ties go to the more popular item, then the lower row.

    Columns are put in popularity order; the order is then (score desc, column asc). The n-th best
    score per row is found by a partition (linear in the catalogue, not n log n), everything above it
    is in, and ties at it are taken leftmost first; only those n per row are sorted.
    """
    n_items = block.shape[1]
    n = min(n, n_items)
    if n == 0 or block.shape[0] == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty, np.empty(0, dtype=np.float32)
    perm = np.lexsort((np.arange(len(pop)), -pop))
    key = np.where(np.isfinite(block), block, -np.inf)[:, perm]
    kth = np.partition(key, n_items - n, axis=1)[:, n_items - n][:, None]
    above = key > kth
    tied = key == kth
    need = n - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= need))
    rows, cols = np.nonzero(chosen)  # exactly n per row, in column order within a row
    scores = key[rows, cols]
    order = np.lexsort((cols, -scores, rows))
    rows, cols, scores = rows[order], cols[order], scores[order]
    keep = np.isfinite(scores)
    ranks = np.tile(np.arange(1, n + 1), block.shape[0])
    return (rows[keep] + offset, perm[cols[keep]], ranks[keep], scores[keep].astype(np.float32))

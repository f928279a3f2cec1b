"""The one small interface every generator shares, and the name -> class registry.

`fit(signal) -> self`, `score(candidates)`, `recommend(groups, n)`. Learned state ends in `_`.
An unknown group gets the model's cold-start row (global recent popularity unless a model
knows better); an unknown product gets a null score.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from common.errors import NotFittedError, UsageError
from common.settings import DEFAULT_SEED
from recsys.models.topn import dense_top_n, popularity_order, profile_top_n, sparse_top_n
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

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.seed = seed

    # -- the interface -------------------------------------------------------------------------
    def fit(self, signal: Signal) -> Self:
        """Learn from `signal`; returns self."""
        self.signal_ = signal
        pop = signal.matrix(7.0, "days", 28)
        self.popularity_ = np.asarray(pop.sum(axis=0)).ravel().astype(np.float32)
        self._fit(signal)
        return self

    def informative(self) -> bool:
        """Whether the fitted model knows anything of its own (year_ago: not before a year of
        history). One that does not adds no candidates, and its scores reach the ranker as missing:
        its zero-score fill is recent popularity in an arbitrary order among ties, not evidence."""
        return True

    def get_params(self) -> dict:
        """The constructor's parameters (seed included)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_")}

    def fitted_values(self) -> dict[str, bool | int | float]:
        """The scalars the fit derived from the parameters and the data, by attribute name (ALS's L2
        weight relative to the groups' confidence mass, BPR's epochs under its sample budget, ...):
        what the training report shows beside the parameters."""
        self._check_fitted()
        out: dict[str, bool | int | float] = {}
        for k, v in vars(self).items():
            if k.startswith("_") or not k.endswith("_"):
                continue
            if not isinstance(v, bool | int | float | np.bool_ | np.integer | np.floating):
                continue  # arrays, matrices, the signal
            v = v.item() if isinstance(v, np.generic) else v
            if isinstance(v, float) and not math.isfinite(v):
                continue  # JSON has no NaN
            out[k] = round(v, 6) if isinstance(v, float) else v
        return out

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
        """Scores of (group row, item row) pairs; NaN where the item row is -1 (unknown). Reads only
        the pairs asked for where the model can (sparse or shared scores), never a dense block then."""
        self._check_fitted()
        g_rows, i_rows = np.asarray(g_rows, dtype=np.int64), np.asarray(i_rows, dtype=np.int64)
        scores = np.full(len(g_rows), np.nan, dtype=np.float32)
        item_known = i_rows >= 0
        cold = item_known & (g_rows < 0)
        if cold.any():
            scores[cold] = self._cold_scores()[i_rows[cold]]
        warm = item_known & (g_rows >= 0)
        if warm.any():
            scores[warm] = self._known_pairs(g_rows[warm], i_rows[warm])
        return scores

    def _known_pairs(self, g_rows: np.ndarray, i_rows: np.ndarray) -> np.ndarray:
        """Scores of pairs of known groups and items."""
        profiles = self._profiles()
        if profiles is not None:
            table, of_group = profiles
            return table[of_group[g_rows], i_rows]
        ug, inv = np.unique(g_rows, return_inverse=True)
        out = np.empty(len(g_rows), dtype=np.float32)
        for start in range(0, len(ug), CHUNK):
            sel = (inv >= start) & (inv < start + CHUNK)
            rows = ug[start : start + CHUNK]
            sparse = self._score_sparse(rows)
            if sparse is not None:
                out[sel] = np.asarray(sparse.tocsr()[inv[sel] - start, i_rows[sel]]).ravel()
            else:
                out[sel] = self._score_known(rows)[inv[sel] - start, i_rows[sel]]
        return out

    def recommend(
        self, groups: pl.Series | list[str], n: int, allowed: np.ndarray | None = None
    ) -> pl.DataFrame:
        """Top-n products per group (group_id, rank, product_id, score); ties broken by popularity.

        `allowed` is an item mask (n_items,) or a group x item mask (len(groups), n_items).
        """
        self._check_fitted()
        groups = pl.Series("group_id", groups, dtype=pl.String)
        g = self.signal_.groups.encode(groups)
        order = popularity_order(self.popularity_)
        parts = []
        for start in range(0, len(g), CHUNK):
            mask = allowed if allowed is None or allowed.ndim == 1 else allowed[start : start + CHUNK]
            parts.append(self._top_n_chunk(g[start : start + CHUNK], n, mask, start, order))
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

    def _top_n_chunk(self, rows: np.ndarray, n: int, mask: np.ndarray | None, offset: int,
                     order: np.ndarray) -> tuple[np.ndarray, ...]:
        """Top-n of a chunk of group rows (-1: unknown) as (row + offset, item, rank, score), from
        the model's shared or sparse scores when it has them and the mask is one for every group."""
        pop = self.popularity_
        if mask is None or mask.ndim == 1:
            profiles = self._profiles()
            if profiles is not None or (rows < 0).all():
                table, of_group = profiles if profiles is not None else (np.zeros((0, len(pop))), None)
                # the cold row is one more profile: the last
                table = np.vstack([table, self._cold_scores()[None, :]])
                of_row = np.where(rows >= 0, of_group[np.maximum(rows, 0)] if of_group is not None else 0,
                                  table.shape[0] - 1)
                return profile_top_n(table, of_row, pop, n, offset, mask, order)
            known = np.flatnonzero(rows >= 0)
            sparse = self._score_sparse(rows[known]) if known.size else None
            if sparse is not None:
                sparse = sparse.tocsr()
                if sparse.nnz == 0 or sparse.data.min() >= 0:
                    warm = sparse_top_n(sparse, pop, n, 0, mask, order)
                    cold = np.flatnonzero(rows < 0)
                    parts = [(known[warm[0]], *warm[1:])]
                    if cold.size:
                        c = profile_top_n(self._cold_scores()[None, :], np.zeros(cold.size, dtype=np.int64),
                                          pop, n, 0, mask, order)
                        parts.append((cold[c[0]], *c[1:]))
                    r, items, ranks, scores = (np.concatenate(x) for x in zip(*parts, strict=True))
                    by_row = np.lexsort((ranks, r))
                    return r[by_row] + offset, items[by_row], ranks[by_row], scores[by_row]
        block = self.score_rows(rows)
        if mask is not None:
            block = np.where(mask, block, -np.inf)
        return dense_top_n(block, pop, n, offset, order)

    # -- for subclasses ------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, signal: Signal) -> None: ...

    @abstractmethod
    def _score_known(self, g_rows: np.ndarray) -> np.ndarray: ...

    def _cold_scores(self) -> np.ndarray:
        """Scores for a group the model has never seen: recent global popularity."""
        return self.popularity_

    def _score_sparse(self, g_rows: np.ndarray) -> sp.spmatrix | None:
        """Scores of known groups as a sparse matrix whose unstored entries are 0 (None: the model
        scores densely). A model with one provides it so that top-n follows its stored scores."""
        return None

    def _profiles(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(score vectors, vector of each known group) when groups share a few score vectors (the
        platform's or their city's popularity); None otherwise."""
        return None

    def _check_fitted(self) -> None:
        if not hasattr(self, "signal_"):
            raise NotFittedError(f"model {self.name!r} used before fit(); call fit(signal) first")



def _top_n(block: np.ndarray, pop: np.ndarray, n: int, offset: int) -> tuple[np.ndarray, ...]:
    """The dense top-n (kept for callers and tests that hand a block)."""
    return dense_top_n(block, pop, n, offset)

"""TIFU-KNN (Hu et al., SIGIR 2020): a group's time-decayed basket history, blended with the mean
history of the groups most like it.

A group's basket is a day of its paid orders. Its vector is the decayed mean of its day-baskets,
own[g, i] = sum_b w_b x_bi / sum_b w_b with w_b = 0.5 ** (age_b / half_life) and x_bi = 1 when item
i is in basket b: the decayed share of its order days that bought i (the paper's within- and
across-group decays collapse into one decay per day of age). Neighbours are the `k_neighbors`
groups with the highest cosine similarity of those vectors (positive similarity only, never
itself); score = alpha * own + (1 - alpha) * mean of the neighbours' vectors.

Cost follows the data: the vectors are sparse; similarities are computed one chunk of groups at a
time (sparse products, at most SIM_BUDGET dense cells per chunk) and only the top-k are kept, so
no groups x groups matrix is ever formed; scores are dense only per chunk of groups scored.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from common.settings import DEFAULT_SEED
from recsys.models.base import Recommender, register
from recsys.signal import Signal

SIM_BUDGET = 1 << 22  # dense similarity cells per chunk (16 MiB of float32)


@register
class TifuKNN(Recommender):
    """Score = alpha x the group's decayed basket mean + (1 - alpha) x its neighbours' mean."""

    name = "tifu_knn"

    def __init__(
        self, half_life: float | None = 21.0, k_neighbors: int = 50, alpha: float = 0.7,
        seed: int = DEFAULT_SEED,
    ) -> None:
        super().__init__(seed)
        self.half_life = half_life
        self.k_neighbors = k_neighbors
        self.alpha = alpha

    def _fit(self, signal: Signal) -> None:
        self.own_ = decayed_basket_mean(signal, self.half_life)
        n = self.own_.shape[0]
        if self.alpha < 1.0 and self.k_neighbors > 0:
            self.neighbours_ = top_k_neighbours(self.own_, self.k_neighbors)
        else:
            self.neighbours_ = sp.csr_matrix((n, n), dtype=np.float32)

    def _score_known(self, g_rows: np.ndarray) -> np.ndarray:
        return self._score_sparse(g_rows).toarray().astype(np.float32)

    def _score_sparse(self, g_rows: np.ndarray) -> sp.csr_matrix:
        own = self.own_[g_rows]
        if self.alpha >= 1.0:
            return own.tocsr()
        peers = self.neighbours_[g_rows] @ self.own_
        return (self.alpha * own + (1.0 - self.alpha) * peers).tocsr().astype(np.float32)


def decayed_basket_mean(signal: Signal, half_life: float | None) -> sp.csr_matrix:
    """Group x item: sum over the group's order days of w x [item bought that day] / sum of w."""
    d = signal.daily.lazy()
    if half_life:
        m = signal.matrix(half_life, "days").tocsr()  # sum_b w_b x_bi, cached on the signal
        w = 0.5 ** (pl.col("age").cast(pl.Float64) / half_life)
    else:  # undecayed: count the days here (a literal summed per group would count each pair once)
        w = pl.col("age").is_not_null().cast(pl.Float64)
        per_pair = d.group_by("g", "i").agg(w=w.sum()).collect()
        pair = (per_pair["g"].to_numpy(), per_pair["i"].to_numpy())
        m = sp.csr_matrix((per_pair["w"].to_numpy(), pair), shape=signal.shape)
    days = d.select("g", "age").unique().group_by("g").agg(w=w.sum()).collect()
    total = np.zeros(m.shape[0], dtype=np.float64)
    total[days["g"].to_numpy()] = days["w"].to_numpy()
    inv = np.divide(1.0, total, out=np.zeros_like(total), where=total > 0)
    return sp.csr_matrix(sp.diags(inv) @ m, dtype=np.float32)


def top_k_neighbours(x: sp.csr_matrix, k: int, budget: int = SIM_BUDGET) -> sp.csr_matrix:
    """Rows x rows: 1 / m for each row's m <= k most cosine-similar other rows (similarity > 0).

    Only rows with any entry take part. Chunked: at most `budget` dense similarities at a time,
    and per row only a partial sort (argpartition), which is deterministic for the same input.
    """
    n = x.shape[0]
    active = np.flatnonzero(x.getnnz(axis=1) > 0)
    if len(active) < 2:
        return sp.csr_matrix((n, n), dtype=np.float32)
    xa = x[active].astype(np.float32)
    norms = np.sqrt(np.asarray(xa.multiply(xa).sum(axis=1)).ravel())
    xa = sp.csr_matrix(sp.diags((1.0 / norms).astype(np.float32)) @ xa)
    xt = xa.T.tocsr()
    kk = min(k, len(active) - 1)
    step = max(1, budget // len(active))
    rows, cols, vals = [], [], []
    for start in range(0, len(active), step):
        sim = (xa[start : start + step] @ xt).toarray()
        local = np.arange(sim.shape[0])
        sim[local, start + local] = 0.0  # a group is not its own neighbour
        order = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]  # kk < len(active): a true partition
        top = np.take_along_axis(sim, order, axis=1)
        keep = top > 0
        count = np.maximum(keep.sum(axis=1, keepdims=True), 1)
        r = np.broadcast_to(local[:, None] + start, order.shape)
        rows.append(active[r[keep]])
        cols.append(active[order[keep]])
        vals.append(np.broadcast_to(1.0 / count, order.shape)[keep].astype(np.float32))
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n), dtype=np.float32
    )

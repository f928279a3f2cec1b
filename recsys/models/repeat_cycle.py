"""Repeat cycles: how likely a group is to re-buy an item it bought before within the horizon,
given how long ago it last bought it and how long it usually waits between purchases of it.

A renewal model per (group, item) the group bought before (an SLRC-like repeat-consumption model
kept to closed form). With purchase days (distinct days with a paid order of the item) and
whole-day gaps between consecutive ones:

- the typical gap G: log G = (sum of the pair's log gaps + s * mu_i) / (number of gaps + s), where
  mu_i is the mean log gap of the item over every group's gaps (the item's cycle; the platform's
  mean log gap where nobody re-bought the item) and s = `shrinkage`: a pair with few repeats
  leans on the item's cycle, a pair with many on its own;
- the gap T ~ LogNormal(log G, sigma), sigma = `spread`, or (None) the pooled within-pair
  standard deviation of log gaps, clipped to [0.3, 1.5];
- whether it re-buys at all: rho = (n - 1 + s * rho_i) / (n + s) with n the pair's purchase days
  and rho_i the item's share of purchase days followed by another one by the same group;
- d = days since the last purchase (>= 1); the horizon covers elapsed days d .. d + h - 1 and no
  purchase happened before d, so (a defective renewal, with a half-day continuity correction)

      score = rho * (F(d + h - 0.5) - F(d - 0.5)) / (1 - rho * F(d - 0.5)).

It peaks when d is about G, is small right after a purchase of a slow item, and fades for a pair
the group has long stopped buying (past its cycle, the chance that it lapsed dominates). Items the
group never bought score 0: a repeat-only generator (the ranker and the blends explore).

Everything is one set-based pass over the signal's daily rows to per-pair aggregates, then
vectorised numpy over the pairs; the scores are a sparse group x item matrix (cost follows data).
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp
from scipy.special import ndtr

from common.settings import DEFAULT_SEED
from recsys.models.base import Recommender, register
from recsys.signal import Signal

SPREAD_BOUNDS = (0.3, 1.5)
DEFAULT_LOG_GAP = float(np.log(7.0))  # the platform's cycle when nothing was ever re-bought
DEFAULT_SPREAD = 0.75  # sigma when no pair re-bought twice (nothing to estimate it from)


@register
class RepeatCycle(Recommender):
    """Score = P(the group re-buys the item within the horizon | its cycle and the time since)."""

    name = "repeat_cycle"

    def __init__(
        self, shrinkage: float = 2.0, horizon_days: int = 7, spread: float | None = None,
        seed: int = DEFAULT_SEED,
    ) -> None:
        super().__init__(seed)
        self.shrinkage = shrinkage
        self.horizon_days = horizon_days
        self.spread = spread

    def _fit(self, signal: Signal) -> None:
        pairs, items = cycle_table(signal)
        s = float(self.shrinkage)
        n_items = len(signal.items)
        total_gaps = items["gaps"].sum()
        mu_global = float(items["mu_sum"].sum() / total_gaps) if total_gaps else DEFAULT_LOG_GAP
        mu_i = np.full(n_items, mu_global)
        rho_i = np.zeros(n_items)
        it = items["i"].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            mu_i[it] = np.where(items["gaps"] > 0, items["mu_sum"] / items["gaps"], mu_global)
            rho_i[it] = items["gaps"].to_numpy() / items["days"].to_numpy()
        g, i = pairs["g"].to_numpy(), pairs["i"].to_numpy()
        n = pairs["days"].to_numpy().astype(np.float64)
        gaps = n - 1.0
        lsum = pairs["lsum"].to_numpy()
        log_gap = np.where(gaps + s > 0, (lsum + s * mu_i[i]) / np.maximum(gaps + s, 1e-12), mu_i[i])
        rho = (gaps + s * rho_i[i]) / (n + s)
        self.sigma_ = float(self.spread) if self.spread else _pooled_spread(pairs)
        d = pairs["last_age"].to_numpy().astype(np.float64)
        h = float(self.horizon_days)

        def cdf(t: np.ndarray) -> np.ndarray:
            return ndtr((np.log(t) - log_gap) / self.sigma_)

        before = cdf(d - 0.5)
        score = rho * (cdf(d + h - 0.5) - before) / (1.0 - rho * before)
        self.matrix_ = sp.csr_matrix(
            (np.clip(score, 0.0, 1.0).astype(np.float32), (g, i)), shape=signal.shape, dtype=np.float32
        )
        self.cycle_days_ = sp.csr_matrix(
            (np.exp(log_gap).astype(np.float32), (g, i)), shape=signal.shape, dtype=np.float32
        )

    def _score_known(self, g_rows: np.ndarray) -> np.ndarray:
        return self.matrix_[g_rows].toarray()

    def _score_sparse(self, g_rows: np.ndarray) -> sp.csr_matrix:
        return self.matrix_[g_rows]


def cycle_table(signal: Signal) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per (g, i) bought: days (purchase days), last_age, lsum / lsq (sum of log gaps and of their
    squares); per i: days, gaps (repeat days), mu_sum (sum of log gaps over every group)."""
    n_items = max(len(signal.items), 1)
    d = signal.daily.lazy().select(key=pl.col("g") * n_items + pl.col("i"), age="age").sort("key", "age")
    lg = (pl.col("age") - pl.col("age").shift(1)).cast(pl.Float64).log()
    same = pl.col("key") == pl.col("key").shift(1)
    d = d.with_columns(lg=pl.when(same).then(lg))
    pairs = (
        d.group_by("key")
        .agg(
            days=pl.len().cast(pl.Int64),
            last_age=pl.col("age").min(),
            lsum=pl.col("lg").sum(),
            lsq=(pl.col("lg") ** 2).sum(),
        )
        .with_columns(g=pl.col("key") // n_items, i=pl.col("key") % n_items)
        .select("g", "i", "days", "last_age", "lsum", "lsq")
        .sort("g", "i")
        .collect()
    )
    items = pairs.group_by("i").agg(
        days=pl.col("days").sum(), gaps=(pl.col("days") - 1).sum(), mu_sum=pl.col("lsum").sum()
    )
    return pairs, items


def _pooled_spread(pairs: pl.DataFrame) -> float:
    """sqrt(sum over pairs with >= 2 gaps of the squared deviations of their log gaps from their
    own mean / their degrees of freedom), clipped to SPREAD_BOUNDS."""
    p = pairs.filter(pl.col("days") >= 3)
    if p.height == 0:
        return DEFAULT_SPREAD
    gaps = (p["days"] - 1).cast(pl.Float64)
    ss = (p["lsq"] - p["lsum"] ** 2 / gaps).sum()
    dof = (gaps - 1).sum()
    return float(np.clip(np.sqrt(max(ss, 0.0) / dof), *SPREAD_BOUNDS))

"""The same days a year earlier: what the group, and the platform, bought then.

Some items sell only around an event — 汤圆 the week of the Lantern Festival, 月饼 before 中秋节 —
and some swing with it. The week before such an event nothing recent says so: the item has not sold
for eleven months, so no generator that reads the recent weeks (repeats, neighbours, popularity,
factors) puts it among a group's candidates, and the ranker never sees it. Last year's same days do.

The days are `horizon_days` from the as-of day, a year back (common.festivals.year_ago_shift: near an
event, the gap between its occurrences, so that the days stand to last year's event as these stand to
this year's; elsewhere 52 weeks), widened by `pad_days` each side. Score of (g, i) = `own_weight` x
the group's order days of i in those days + the share of the groups ordering then that ordered i
(kept for the `top_items` items with the highest share). Where the history does not reach back that
far every score is 0 and the model says it knows nothing (`informative`): it adds no candidates and
its scores reach the ranker as missing. The ranker learns what the score is worth from label windows
a year back too (recsys.label_windows.year_ago_windows), the weeks in which an item last came back
with its season — on a history of two years or more, where those weeks have a year back of their own.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import scipy.sparse as sp

from common.festivals import year_ago_shift
from common.settings import DEFAULT_SEED
from recsys.models.base import Recommender, register
from recsys.signal import Signal


@register
class YearAgo(Recommender):
    """Score = own_weight x the group's order days of the item a year ago + the item's share then."""

    name = "year_ago"

    def __init__(
        self, own_weight: float = 1.0, pad_days: int = 0, horizon_days: int = 7, top_items: int = 200,
        seed: int = DEFAULT_SEED,
    ) -> None:
        super().__init__(seed)
        self.own_weight = own_weight
        self.pad_days = pad_days
        self.horizon_days = horizon_days
        self.top_items = top_items

    def _fit(self, signal: Signal) -> None:
        self.shift_ = year_ago_shift(signal.as_of_day, self.horizon_days)
        # ages count whole days before the as-of day: day as_of + k a year earlier is age shift - k
        first, last = self.shift_ - self.horizon_days + 1 - self.pad_days, self.shift_ + self.pad_days
        then = signal.daily.filter(pl.col("age").is_between(first, last))
        own = then.group_by("g", "i").agg(days=pl.col("age").n_unique().cast(pl.Float32))
        self.own_ = sp.csr_matrix(
            (own["days"].to_numpy(), (own["g"].to_numpy(), own["i"].to_numpy())), shape=signal.shape,
            dtype=np.float32)
        share = np.zeros(len(signal.items), dtype=np.float32)
        ordering = then["g"].n_unique()
        if ordering:
            buyers = then.group_by("i").agg(groups=pl.col("g").n_unique())
            share[buyers["i"].to_numpy()] = buyers["groups"].to_numpy() / ordering
        top = np.flatnonzero(share > 0)
        top = top[np.lexsort((top, -share[top]))][: self.top_items]
        self.share_ = np.zeros_like(share)  # the top items' shares; 0 for the rest
        self.share_[top] = share[top]
        self.top_share_ = sp.csr_matrix(self.share_[None, :])
        self.groups_then_ = int(ordering)
        # the history reaches back over the whole window (a partly covered week would read as a week)
        oldest = signal.daily["age"].max() if signal.daily.height else None
        self.covered_ = oldest is not None and oldest >= last

    def informative(self) -> bool:
        self._check_fitted()
        return self.covered_ and self.groups_then_ > 0

    def _score_sparse(self, g_rows: np.ndarray) -> sp.csr_matrix:
        ones = sp.csr_matrix(np.ones((len(g_rows), 1), dtype=np.float32))
        return (self.own_weight * self.own_[g_rows] + ones @ self.top_share_).tocsr().astype(np.float32)

    def _score_known(self, g_rows: np.ndarray) -> np.ndarray:
        return (self.own_weight * self.own_[g_rows].toarray() + self.share_[None, :]).astype(np.float32)

    def _cold_scores(self) -> np.ndarray:
        return self.share_

"""Conformal calibration of P10/P90: widen or narrow each side of an interval so that, on held-out
data the model never saw, about 10% of outcomes fall below P10 and 10% above P90.

Each side gets one multiplier of its raw half-width (center - lo, hi - center), the conformal
quantile of the multipliers that would have been needed on the calibration rows. Outcomes cannot go
below `floor` (zero units), so where P10 sits on the floor the lower side cannot miss; whatever
share of misses the lower side cannot take goes to the upper side, keeping the total near 20%. Optional groups
(e.g. elapsed-window bands) get their own multipliers, falling back to the pooled ones when small.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

EPS = 1e-6


def _needed(center: np.ndarray, edge: np.ndarray, y: np.ndarray, side: str, floor: float) -> np.ndarray:
    """Multiplier of the half-width at which each outcome would just sit on the interval's edge."""
    width = np.maximum(np.abs(center - edge), floor)
    need = (center - y) / width if side == "lo" else (y - center) / width
    return np.maximum(need, 0.0)


def _conformal(need: np.ndarray, miss: float) -> float:
    """Smallest multiplier leaving at most `miss` of the rows outside (finite-sample corrected)."""
    n = need.size
    if n == 0:
        return 1.0
    level = min(1.0, np.ceil((n + 1) * (1.0 - miss)) / n)
    return float(np.quantile(need, level, method="higher"))


@dataclass
class IntervalCalibrator:
    """Learns side multipliers (lo, hi) per group on calibration rows; applies them to new rows."""

    miss_lo: float = 0.1
    miss_hi: float = 0.1
    min_rows: int = 200
    min_width: float = EPS  # half-widths below this count as this (zero-history series)
    floor: float | None = 0.0  # outcomes never fall below this (None: unbounded)
    scales_: dict = field(default_factory=dict)

    def fit(self, y, center, lo, hi, groups=None) -> IntervalCalibrator:
        y, center, lo, hi = (np.asarray(v, dtype=np.float64) for v in (y, center, lo, hi))
        groups = np.zeros(y.size, dtype=np.int64) if groups is None else np.asarray(groups)
        need_lo = _needed(center, lo, y, "lo", self.min_width)
        need_hi = _needed(center, hi, y, "hi", self.min_width)
        self.scales_ = {None: self._side_scales(y, center, lo, need_lo, need_hi)}
        for g in np.unique(groups):
            m = groups == g
            if m.sum() >= self.min_rows:
                key = g.item() if hasattr(g, "item") else g
                self.scales_[key] = self._side_scales(y[m], center[m], lo[m], need_lo[m], need_hi[m])
        return self

    def _side_scales(self, y, center, lo, need_lo, need_hi) -> tuple[float, float]:
        a = _conformal(need_lo, self.miss_lo)
        lower = center - a * np.maximum(center - lo, self.min_width)
        if self.floor is not None:
            lower = np.maximum(lower, self.floor)
        missed_lo = float(np.mean(y < lower)) if y.size else 0.0
        miss_hi = self.miss_hi + max(self.miss_lo - missed_lo, 0.0)
        return a, _conformal(need_hi, miss_hi)

    def apply(self, center, lo, hi, groups=None) -> tuple[np.ndarray, np.ndarray]:
        center, lo, hi = (np.asarray(v, dtype=np.float64) for v in (center, lo, hi))
        a = np.full(center.size, self.scales_[None][0])
        b = np.full(center.size, self.scales_[None][1])
        if groups is not None:
            groups = np.asarray(groups)
            for g, (ga, gb) in self.scales_.items():
                if g is None:
                    continue
                m = groups == g
                a[m], b[m] = ga, gb
        w_lo = np.maximum(center - lo, self.min_width)
        w_hi = np.maximum(hi - center, self.min_width)
        return center - a * w_lo, center + b * w_hi


@dataclass
class ConformalDistribution:
    """The whole distribution of an outcome around a model's (lo, center, hi), conformalised on held-out
    rows: every quantile level, not only the two edges of one interval.

    Each held-out outcome becomes a normalised score, (y - center) / (hi - center) above the center and
    (y - center) / (center - lo) below it; the quantile at level tau of a new row is the center moved
    by the tau-quantile of the scores times the half-width on that side, never below `floor`. As a
    bound the level is finite-sample corrected (split conformal: the ceil((n+1) tau)-th score from
    the bottom above the median, the floor((n+1) tau)-th below it), so P(y <= Q_tau) >= tau on
    exchangeable rows; the grid for means and integrals reads plain empirical quantiles.
    Groups (e.g. elapsed-window bands) get their own scores, the pooled ones when they have fewer
    than `min_rows`. A half-width counts as at least the group's `width_quantile` quantile of its
    half-widths (and `min_width`): a row the model is sure of (P90 on its median) would otherwise turn
    an ordinary miss into a huge score, which every wide row then reads as an absurd upper tail.
    """

    min_rows: int = 200
    min_width: float = EPS
    width_quantile: float = 0.0  # 0: no floor from the data
    floor: float | None = 0.0
    scores_: dict = field(default_factory=dict)  # group (None: pooled) -> sorted scores
    widths_: dict = field(default_factory=dict)  # group -> (least upper, least lower half-width)

    def _floors(self, up: np.ndarray, down: np.ndarray) -> tuple[float, float]:
        q = self.width_quantile
        if q <= 0 or up.size == 0:
            return self.min_width, self.min_width
        return tuple(max(float(np.quantile(w, q)), self.min_width) for w in (up, down))

    def _keys(self, n: int, groups) -> np.ndarray:
        """Each row's group as fitted (None: the pooled one)."""
        if groups is None:
            return np.full(n, None, dtype=object)
        known = {k for k in self.scores_ if k is not None}
        return np.array([k if k in known else None for k in np.asarray(groups, dtype=object)], dtype=object)

    def _widths(self, center, lo, hi, keys) -> tuple[np.ndarray, np.ndarray]:
        up, down = hi - center, center - lo
        fu, fd = np.empty(center.size), np.empty(center.size)
        for k in {*keys.tolist()}:
            m = keys == k
            fu[m], fd[m] = self.widths_[k]
        return np.maximum(up, fu), np.maximum(down, fd)

    def fit(self, y, center, lo, hi, groups=None) -> ConformalDistribution:
        y, center, lo, hi = (np.asarray(v, dtype=np.float64) for v in (y, center, lo, hi))
        chosen = [(None, np.ones(y.size, dtype=bool))]
        if groups is not None:
            groups = np.asarray(groups)
            for g in np.unique(groups):
                m = groups == g
                if m.sum() >= self.min_rows:
                    chosen.append((g.item() if hasattr(g, "item") else g, m))
        self.scores_, self.widths_ = {}, {}
        for key, m in chosen:
            self.widths_[key] = self._floors(hi[m] - center[m], center[m] - lo[m])
            keys = np.full(int(m.sum()), key, dtype=object)
            up, down = self._widths(center[m], lo[m], hi[m], keys)
            c, v = center[m], y[m]
            self.scores_[key] = np.sort(np.where(v >= c, (v - c) / up, (v - c) / down))
        return self

    def _scores(self, tau: np.ndarray, keys: np.ndarray, bound: bool) -> np.ndarray:
        """Score quantiles, shape broadcast(tau, (rows,))."""
        shape = np.broadcast_shapes(np.shape(tau), (keys.size,))
        tau = np.broadcast_to(tau, shape)
        out = np.empty(shape)
        for k in {*keys.tolist()}:
            m = keys == k
            s = self.scores_[k]
            n = s.size
            if n == 0:
                out[..., m] = 0.0
                continue
            t = tau[..., m]
            if bound:
                upper = np.clip(np.ceil((n + 1) * t).astype(np.int64), 1, n) - 1
                lower = np.clip(np.floor((n + 1) * t).astype(np.int64), 1, n) - 1
                out[..., m] = s[np.where(t >= 0.5, upper, lower)]
            else:
                out[..., m] = np.interp(t * (n - 1), np.arange(n), s)  # numpy's default quantile
        return out

    def quantile(self, tau, center, lo, hi, groups=None, bound: bool = True) -> np.ndarray:
        """Quantile at level `tau` (scalar, per row, or a (levels, 1) column for a grid) of each row."""
        center, lo, hi = (np.asarray(v, dtype=np.float64) for v in (center, lo, hi))
        keys = self._keys(center.size, groups)
        q = self._scores(np.asarray(tau, dtype=np.float64), keys, bound)
        up, down = self._widths(center, lo, hi, keys)
        out = center + q * np.where(q >= 0, up, down)
        return np.maximum(out, self.floor) if self.floor is not None else out

    def grid(self, center, lo, hi, groups=None, levels: int = 199) -> np.ndarray:
        """(levels, rows) quantiles at the mid-points (k + 0.5) / levels, for means and integrals."""
        taus = ((np.arange(levels) + 0.5) / levels)[:, None]
        return self.quantile(taus, center, lo, hi, groups, bound=False)

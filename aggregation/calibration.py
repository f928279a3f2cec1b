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

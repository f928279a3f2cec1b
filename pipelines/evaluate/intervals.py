"""Bootstrap intervals for evaluation figures, so that a difference between two models can be read
as real or as noise.

Every figure here is a ratio of sums over units (groups for ranking metrics: the mean NDCG is
sum(ndcg) / sum(1); series for forecasts: WAPE is sum |error| / sum actual). A resample draws the
units with replacement; the 90% interval is the 5th and 95th percentile of the figure over the
resamples. Models are compared *paired*: the same resamples for both, so what the interval of a
difference shows is the spread of the difference, not of each model's level.
"""

from __future__ import annotations

import numpy as np

from common.settings import DEFAULT_SEED

N_BOOT = 500
LEVEL = 0.9
CHUNK = 50  # resamples drawn at a time (memory: CHUNK × units indices)
# Below this many units (groups, series) no interval is given. A resample of n units can only take
# the values of a few distinct mixtures of them: with 3 groups that all hit, every resample reads
# 1.0 and the "interval" is [1.000, 1.000]; and a paired difference whose three units all lean one
# way excludes zero on every resample, so it reads as "real" on evidence that says nothing. The
# percentile bootstrap's 90% tails need a couple of dozen units before they mean what they say.
MIN_UNITS = 20


def too_few(units: int, plural: str = "groups") -> str | None:
    """The text said instead of an interval over `units` units (`plural`: what they are), or None
    when there are enough."""
    return None if units >= MIN_UNITS else f"too few {plural} for an interval ({units})"


def _ratios(num: np.ndarray, den: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """The figure sum(num) / sum(den) over `n_boot` resamples of the units; num may be 2-D
    (figures × units) for several figures on the same resamples."""
    num = np.atleast_2d(np.asarray(num, dtype=np.float64))
    den = np.asarray(den, dtype=np.float64)
    n = den.size
    rng = np.random.default_rng(seed)
    out = np.empty((num.shape[0], n_boot))
    for start in range(0, n_boot, CHUNK):
        stop = min(start + CHUNK, n_boot)
        idx = rng.integers(0, n, size=(stop - start, n))
        d = den[idx].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, start:stop] = num[:, idx].sum(axis=2) / d
    return out


def _bounds(samples: np.ndarray, level: float = LEVEL) -> list[float | None]:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return [None, None]
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(samples, [tail, 1.0 - tail])
    return [round(float(lo), 6), round(float(hi), 6)]


def ratio_interval(num, den, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> list[float | None] | None:
    """90% bootstrap interval of sum(num) / sum(den) over resampled units; None with fewer than
    MIN_UNITS units (no interval rather than one that claims a precision the units cannot give)."""
    if np.asarray(den).size < MIN_UNITS:
        return None
    return _bounds(_ratios(num, den, n_boot, seed)[0])


def mean_interval(values, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> list[float | None] | None:
    """90% bootstrap interval of the mean of `values` (one value per unit); None below MIN_UNITS."""
    values = np.asarray(values, dtype=np.float64)
    return ratio_interval(values, np.ones(values.size), n_boot, seed)


def paired_difference(num_a, num_b, den, n_boot: int = N_BOOT, seed: int = DEFAULT_SEED) -> dict:
    """Figure(a) - figure(b) on the same units: the point and its 90% paired bootstrap interval.
    `real` says whether the interval excludes zero; with fewer than MIN_UNITS units there is no
    interval (`ci90` and `real` None: not known, rather than a "real" gap read off three units)."""
    num_a, num_b, den = (np.asarray(v, dtype=np.float64) for v in (num_a, num_b, den))
    total = den.sum()
    if den.size == 0 or total == 0:
        return {"difference": None, "ci90": None, "real": None}
    point = (num_a.sum() - num_b.sum()) / total
    if den.size < MIN_UNITS:
        return {"difference": round(float(point), 6), "ci90": None, "real": None}
    both = _ratios(np.stack([num_a, num_b]), den, n_boot, seed)
    ci = _bounds(both[0] - both[1])
    real = ci[0] is not None and (ci[0] > 0 or ci[1] < 0)
    return {"difference": round(float(point), 6), "ci90": ci, "real": bool(real)}

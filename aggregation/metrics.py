"""Forecast accuracy: WAPE, bias, pinball loss averaged over P10/P50/P90, P10-P90 coverage.

All take numpy arrays of actuals and quantile forecasts of equal length. Conventions:
- WAPE = sum |y - p50| / sum y; bias = (sum p50 - sum y) / sum y (negative = under-forecast);
- pinball = mean over the three quantiles of the mean pinball loss (in units of quantity);
- coverage = share of y with p10 <= y <= p90 (bounds included: with whole units and zero days a
  forecast of exactly the outcome is inside).
"""

from __future__ import annotations

import numpy as np

QUANTILES = (0.1, 0.5, 0.9)


def _arr(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def wape(y, p50) -> float:
    y, p50 = _arr(y), _arr(p50)
    total = y.sum()
    return float(np.abs(y - p50).sum() / total) if total > 0 else float("nan")


def bias(y, p50) -> float:
    y, p50 = _arr(y), _arr(p50)
    total = y.sum()
    return float((p50.sum() - total) / total) if total > 0 else float("nan")


def pinball_loss(y, q, tau: float) -> float:
    """Mean pinball (quantile) loss of forecast `q` at level `tau`."""
    y, q = _arr(y), _arr(q)
    diff = y - q
    return float(np.mean(np.maximum(tau * diff, (tau - 1.0) * diff))) if y.size else float("nan")


def pinball(y, p10, p50, p90) -> float:
    """Pinball loss averaged over P10, P50 and P90."""
    return float(np.mean([pinball_loss(y, q, t) for q, t in zip((p10, p50, p90), QUANTILES, strict=True)]))


def coverage(y, p10, p90) -> float:
    y, p10, p90 = _arr(y), _arr(p10), _arr(p90)
    return float(np.mean((y >= p10) & (y <= p90))) if y.size else float("nan")


def score(y, p10, p50, p90) -> dict[str, float]:
    """The four numbers of the evaluation block for one model, rounded; None where undefined."""
    values = {
        "wape": wape(y, p50),
        "bias": bias(y, p50),
        "pinball": pinball(y, p10, p50, p90),
        "coverage_p10_p90": coverage(y, p10, p90),
    }
    return {k: (round(v, 6) if np.isfinite(v) else None) for k, v in values.items()}

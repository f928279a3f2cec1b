"""Forecast accuracy: WAPE, bias, pinball loss averaged over P10/P50/P90, P10-P90 coverage.

All take numpy arrays of actuals and quantile forecasts of equal length. Conventions:
- WAPE = sum |y - p50| / sum y; bias = (sum p50 - sum y) / sum y (negative = under-forecast);
- pinball = mean over the three quantiles of the mean pinball loss (in units of quantity);
- coverage = share of y with p10 <= y <= p90 (bounds included: with whole units and zero days a
  forecast of exactly the outcome is inside), over the cells where something was forecast or
  happened: a cell whose interval and outcome are all zero says nothing about the interval (a
  zero-width interval "covers" it), so it is left out. On sparse data those cells are most of the
  panel and would otherwise lift coverage towards 1 whatever the model.

Supplier-grade figures (`head_scores`): the series a supplier plans on (sold at least a threshold
in the weeks before the origin), scored on their horizon totals.
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


def informative(y, p10, p90) -> np.ndarray:
    """Cells where the interval or the outcome is not all zero (the ones coverage can judge)."""
    y, p10, p90 = _arr(y), _arr(p10), _arr(p90)
    return ~((y == 0) & (p10 == 0) & (p90 == 0))


def coverage(y, p10, p90) -> float:
    """Share of informative cells with p10 <= y <= p90 (NaN when there is none)."""
    y, p10, p90 = _arr(y), _arr(p10), _arr(p90)
    keep = informative(y, p10, p90)
    if not keep.any():
        return float("nan")
    y, p10, p90 = y[keep], p10[keep], p90[keep]
    return float(np.mean((y >= p10) & (y <= p90)))


def head_scores(y: np.ndarray, p10: np.ndarray, p50: np.ndarray, p90: np.ndarray) -> dict[str, float | None]:
    """Horizon-total WAPE and bias, and daily-cell P10-P90 coverage, of series × day matrices.

    WAPE and bias read each series' horizon total (sum of the daily P50s against the sum of the
    outcomes): what a supplier prepares for the week. Coverage reads the daily cells."""
    y, p10, p50, p90 = (np.atleast_2d(_arr(v)) for v in (y, p10, p50, p90))
    totals_y, totals_p = y.sum(axis=1), p50.sum(axis=1)
    values = {
        "total_wape": wape(totals_y, totals_p),
        "bias": bias(totals_y, totals_p),
        "coverage_p10_p90": coverage(y.ravel(), p10.ravel(), p90.ravel()),
    }
    return {k: (round(v, 6) if np.isfinite(v) else None) for k, v in values.items()}


def score(y, p10, p50, p90) -> dict[str, float]:
    """The four numbers of the evaluation block for one model, rounded; None where undefined."""
    values = {
        "wape": wape(y, p50),
        "bias": bias(y, p50),
        "pinball": pinball(y, p10, p50, p90),
        "coverage_p10_p90": coverage(y, p10, p90),
    }
    return {k: (round(v, 6) if np.isfinite(v) else None) for k, v in values.items()}

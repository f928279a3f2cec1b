"""The supplier's decision: how much to prepare, from the forecast's P10/P50/P90.

The forecast distribution is a two-piece normal through P10, P50 and P90 (each side scaled to hit
its quantile), cut at zero and at `max_qty` (a campaign stops selling there). The quantity is the
newsvendor quantile at the critical ratio (price - cost) / price when the cost is known, else a
configured service level, rounded up to whole units, never below what is already ordered and
never above `max_qty`. Expected fill rate and leftover are integrals over that distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

Z90 = float(norm.ppf(0.9))


@dataclass(frozen=True)
class DecisionConfig:
    service_level: float = 0.8  # critical ratio when the product's cost is unknown
    min_ratio: float = 0.05  # critical ratios are clipped to [min_ratio, max_ratio]
    max_ratio: float = 0.98
    grid: int = 199  # quantile levels used to integrate fill rate and leftover


def critical_ratio(price, cost, config: DecisionConfig = DecisionConfig()) -> np.ndarray:
    """(price - cost) / price where both are known and price > 0, else the service level."""
    price = np.asarray(price, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    known = np.isfinite(price) & np.isfinite(cost) & (price > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(known, (price - cost) / np.where(price > 0, price, 1.0), config.service_level)
    return np.clip(ratio, config.min_ratio, config.max_ratio)


def quantile_at(tau, p10, p50, p90) -> np.ndarray:
    """Quantile `tau` (scalar or array broadcasting with the forecasts) of the two-piece normal."""
    tau = np.asarray(tau, dtype=np.float64)
    p10, p50, p90 = (np.asarray(v, dtype=np.float64) for v in (p10, p50, p90))
    z = norm.ppf(tau) / Z90
    upper = p50 + z * (p90 - p50)
    lower = p50 + z * (p50 - p10)
    return np.maximum(np.where(tau >= 0.5, upper, lower), 0.0)


def suggest(
    p10, p50, p90, *, price, cost, max_qty, ordered_qty, config: DecisionConfig = DecisionConfig()
) -> dict[str, np.ndarray]:
    """suggested_qty, critical_ratio, expected_fill_rate and expected_leftover per row."""
    p10, p50, p90 = (np.asarray(v, dtype=np.float64) for v in (p10, p50, p90))
    cap = np.asarray(max_qty, dtype=np.float64)
    cap = np.where(np.isfinite(cap) & (cap >= 0), cap, np.inf)
    ordered = np.nan_to_num(np.asarray(ordered_qty, dtype=np.float64), nan=0.0)
    ratio = critical_ratio(price, cost, config)
    raw = quantile_at(ratio, p10, p50, p90)
    qty = np.ceil(np.round(raw, 6))
    qty = np.minimum(np.maximum(qty, ordered), cap)
    qty = np.maximum(qty, 0.0)
    taus = (np.arange(config.grid) + 0.5) / config.grid
    demand = np.minimum(quantile_at(taus[:, None], p10, p50, p90), cap)  # grid × rows
    demand = np.maximum(demand, ordered)
    sold = np.minimum(demand, qty)
    mean_demand = demand.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fill = np.where(mean_demand > 0, sold.mean(axis=0) / mean_demand, 1.0)
    leftover = np.maximum(qty - demand, 0.0).mean(axis=0)
    return {
        "suggested_qty": qty.astype(np.int64),
        "critical_ratio": ratio,
        "expected_fill_rate": fill,
        "expected_leftover": leftover,
    }

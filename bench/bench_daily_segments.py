"""The published daily forecast's 7-day totals per segment of series: head, young, sparse, all.

For each as-of date, `aggregation.daily.forecast_daily` (what the nightly publishes) forecasts the 7
days from that date's 00:00, and each segment's 7-day totals are scored against the paid quantity of
the week (`aggregation.daily.actuals`): series, units sold, units forecast, total WAPE and bias.
Segments: `head` (sold at least 28 units in the 28 days before, as `circlebuy evaluate` reads them),
`young14` (first sold under 14 days before the as-of), `young14_sparse` (of those, under 0.25 units a
day over the last 28 days: the ensemble's sparsest volume band), `sparse`, `all`. One JSON line per
date. Used to measure the ensemble's reading of young products (BENCHMARKS, "Young products in the
sparsest band").

    PYTHONPATH=$PWD .venv/bin/python -m bench.bench_daily_segments --home /tmp/or2/home \
        --dates 2011-06-01,2011-09-05,2011-11-01,2011-11-28

About a minute and a half per Online Retail date on two cores (no baselines are fitted).
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

import numpy as np

from aggregation.daily import actuals, forecast_daily
from aggregation.ensemble import BAND_EDGES
from bench.bench_daily_heads import print_per_date
from pipelines.evaluate.config import EvaluateConfig
from pipelines.evaluate.forecast import HEAD_THRESHOLD, HEAD_WINDOW, _matrix
from pipelines.warehouse import day_start

YOUNG_DAYS = 14


def _segment(y: np.ndarray, p50: np.ndarray, mask: np.ndarray) -> dict:
    sold, forecast = y[mask].sum(axis=1), p50[mask].sum(axis=1)
    total = float(sold.sum())
    return {"series": int(mask.sum()), "sold": round(total), "forecast": round(float(forecast.sum())),
            "total_wape": round(float(np.abs(sold - forecast).sum() / total), 3) if total else None,
            "bias": round(float((forecast.sum() - total) / total), 3) if total else None}


def measure(frames, day: date) -> dict:
    config = EvaluateConfig(as_of_day=day)
    horizon = config.horizon_days
    tick = time.perf_counter()
    run = forecast_daily(frames, day, replace(config.forecast, horizon_days=horizon, seed=config.seed))
    keys = run.forecasts.select("product_id", "warehouse_id").unique(maintain_order=True)
    rows = keys.join(run.panel.series.select("product_id", "warehouse_id").with_row_index("_r"),
                     on=["product_id", "warehouse_id"], how="left")["_r"].to_numpy().astype(np.int64)
    history = run.panel.y[rows, :run.origin]
    days = history.shape[1]
    y = _matrix(actuals(frames, day_start(day), horizon), keys, day, horizon, "qty")
    p50 = _matrix(run.forecasts, keys, day, horizon, "p50")
    head = history[:, max(days - HEAD_WINDOW, 0):].sum(axis=1) >= HEAD_THRESHOLD
    sold_ever = (history > 0).any(axis=1)
    age = days - np.where(sold_ever, np.argmax(history > 0, axis=1), days)
    sparse = history[:, max(days - 28, 0):].mean(axis=1) < BAND_EDGES[0]
    young = sold_ever & (age < YOUNG_DAYS)  # a series active for a planned campaign alone is not young
    segments = {"head": head, "young14": young, "young14_sparse": young & sparse,
                "young14_not_sparse": young & ~sparse, "sparse": sparse,
                "all": np.ones(rows.size, dtype=bool)}
    return {"as_of": day.isoformat(), "published": run.method,
            **{name: _segment(y, p50, mask) for name, mask in segments.items()},
            "seconds": round(time.perf_counter() - tick, 1)}


def main() -> None:
    print_per_date(__doc__.splitlines()[0], measure)


if __name__ == "__main__":
    main()

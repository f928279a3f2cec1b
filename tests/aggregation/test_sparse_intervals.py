"""Intervals on real-shaped sparse data: many intermittent series, a few steady ones, and a busy
week before the origin (as after a festival). P10 < P90 wherever the point is at least one unit."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from aggregation.timeseries import DailyForecaster, TimeSeriesConfig, build_panel

DAYS = 120


def sparse_panel(seed: int = 0):
    rng = np.random.default_rng(seed)
    n_sparse, n_head = 600, 30
    sparse = np.where(rng.random((n_sparse, DAYS)) < 0.04, rng.geometric(0.3, (n_sparse, DAYS)), 0)
    head = rng.poisson(rng.uniform(2.0, 12.0, (n_head, 1)), (n_head, DAYS))
    y = np.vstack([sparse, head]).astype(float)
    y[:, DAYS - 7:] *= 3.0  # the calibration week sells three times the usual
    start = date(2026, 1, 1)
    rows = []
    for s in range(y.shape[0]):
        for d in np.flatnonzero(y[s]):
            rows.append((f"p{s:04d}", "wh1", start.toordinal() + int(d), float(y[s, d])))
    daily = pl.DataFrame(rows, schema=["product_id", "warehouse_id", "ord", "qty"], orient="row").select(
        "product_id", "warehouse_id",
        pl.col("ord").map_elements(date.fromordinal, return_dtype=pl.Date).alias("day"), "qty")
    products = pl.DataFrame({"product_id": [f"p{s:04d}" for s in range(y.shape[0])],
                             "category": ["fresh"] * y.shape[0], "price": [10.0] * y.shape[0],
                             "launched_on": [date(2025, 1, 1)] * y.shape[0]})
    end = date.fromordinal(start.toordinal() + DAYS)
    return build_panel(daily, products, start=start, end=end, future_days=7), DAYS


def test_p90_above_p10_wherever_the_point_is_a_unit_or_more():
    panel, origin = sparse_panel()
    model = DailyForecaster(TimeSeriesConfig(max_iter=40, train_origins=6)).fit(panel, origin)
    preds = model.predict(panel, origin)
    for name, frame in preds.items():
        p10, p50, p90 = (frame[c].to_numpy() for c in ("p10", "p50", "p90"))
        assert np.all(p10 <= p50) and np.all(p50 <= p90), name
        big = p50 >= 1.0
        assert big.any(), name
        degenerate = int((p90[big] <= p10[big]).sum())
        assert degenerate == 0, f"{name}: {degenerate} degenerate intervals"


def test_the_gate_reads_head_series_totals_not_daily_cells():
    from types import SimpleNamespace

    from aggregation.daily import held_out_gate

    # two head series over 2 days, one sparse series: production gets the weekly totals right but the
    # days wrong; seasonal naive gets the sparse series' days right and the head totals wrong
    y = np.array([5.0, 1.0, 1.0, 5.0, 0.0, 0.0])
    prod = np.array([3.0, 3.0, 3.0, 3.0, 4.0, 4.0])
    naive = np.array([5.0, 1.0, 1.0, 5.0, 0.0, 0.0]) * 0.5
    model = SimpleNamespace(calibration_={"production": (y, prod), "seasonal_naive": (y, naive)},
                            calibration_head_=np.array([True, True, True, True, False, False]))
    gate = held_out_gate(model, 2)
    assert gate["production_wape"] == 0.0 and gate["seasonal_naive_wape"] == 0.5 and gate["passed"]
    assert "2 head series" in gate["reason"]
    model.calibration_head_ = np.zeros(6, dtype=bool)
    assert not held_out_gate(model, 2)["passed"]  # on daily cells production loses

"""The event correction side by side: production and every statsforecast baseline, with and without it.

Near an annual event the published daily forecast is multiplied by last year's sold / forecast on
the same days of the event (aggregation.event_analog, aggregation.daily.with_event_analog). A
supplier's analyst could do the same to a statsforecast model, so the fair bar is the baselines
corrected the same way: each baseline is run on the history as it stood at the analog origin, its
ratios per category and day computed exactly as production's, and applied to its forecast under the
same rule (last year's week from the analog origin missed by that baseline by a readable ratio, as a
level shift would, beyond the ensemble's usual miss on the folds — the bar production's rule reads). One JSON
line per date: head-series 7-day total WAPE (bias, P10–P90 coverage) of production without and with
the correction, each baseline's WAPE without and with it, and production's ratio to the best of
either.

    circlebuy generate --out /tmp/cny2/raw --groups 400 --start 2024-11-01 --end 2026-03-20 --seed 11
    circlebuy ingest /tmp/cny2/raw --home /tmp/cny2/home
    PYTHONPATH=$PWD .venv/bin/python -m bench.bench_event_analog --home /tmp/cny2/home \
        --dates 2026-02-09,2026-02-16,2026-02-23,2026-03-09

About 2–3 minutes per date of that world on two cores (two whole daily forecasts a date).
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from unittest.mock import patch

import numpy as np

import pipelines.evaluate.forecast as evaluation
from aggregation.daily import daily_panel
from aggregation.event_analog import MIN_HISTORY_DAYS, analog_ratios, analogs_for, moved, readable
from aggregation.forecasters import make_forecaster
from aggregation.timeseries import active_rows
from bench.bench_daily_heads import print_per_date
from pipelines.evaluate.config import EvaluateConfig


def _ratios_for(frames, day: date, name: str, settings, categories: np.ndarray, usual_miss: float
                ) -> np.ndarray | None:
    """rows × horizon multipliers of baseline `name` for series of `categories` (None: no analog, or
    last year's days near the event within the baseline's miss as production's rule reads it)."""
    h = settings.horizon_days
    analogs = analogs_for(day, h)
    if not analogs:
        return None
    analog = analogs[0]  # the festival worlds' dates have one event near them
    then = analog.origin(day)
    panel, end = daily_panel(frames, then + timedelta(days=h), h)
    t = end - h
    sold_on = np.flatnonzero(panel.y[:, :max(t, 0)].any(axis=0))
    if not sold_on.size or t - int(sold_on[0]) < MIN_HISTORY_DAYS:
        return None
    rows = active_rows(panel, t, h, settings.active_days)
    if name in evaluation.HEAD_ONLY:  # as in the evaluation: the head series only (AutoETS's cost)
        rows = rows[panel.y[rows, t - evaluation.HEAD_WINDOW:t].sum(axis=1) >= evaluation.HEAD_THRESHOLD]
    forecast = make_forecaster(name, settings).fit(panel, t).predict(panel, t, rows).p50
    sold = panel.y[rows, t:t + h]
    near = analog.days
    head = panel.y[rows, max(t - evaluation.HEAD_WINDOW, 0):t].sum(axis=1) >= evaluation.HEAD_THRESHOLD
    then_sold, then_forecast = float(sold[head].sum()), float(forecast[head].sum())
    if not (readable(then_sold, then_forecast) and moved(then_sold, then_forecast, usual_miss)):
        return None
    by_category, overall = analog_ratios(panel.series["category"].to_numpy()[rows], forecast, sold)
    matrix = np.stack([by_category.get(str(c), overall) for c in categories])
    return np.where(near[None, :], matrix, 1.0)


def _head(block: dict) -> dict:
    return {n: m["total_wape"] for n, m in block["head"]["models"].items() if m.get("total_wape") is not None}


def measure(frames, day: date) -> dict:
    tick = time.perf_counter()
    config = EvaluateConfig(as_of_day=day)
    with patch("aggregation.daily.analogs_for", return_value=[]):
        plain, _ = evaluation.evaluate_daily(frames, config)
    original = evaluation.baseline

    def corrected_baseline(name, run, rows, settings, **params):
        p10, p50, p90 = original(name, run, rows, settings, **params)
        categories = run.panel.series["category"].to_numpy()[rows]
        usual_miss = getattr(getattr(run.model, "model_", None), "usual_miss", None)  # the ensemble's
        usual = usual_miss() if usual_miss is not None else 0.0
        ratio = _ratios_for(frames, day, name, settings, categories, usual)
        return (p10, p50, p90) if ratio is None else (p10 * ratio, p50 * ratio, p90 * ratio)

    with patch.object(evaluation, "baseline", corrected_baseline):
        fixed, _ = evaluation.evaluate_daily(frames, config)
    before, after = _head(plain), _head(fixed)
    prod_before, prod_after = before.pop("production"), after.pop("production")
    best_plain = min(before, key=before.get)
    best_fixed = min(after, key=after.get)
    prod = fixed["head"]["models"]["production"]
    said = (fixed["production_is"].get("event_analog") or [{}])[0]
    return {
        "as_of": day.isoformat(), "published": fixed["production_is"]["method"],
        "event": said.get("event"), "applied": said.get("applied"),
        "days_corrected": said.get("days_corrected"),
        "production": {"without": prod_before, "with": prod_after, "bias": prod["bias"],
                       "coverage_p10_p90": prod["coverage_p10_p90"],
                       "bias_without": plain["head"]["models"]["production"]["bias"]},
        "baselines_without": before, "baselines_with": after,
        "best_without": [best_plain, before[best_plain]], "best_with": [best_fixed, after[best_fixed]],
        "ratio_to_best_without": round(prod_after / before[best_plain], 3),
        "ratio_to_best_with": round(prod_after / after[best_fixed], 3),
        "seconds": round(time.perf_counter() - tick, 1),
    }


def main() -> None:
    print_per_date(__doc__.splitlines()[0], measure)


if __name__ == "__main__":
    main()

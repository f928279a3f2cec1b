"""The daily forecast's head-series scores per as-of date, with the ensemble's per-fold coverage.

For each as-of date, `evaluate_daily` (the `daily` block of `circlebuy evaluate`, every statsforecast
baseline included) forecasts the 7 days from that date's 00:00; this prints one JSON line per date:
production's head-series 7-day total WAPE, its ratio to the best statsforecast baseline (and which),
its bias, its P10–P90 coverage of the head series' daily cells, the daily ensemble's leave-one-fold-out
coverage on each of its weekly folds, and the seconds. A quicker look than a whole `circlebuy
evaluate` (no recommendations, no pre-sale) for side-by-side runs of a forecasting change.

    circlebuy import online-retail ../shared/data/online-retail/online_retail.parquet --out /tmp/or/raw
    circlebuy ingest /tmp/or/raw --home /tmp/or/home
    PYTHONPATH=$PWD .venv/bin/python -m bench.bench_daily_heads --home /tmp/or/home \
        --dates 2011-06-01,2011-09-05,2011-11-01,2011-11-28

About 1–2 minutes per Online Retail date on two cores.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import date
from unittest.mock import patch

from aggregation.daily import forecast_daily
from common.home import resolve_home
from pipelines.evaluate.config import EvaluateConfig
from pipelines.evaluate.forecast import evaluate_daily
from pipelines.warehouse import MODEL_DROP, load_frames


def _fold_coverage(run) -> list[float]:
    model = getattr(getattr(run, "model", None), "model_", None)
    folds = getattr(model, "folds_", [])
    return [round(f["coverage_p10_p90"], 3) for f in folds if f.get("coverage_p10_p90") is not None]


def measure(frames, day: date) -> dict:
    seen = {}
    fit = forecast_daily

    def spy(*args, **kwargs):
        seen["run"] = fit(*args, **kwargs)
        return seen["run"]

    tick = time.perf_counter()
    with patch("pipelines.evaluate.forecast.forecast_daily", spy):  # to read the fitted ensemble's folds
        block, _ = evaluate_daily(frames, EvaluateConfig(as_of_day=day))
    models = block["head"]["models"]
    prod = models["production"]
    stats = {n: m["total_wape"] for n, m in models.items()
             if n != "production" and m.get("total_wape") is not None}
    best = min(stats, key=stats.get)
    return {"as_of": day.isoformat(), "published": block["production_is"]["method"],
            "total_wape": prod["total_wape"], "ratio_to_best": round(prod["total_wape"] / stats[best], 3),
            "best": best, "bias": prod["bias"], "coverage_p10_p90": prod["coverage_p10_p90"],
            "fold_coverage": _fold_coverage(seen.get("run")), "seconds": round(time.perf_counter() - tick, 1)}


def print_per_date(description: str, measure_one: Callable[[dict, date], dict]) -> None:
    """`--home` and `--dates` from the command line; one JSON line of `measure_one(frames, day)` a date."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--home", required=True)
    parser.add_argument("--dates", required=True, help="comma-separated as-of dates")
    args = parser.parse_args()
    frames = load_frames(resolve_home(args.home), drop=MODEL_DROP)
    for d in args.dates.split(","):
        print(json.dumps(measure_one(frames, date.fromisoformat(d.strip()))), flush=True)


def main() -> None:
    print_per_date(__doc__.splitlines()[0], measure)


if __name__ == "__main__":
    main()

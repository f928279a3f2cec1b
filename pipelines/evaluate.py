"""`circlebuy evaluate`: train on what happened before --as-of, score the --horizon-days after.

Composes the recsys block (pipelines.evaluate_recsys) and the forecast block
(pipelines.evaluate_forecast) into the JSON of DESIGN.md, and writes the optional dumps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from pipelines.home import Home
from pipelines.warehouse import MODEL_DROP, load_frames


@dataclass(frozen=True)
class EvaluateConfig:
    as_of: date
    horizon_days: int = 7
    k: int = 10
    seed: int = 7


def run_evaluate(
    home: Home,
    config: EvaluateConfig,
    *,
    dump_rankings: Path | None = None,
    dump_forecasts: Path | None = None,
    progress: bool = False,
) -> dict:
    """Evaluate recsys and forecasts at one as-of date; returns the design's JSON as a dict."""
    from pipelines.evaluate_forecast import evaluate_forecast
    from pipelines.evaluate_recsys import evaluate_recsys

    frames = load_frames(home, drop=MODEL_DROP)
    recsys_block, rankings = evaluate_recsys(frames, config, progress=progress)
    from aggregation.timeseries import InsufficientHistoryError

    try:
        forecast_block, forecasts = evaluate_forecast(frames, config, progress=progress)
    except InsufficientHistoryError as exc:  # report what could be scored, say what could not
        forecast_block = {"series_evaluated": 0, "models": {}, "note": f"not evaluated: {exc}"}
        forecasts = pl.DataFrame(schema={"product_id": pl.String, "warehouse_id": pl.String,
                                         "day": pl.Date, "p10": pl.Float64, "p50": pl.Float64,
                                         "p90": pl.Float64})
    if dump_rankings is not None:
        dump_rankings.parent.mkdir(parents=True, exist_ok=True)
        rankings.select("group_id", "rank", "product_id").write_parquet(dump_rankings)
    if dump_forecasts is not None:
        dump_forecasts.parent.mkdir(parents=True, exist_ok=True)
        forecasts.select("product_id", "warehouse_id", "day", "p10", "p50", "p90").write_parquet(
            dump_forecasts
        )
    return {
        "as_of": config.as_of.isoformat(),
        "horizon_days": config.horizon_days,
        "k": config.k,
        "recsys": recsys_block,
        "forecast": forecast_block,
    }

"""The `year_ago` generator side by side: production with and without it in the tuning grid (issue 12).

For each date, `evaluate_production` (the recsys block of `circlebuy evaluate`) with the default
ProductionConfig, or (--without) with `year_ago` left out of the generators and of the ranker's label
windows, or (--no-year-ago-windows) without the label windows a year earlier only; prints one JSON line per
date: every generator's and production's NDCG@10 on the 7 days after it, the best single generator
and production's ratio to it, the validation (folds) figures and year_ago's tuned parameters. Where
the home was generated (a `_truth/calendar.json` beside it), also how many groups bought a
festival-only product that week and how many had one in production's / year_ago's top 10.

The 16.5-month festival world (春节 2025 and 2026 in its history) is built once by

    circlebuy generate --out /tmp/cny2/raw --groups 400 --start 2024-11-01 --end 2026-03-20 --seed 11
    circlebuy ingest /tmp/cny2/raw --home /tmp/cny2/home

and measured by

    PYTHONPATH=$PWD .venv/bin/python -m bench.bench_year_ago --home /tmp/cny2/home [--without] \\
        [--dates 2026-01-19,2026-02-09,2026-02-16,2026-02-23,2026-03-09]

One process, one date after another (75-160 s a date on two cores).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from datetime import date
from functools import partial
from pathlib import Path

import polars as pl

from common.home import Home
from pipelines.evaluate.config import EvaluateConfig
from pipelines.evaluate.recsys import evaluate_production
from pipelines.warehouse import MODEL_DROP, load_frames
from recsys.folds import relevant_pairs
from recsys.picks import PicksConfig, make_picks
from recsys.production import ProductionConfig
from recsys.tuning import GRIDS

DATES = ("2026-01-19", "2026-02-09", "2026-02-16", "2026-02-23", "2026-03-09")


def festival_products(home: Path) -> list[str]:
    """The generator's festival-only product ids (empty for a home not generated)."""
    calendar = home.parent / "raw" / "_truth" / "calendar.json"
    if not calendar.exists():
        return []
    events = json.loads(calendar.read_text())["events"]
    return sorted({p for e in events for p in e.get("festival", {}).get("product_ids", [])})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", default="/tmp/cny2/home")
    ap.add_argument("--dates", default=",".join(DATES))
    ap.add_argument("--without", action="store_true", help="leave year_ago out of the generators")
    ap.add_argument("--no-year-ago-windows", action="store_true",
                    help="train the ranker without the label windows a year earlier")
    ap.add_argument("--no-seasonal", action="store_true",
                    help="picks without the back-in-season rule (PicksConfig.seasonal_max = 0)")
    args = ap.parse_args()
    home = Path(args.home)
    if not (home / "warehouse.duckdb").exists():
        print(f"no warehouse at {home}; build it first (see this module's docstring)")
        return
    frames = load_frames(Home(home), drop=MODEL_DROP)
    config = ProductionConfig()
    if args.without:
        grids = {k: v for k, v in GRIDS.items() if k != "year_ago"}
        config = replace(config, tuning=replace(config.tuning, models=tuple(grids), grids=grids))
    if args.without or args.no_year_ago_windows:
        config = replace(config, ranker=replace(config.ranker, year_ago_windows=0))
    if args.without or args.no_seasonal:  # the evaluation builds PicksConfig(n=k): the default changes
        import pipelines.evaluate.recsys as evaluation
        evaluation.PicksConfig = partial(PicksConfig, seasonal_max=0)
    festival = festival_products(home)
    for text in args.dates.split(","):
        day = date.fromisoformat(text.strip())
        tick = time.perf_counter()
        block, ranking, prod = evaluate_production(frames, EvaluateConfig(as_of_day=day), config)
        ndcg = {n: round(m["ndcg@10"], 4) for n, m in block["models"].items()}
        generators = {n: v for n, v in ndcg.items() if n not in ("production", "picks")}
        best = max(generators, key=generators.get)
        out = {"as_of": text, "without_year_ago": args.without,
               "year_ago_windows": prod.report.windows.get("year_ago_windows"), "ndcg": ndcg, "best": best,
               "ratio": round(ndcg["production"] / generators[best], 3),
               "published": block["production_model"], "validation": block.get("validation"),
               "year_ago_params": prod.models["year_ago"].get_params() if "year_ago" in prod.models else None,
               "seconds": round(time.perf_counter() - tick, 1)}
        if festival:
            relevant = relevant_pairs(frames, day, 7)
            bought = relevant.filter(pl.col("product_id").is_in(festival))
            out["festival_buyers"] = bought["group_id"].n_unique()
            seasonal = 0 if args.without or args.no_seasonal else PicksConfig().seasonal_max
            picks, _ = make_picks(prod, day, PicksConfig(n=10, seasonal_max=seasonal),
                                  groups=relevant["group_id"].unique())
            lists = {"production": ranking, "picks": picks}
            if "year_ago" in prod.models:
                lists["year_ago"] = prod.models["year_ago"].recommend(relevant["group_id"].unique(), 10)
            for name, top in lists.items():
                out[f"festival_in_top10_{name}"] = top.filter(pl.col("product_id").is_in(festival))[
                    "group_id"].n_unique()
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

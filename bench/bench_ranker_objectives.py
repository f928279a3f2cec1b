"""The ranker's objective, side by side: LightGBM's lambdarank against the pointwise classifier, on the
same home, the same dates and the same tuned generators (issue 12, item 3).

    .venv/bin/python -m bench.bench_ranker_objectives --home HOME --as-of 2010-12-13,2011-06-01 [--out F]

For each date and each objective: `train_production` with only the ranker's objective changed, then
production, the best single generator, the group's own history and 28-day popularity scored on the
paid orders of the 7 days after the date (the evaluation's rules: full catalogue, re-orders relevant),
with 90% bootstrap intervals over groups. JSON lines on stdout (and in --out).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

from common.home import Home
from pipelines.evaluate.config import EvaluateConfig
from pipelines.evaluate.recsys import evaluate_production
from pipelines.warehouse import MODEL_DROP, load_frames
from recsys.production import ProductionConfig
from recsys.ranker import OBJECTIVES, RankerConfig

BASELINES = ("reorder", "popularity")  # the group's own history; popularity (28-day window)


def row(day: date, objective: str, block: dict, seconds: float) -> dict:
    models = block["models"]
    ndcg = {name: m["ndcg@10"] for name, m in models.items()}
    generators = {n: v for n, v in ndcg.items() if n not in ("production", "picks")}
    best = max(generators, key=generators.get)
    intervals = block["intervals"]["ndcg@10"]
    return {
        "as_of": day.isoformat(), "objective": objective, "groups": block.get("groups_evaluated"),
        "production": ndcg["production"], "production_ci": intervals["production"],
        "best_generator": best, "best_ndcg": generators[best],
        "ratio_to_best": round(ndcg["production"] / generators[best], 3) if generators[best] else None,
        **{name: ndcg.get(name) for name in BASELINES},
        "production_model": block["production_model"], "ranker_validation": block["validation"]["ranker"],
        "train_s": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--as-of", required=True, help="comma-separated YYYY-MM-DD")
    parser.add_argument("--objectives", default=",".join(OBJECTIVES))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    frames = load_frames(Home(Path(args.home)), drop=MODEL_DROP)
    lines = []
    for text in args.as_of.split(","):
        day = date.fromisoformat(text.strip())
        for objective in args.objectives.split(","):
            config = replace(ProductionConfig(), ranker=replace(RankerConfig(), objective=objective))
            tick = time.perf_counter()
            block, _, _ = evaluate_production(frames, EvaluateConfig(as_of_day=day), config)
            line = row(day, objective, block, time.perf_counter() - tick)
            lines.append(line)
            print(json.dumps(line), flush=True)
            if args.out:
                args.out.write_text("\n".join(json.dumps(x) for x in lines) + "\n")


if __name__ == "__main__":
    main()

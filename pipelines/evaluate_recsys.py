"""The recsys block of `circlebuy evaluate`: every tuned generator, the production ranker and the
picks after the rules, scored on the paid orders of the horizon after --as-of (full catalog,
no sampled negatives, re-orders relevant)."""

from __future__ import annotations

import logging
import time

import polars as pl

from pipelines.evaluate import EvaluateConfig
from recsys.metrics import ranking_metrics
from recsys.picks import PicksConfig, make_picks
from recsys.production import ProductionConfig, relevant_pairs, train_production

log = logging.getLogger("circlebuy.evaluate.recsys")


def evaluate_recsys(
    frames: dict[str, pl.DataFrame], config: EvaluateConfig, progress: bool = False
) -> tuple[dict, pl.DataFrame]:
    """Returns (the recsys block of DESIGN.md, production's top-k per group: group_id, rank, product_id)."""
    k = config.k
    tick = time.perf_counter()
    notes: list[str] = []
    prod = train_production(
        frames, config.as_of, ProductionConfig(horizon_days=config.horizon_days, k=k, seed=config.seed), notes
    )
    for note in notes:
        log.warning(note)
    train_s = time.perf_counter() - tick
    relevant = relevant_pairs(frames, config.as_of, config.horizon_days)
    groups = relevant["group_id"].unique().sort()
    catalog = len(prod.signal.items)
    cats = prod.signal.item_meta.select("product_id", "category")

    def score(rankings: pl.DataFrame) -> dict:
        return ranking_metrics(rankings, relevant, k, catalog, cats)

    models = {name: score(model.recommend(groups, k)) for name, model in prod.models.items()}
    rankings = prod.rank(groups, k).select("group_id", "rank", "product_id")
    models["production"] = score(rankings)
    tick = time.perf_counter()
    picks, picks_info = make_picks(prod, config.as_of, PicksConfig(n=k), groups=groups)
    models["picks"] = score(picks.select("group_id", "rank", "product_id"))
    picks_s = time.perf_counter() - tick
    best = prod.info["best_generator"]
    key = f"ndcg@{k}"
    pop = models["popularity"][key]
    block = {
        "groups_evaluated": groups.len(),
        "models": models,
        "production_model": prod.info["model"],
        "fallback_reason": prod.info["fallback_reason"],
        "best_generator": best,
        "lift": {
            "production_vs_popularity": round(models["production"][key] / pop, 4) if pop else None,
            "production_vs_best_generator": round(models["production"][key] / models[best][key], 4)
            if models[best][key]
            else None,
        },
        "validation": {
            "generators": {n: v["validation"][key] for n, v in prod.info["tuning"].items()},
            "ranker": prod.info["ranker_validation"].get(key),
        },
        "tuning": {n: v["params"] for n, v in prod.info["tuning"].items()},
        "picks_info": picks_info,
        "catalog_size": catalog,
        "timings_s": {**prod.info["timings_s"], "train_total": round(train_s, 3), "picks": round(picks_s, 3)},
    }
    return block, rankings

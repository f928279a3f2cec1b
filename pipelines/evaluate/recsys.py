"""The recsys block of `circlebuy evaluate`: every tuned generator, the production ranker and the
picks after the rules, scored on the paid orders of the horizon after --as-of (full catalog,
no sampled negatives, re-orders relevant)."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
import polars as pl

from pipelines.evaluate.config import EvaluateConfig
from pipelines.evaluate.intervals import MIN_UNITS, N_BOOT, mean_interval, paired_difference, too_few
from recsys.folds import relevant_pairs
from recsys.metrics import per_group_ndcg, ranking_metrics
from recsys.picks import PicksConfig, make_picks
from recsys.production import Production, ProductionConfig, train_production
from recsys.signal import SignalSource

log = logging.getLogger("circlebuy.evaluate.recsys")


def evaluate_recsys(
    frames: dict[str, pl.DataFrame], config: EvaluateConfig, source: SignalSource | None = None
) -> tuple[dict, pl.DataFrame]:
    """Returns (the recsys block of DESIGN.md, production's top-k per group: group_id, rank, product_id).
    `source`: the signal's aggregates up to this date or a later one (shared by the dates of a run)."""
    block, rankings, _ = evaluate_production(frames, config, source=source)
    return block, rankings


def evaluate_production(
    frames: dict[str, pl.DataFrame], config: EvaluateConfig, production: ProductionConfig | None = None,
    source: SignalSource | None = None,
) -> tuple[dict, pl.DataFrame, Production]:
    """evaluate_recsys, also handing back the trained Production (for benchmarks and reports)."""
    k = config.k
    tick = time.perf_counter()
    notes: list[str] = []
    base = production or config.production
    pconf = replace(base, horizon_days=config.horizon_days, k=k, seed=config.seed)
    prod = train_production(frames, config.as_of_day, pconf, notes, source=source)
    for note in notes:
        log.warning(note)
    train_s = time.perf_counter() - tick
    relevant = relevant_pairs(frames, config.as_of_day, config.horizon_days)
    groups = relevant["group_id"].unique().sort()
    catalog = len(prod.signal.items)
    cats = prod.signal.item_meta.select("product_id", "category")

    def score(rankings: pl.DataFrame) -> dict:
        return ranking_metrics(rankings, relevant, k, catalog, cats)

    lists = {name: model.recommend(groups, k) for name, model in prod.models.items()}
    rankings = prod.rank(groups, k).select("group_id", "rank", "product_id")
    lists["production"] = rankings
    tick = time.perf_counter()
    picks, picks_info = make_picks(prod, config.as_of_day, PicksConfig(n=k), groups=groups)
    lists["picks"] = picks.select("group_id", "rank", "product_id")
    picks_s = time.perf_counter() - tick
    models = {name: score(ranked) for name, ranked in lists.items()}
    timings = {**prod.report.timings_s, "train_total": round(train_s, 3), "picks": round(picks_s, 3)}
    block = recsys_block(models, prod, groups.len(), catalog, picks_info, timings, k)
    block["intervals"] = ndcg_intervals(lists, relevant, k, config.seed)
    return block, rankings, prod


def ndcg_intervals(lists: dict[str, pl.DataFrame], relevant: pl.DataFrame, k: int, seed: int) -> dict:
    """90% bootstrap intervals over groups: each model's NDCG@k, and production minus each model
    (paired: the same resampled groups), so that a gap can be read as real or noise. Below
    MIN_UNITS groups every interval is null and `note` says so (intervals.MIN_UNITS: why)."""
    per_group = {name: per_group_ndcg(ranked, relevant, k)["ndcg"].to_numpy()
                 for name, ranked in lists.items()}
    ones = np.ones(next(iter(per_group.values())).size) if per_group else np.ones(0)
    key = f"ndcg@{k}"
    prod = per_group.get("production")
    note = too_few(ones.size, "groups")
    return {
        "level": 0.9, "unit": "group", "resamples": N_BOOT, "units": int(ones.size), "min_units": MIN_UNITS,
        **({"note": note} if note else {}),
        key: {name: mean_interval(v, seed=seed) for name, v in per_group.items()},
        f"production_minus_model_{key}": {
            name: paired_difference(prod, v, ones, seed=seed)
            for name, v in per_group.items() if name != "production" and prod is not None
        },
    }


def recsys_block(
    models: dict[str, dict], prod: Production, groups_evaluated: int, catalog: int, picks_info: dict,
    timings: dict, k: int,
) -> dict:
    """The recsys block of DESIGN.md from the metrics of every model, `production` and `picks`."""
    key = f"ndcg@{k}"
    pop = models["popularity"][key]
    generators = [n for n in prod.models]
    best_test = max(generators, key=lambda n: models[n][key])
    return {
        "groups_evaluated": groups_evaluated,
        "models": models,
        "production_model": prod.report.model,
        "fallback_reason": prod.report.fallback_reason,
        # generators that know nothing of their own on this history (year_ago before a year of it):
        # their rows are recent popularity's fill, not a method's score
        "uninformative": sorted(n for n, m in prod.models.items() if not m.informative()),
        "best_generator": prod.report.best_generator,
        "lift": {
            "production_vs_popularity": round(models["production"][key] / pop, 4) if pop else None,
            "best_generator_on_test": best_test,
            "production_vs_best_generator": round(models["production"][key] / models[best_test][key], 4)
            if models[best_test][key]
            else None,
        },
        "validation": {
            "generators": {n: t.validation[key] for n, t in prod.report.tuning.items()},
            "ranker": prod.report.ranker_validation.get(key),
        },
        "tuning": prod.report.params,
        # what the production fits derived from those parameters (ALS's L2 weight, BPR's epochs, ...)
        "fitted": {n: t.fitted for n, t in prod.report.tuning.items() if t.fitted},
        "picks_info": picks_info,
        "catalog_size": catalog,
        "timings_s": timings,
    }


def validation_block(prod: Production, k: int) -> dict:
    """The recsys block for the training run's validation window [cutoff - h, cutoff), without
    training again: the ranker was trained only on labels before the window, so `production` and
    `picks` are scored on outcomes it never saw. The generators' hyper-parameters were chosen on
    this window, which can only flatter them (the comparison errs in the baselines' favour);
    `circlebuy evaluate --as-of` scores fully held-out weeks."""
    val = prod.validation
    if val is None:
        raise ValueError("this Production kept no validation run; train it with train_production")
    tick = time.perf_counter()
    ranker = val.ranker if prod.ranker is not None else None
    at = Production(val.signal, val.models, ranker, prod.chosen, prod.report, prod.frames, prod.config)
    groups = val.relevant["group_id"].unique().sort()
    catalog = len(val.signal.items)
    cats = val.signal.item_meta.select("product_id", "category")

    def score(rankings: pl.DataFrame) -> dict:
        return ranking_metrics(rankings, val.relevant, k, catalog, cats)

    models = dict(val.generator_metrics)
    models["production"] = (
        dict(val.ranker_metrics) if at.ranker is not None else dict(val.generator_metrics[prod.chosen])
    )
    picks, picks_info = make_picks(at, val.signal.as_of_day, PicksConfig(n=k), groups=groups)
    models["picks"] = score(picks.select("group_id", "rank", "product_id"))
    timings = {"picks": round(time.perf_counter() - tick, 3)}
    block = recsys_block(models, at, groups.len(), catalog, picks_info, timings, k)
    block["source"] = (
        "the training run's validation window: production and picks are scored on orders the ranker "
        "never saw; the generators were tuned on this window"
    )
    return block

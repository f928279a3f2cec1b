"""Train what the nightly run publishes: tuned generators, a learned ranker, and the gate on it.

Windows (h = horizon): generators are tuned on [T0-h, T0) with data before T0-h; the ranker
learns the labels of [T0-2h, T0-h) and is validated on [T0-h, T0) against every tuned generator;
the production models are then refit on everything before T0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from recsys.features import add_features, candidates
from recsys.metrics import ranking_metrics
from recsys.models import make_model
from recsys.models.base import Recommender
from recsys.ranker import LearnedRanker, RankerConfig, sample_training_rows
from recsys.signal import Signal, SignalConfig, build_signal, day_start, paid_orders
from recsys.tuning import Tuned, TuningConfig, best_generator, tune


@dataclass(frozen=True)
class ProductionConfig:
    """Everything the production training needs, with defaults."""

    horizon_days: int = 7
    k: int = 10
    seed: int = 7
    max_validation_groups: int = 5000  # groups (with an order in the window) that tuning scores on
    signal: SignalConfig = field(default_factory=SignalConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)


@dataclass
class ValidationRun:
    """What training learned about the validation window [cutoff - h, cutoff): the generators tuned
    on it, the ranker trained only on labels before it, and the pairs ordered in it. Enough to
    score the recent past without training again (the nightly's evaluation)."""

    signal: Signal
    models: dict[str, Recommender]
    ranker: LearnedRanker | None
    relevant: pl.DataFrame
    generator_metrics: dict[str, dict]
    ranker_metrics: dict


@dataclass
class Production:
    """Fitted generators at the cutoff, the ranker (or the generator it fell back to), and info."""

    signal: Signal
    models: dict[str, Recommender]
    ranker: LearnedRanker | None
    chosen: str
    info: dict
    frames: dict[str, pl.DataFrame]
    config: ProductionConfig
    validation: ValidationRun | None = None

    def scored_candidates(self, g_rows: np.ndarray, allowed: np.ndarray | None = None) -> pl.DataFrame:
        """Candidates of all generators with features and the production `score`."""
        cands = candidates(self.models, g_rows, self.config.ranker.n_per_model, allowed)
        return self.score_frame(add_features(cands, self.signal, self.frames))

    def score_frame(self, feats: pl.DataFrame) -> pl.DataFrame:
        """`feats` (from add_features) with the production `score` column."""
        if self.ranker is not None:
            score = pl.Series(self.ranker.predict(feats))
        else:
            score = feats[f"s_{self.chosen}"].fill_null(-np.inf)
        return feats.with_columns(score=score)

    def rank(self, groups: pl.Series, n: int) -> pl.DataFrame:
        """Top-n over the whole catalog per group: group_id, rank, product_id, score."""
        if self.ranker is None:
            return self.models[self.chosen].recommend(groups, n)
        g_rows = self.signal.groups.encode(groups)
        known = g_rows[g_rows >= 0]
        parts = [top_n(self.scored_candidates(chunk), self.signal, n) for chunk in chunks(known)]
        return pl.concat(parts) if parts else top_n(self.scored_candidates(known), self.signal, n)


GROUP_CHUNK = 1000  # groups scored together: bounds the candidate x feature frame on large worlds


def chunks(g_rows: np.ndarray, size: int | None = None) -> list[np.ndarray]:
    """`g_rows` in consecutive pieces of at most `size` (default GROUP_CHUNK)."""
    size = size or GROUP_CHUNK
    return [g_rows[start : start + size] for start in range(0, len(g_rows), size)]


def top_n(scored: pl.DataFrame, signal: Signal, n: int) -> pl.DataFrame:
    """Per group the n best `score`s (ties: lower item row) as group_id, rank, product_id, score."""
    ranked = (
        scored.sort(["g", "score", "i"], descending=[False, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1).over("g").cast(pl.Int64))
        .filter(pl.col("rank") <= n)
    )
    return pl.DataFrame(
        {
            "group_id": signal.groups.decode(ranked["g"].to_numpy()),
            "rank": ranked["rank"],
            "product_id": signal.items.decode(ranked["i"].to_numpy()),
            "score": ranked["score"].cast(pl.Float32),
        }
    )


def relevant_pairs(frames: dict[str, pl.DataFrame], start: date, days: int) -> pl.DataFrame:
    """(group_id, product_id) with a paid order in [start 00:00, start + days) platform time."""
    t0 = day_start(start)
    o = paid_orders(frames["orders"].lazy(), day_start(start + timedelta(days=days)))
    o = o.filter(pl.col("ordered_at") >= t0).select("group_id", "product_id")
    return o.unique().sort("group_id", "product_id").collect()


def sample_groups(relevant: pl.DataFrame, max_groups: int, seed: int) -> pl.DataFrame:
    """`relevant` restricted to at most `max_groups` of its groups, sampled with `seed`."""
    groups = relevant["group_id"].unique().sort()
    if groups.len() <= max_groups:
        return relevant
    keep = groups.sample(max_groups, seed=seed).sort()
    return relevant.join(keep.to_frame(), on="group_id", how="semi")


def labelled(
    models: dict[str, Recommender],
    signal: Signal,
    relevant: pl.DataFrame,
    frames: dict[str, pl.DataFrame],
    n_per_model: int,
    max_groups: int | None = None,
    seed: int = 7,
) -> pl.DataFrame:
    """Candidates + features for the groups in `relevant` (at most `max_groups` of them, sampled
    with `seed`), with label = 1 where relevant."""
    groups = relevant["group_id"].unique().sort()
    if max_groups is not None and groups.len() > max_groups:
        groups = groups.sample(max_groups, seed=seed).sort()
    g_rows = signal.groups.encode(groups)
    g_rows = g_rows[g_rows >= 0]
    feats = add_features(candidates(models, g_rows, n_per_model), signal, frames)
    rel = signal.groups.encode_column(relevant, "group_id", "g")
    rel = signal.items.encode_column(rel, "product_id", "i").drop_nulls(["g", "i"]).select("g", "i")
    return feats.join(rel.with_columns(label=pl.lit(1, pl.Int8)), on=["g", "i"], how="left").with_columns(
        pl.col("label").fill_null(0)
    )


def train_production(
    frames: dict[str, pl.DataFrame],
    cutoff: date,
    config: ProductionConfig | None = None,
    log: list[str] | None = None,
) -> Production:
    """Tune, train and gate the production ranker on everything before `cutoff` 00:00."""
    config = config or ProductionConfig()
    log = log if log is not None else []
    h, k = config.horizon_days, config.k
    t_val, t_train = cutoff - timedelta(days=h), cutoff - timedelta(days=2 * h)
    timings: dict[str, float] = {}
    tick = time.perf_counter()

    sig_val = build_signal(frames, day_start(t_val), config.signal)
    rel_val = sample_groups(relevant_pairs(frames, t_val, h), config.max_validation_groups, config.seed)
    tuned = tune(sig_val, rel_val, _tuning(config))
    timings["tune"] = _lap(tick)
    tick = time.perf_counter()

    train_parts = []
    rc = config.ranker
    per_window = max(rc.max_groups_per_window, int(rc.window_group_share * len(sig_val.groups)))
    labelled_groups, windows_used = 0, 0
    for j in range(rc.train_windows):
        if labelled_groups >= rc.label_groups and windows_used >= rc.min_train_windows:
            break
        start = t_train - timedelta(days=j * h)
        sig_j = build_signal(frames, day_start(start), config.signal)
        rel_j = relevant_pairs(frames, start, h)
        history = sig_j.daily["age"].max() if sig_j.daily.height else 0
        if rel_j.height == 0 or history < h:  # no labels, or too little history to learn from
            continue
        models_j = {n: make_model(n, seed=config.seed, **p).fit(sig_j) for n, p in tuned.params.items()}
        rows_j = labelled(models_j, sig_j, rel_j, frames, rc.n_per_model, per_window, config.seed + j)
        train_parts.append(sample_training_rows(rows_j, rc.neg_per_group, config.seed + j))
        labelled_groups += rows_j["g"].n_unique()  # groups with an order in the window, sampled
        windows_used += 1
        del sig_j, models_j, rows_j  # one window's signal and models alive at a time
    rows_val = labelled(tuned.fitted, sig_val, rel_val, frames, config.ranker.n_per_model)
    timings["features"] = _lap(tick)
    tick = time.perf_counter()

    best = best_generator(tuned.metrics, k)
    key = f"ndcg@{k}"
    ranker, trial, reason, val_metrics = _train_ranker(
        train_parts, rows_val, tuned, best, sig_val, rel_val, per_window, (t_train, t_val), config
    )
    del train_parts, rows_val  # learnt: free the labelled rows before the refit
    if reason:
        log.append(reason)
    timings["ranker"] = _lap(tick)
    tick = time.perf_counter()

    sig, models = fit_generators(frames, cutoff, tuned.params, config)
    timings["refit"] = _lap(tick)
    pop = tuned.metrics.get("popularity", {}).get(key, 0.0)
    prod_val = (
        val_metrics.get(key, tuned.metrics[best][key]) if ranker is not None else tuned.metrics[best][key]
    )
    info = {
        "model": "ranker" if ranker is not None else best,
        "fallback_reason": reason or None,
        "best_generator": best,
        "tuning": {n: {"params": tuned.params[n], "validation": tuned.metrics[n]} for n in tuned.params},
        "ranker_validation": val_metrics,
        "gate": {
            "production_ndcg": round(prod_val, 6),
            "popularity_ndcg": round(pop, 6),
            "best_generator_ndcg": round(tuned.metrics[best][key], 6),
            "passed": bool(prod_val >= pop),
            "reason": reason or f"ranker beats the best generator {best!r} on validation",
        },
        "training_rows": int(ranker.n_train_) if ranker is not None else 0,
        "windows": {
            "train_labels": [str(t_train - timedelta(days=(max(windows_used, 1) - 1) * h)), str(t_val)],
            "label_windows": windows_used,
            "labelled_groups": labelled_groups,
            "validation_groups": rel_val["group_id"].n_unique(),
            "validation": [str(t_val), str(cutoff)],
        },
        "timings_s": timings,
    }
    validation = ValidationRun(sig_val, tuned.fitted, trial, rel_val, tuned.metrics, val_metrics)
    return Production(sig, models, ranker, info["model"], info, frames, config, validation)


def fit_generators(
    frames: dict[str, pl.DataFrame], cutoff: date, params: dict[str, dict], config: ProductionConfig
) -> tuple[Signal, dict[str, Recommender]]:
    """The signal at `cutoff` 00:00 and every generator fitted on it with its tuned `params`."""
    sig = build_signal(frames, day_start(cutoff), config.signal)
    return sig, {n: make_model(n, seed=config.seed, **p).fit(sig) for n, p in params.items()}


def refit_production(
    frames: dict[str, pl.DataFrame],
    cutoff: date,
    params: dict[str, dict],
    ranker: LearnedRanker | None,
    chosen: str,
    info: dict,
    config: ProductionConfig | None = None,
) -> Production:
    """Production at `cutoff` from a ranker trained on an earlier day: the generators are refitted
    on today's signal (with the hyper-parameters that ranker learned from), the ranker is reused."""
    config = config or ProductionConfig()
    if ranker is None and chosen not in params:
        raise ValueError(f"the fallback generator {chosen!r} has no parameters among {sorted(params)}")
    tick = time.perf_counter()
    sig, models = fit_generators(frames, cutoff, params, config)
    info = {**info, "timings_s": {"refit": _lap(tick)}}
    return Production(sig, models, ranker, chosen, info, frames, config)


def _train_ranker(
    train_parts: list[pl.DataFrame],
    rows_val: pl.DataFrame,
    tuned: Tuned,
    best: str,
    sig_val: Signal,
    rel_val: pl.DataFrame,
    per_window: int,
    windows: tuple[date, date],
    config: ProductionConfig,
) -> tuple[LearnedRanker | None, LearnedRanker | None, str, dict]:
    """Fit the ranker on the label windows, validate it against the best generator, and (when it
    wins) refit it with the validation window's labels too: (ranker, trial, reason, metrics)."""
    k, key = config.k, f"ndcg@{config.k}"
    t_train, t_val = windows
    ranker, trial, reason, val_metrics = None, None, "", {}
    fit_rows = pl.concat(train_parts, how="vertical_relaxed") if train_parts else pl.DataFrame()
    if fit_rows.height == 0 or fit_rows["label"].n_unique() < 2:
        reason = f"no labelled training rows in [{t_train}, {t_val}); using the best generator {best!r}"
    else:
        trial = LearnedRanker(config.ranker, config.seed).fit(fit_rows)
        scored = rows_val.with_columns(score=pl.Series(trial.predict(rows_val)))
        val_metrics = ranking_metrics(
            top_n(scored, sig_val, k), rel_val, k, len(sig_val.items), sig_val.item_meta
        )
        bar = tuned.metrics[best][key] * (1.0 + config.ranker.min_gain)
        if val_metrics[key] > bar:
            val_groups = rows_val.select("g").unique().sort("g")
            if val_groups.height > per_window:
                val_groups = val_groups.sample(per_window, seed=config.seed)
            val_rows = sample_training_rows(
                rows_val.join(val_groups, on="g"), config.ranker.neg_per_group, config.seed + 1
            )
            both = pl.concat([fit_rows, val_rows], how="vertical_relaxed")
            ranker = LearnedRanker(config.ranker, config.seed).fit(both)
        else:
            reason = (
                f"ranker validation {key} {val_metrics[key]:.4f} does not beat the best generator "
                f"{best!r} ({tuned.metrics[best][key]:.4f}); falling back to {best!r}"
            )
    return ranker, trial, reason, val_metrics


def _tuning(config: ProductionConfig) -> TuningConfig:
    t = config.tuning
    return TuningConfig(models=t.models, grids=t.grids, k=config.k, seed=config.seed)


def _lap(tick: float) -> float:
    return round(time.perf_counter() - tick, 3)

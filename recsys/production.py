"""Train what the nightly run publishes: tuned generators, a learned ranker, and the gate on it.

Windows (h = horizon): generators are tuned on [T0-h, T0) with data before T0-h; the ranker
learns the labels of [T0-2h, T0-h) and is validated on [T0-h, T0) against every tuned generator;
the production models are then refit on everything before T0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import polars as pl

from common.definitions import Runner
from recsys.features import add_features, candidates
from recsys.folds import fold_groups, fold_windows, relevant_pairs, sample_groups, tuning_frames
from recsys.label_windows import label_windows, labelled, year_ago_windows
from recsys.models import make_model
from recsys.models.base import Recommender
from recsys.production_config import ProductionConfig
from recsys.ranker import LearnedRanker
from recsys.ranker_training import train_ranker
from recsys.signal import Signal, SignalSource, build_signal, day_start, signal_source
from recsys.training_report import Gate, TrainingReport, TunedGenerator
from recsys.tuning import TuningConfig, best_generator, tune_folds


@dataclass
class ValidationRun:
    """What training learned about the validation window [as_of_day - h, as_of_day): the generators tuned
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
    """Fitted generators at the as-of day, the ranker (or the generator it fell back to), and the
    training's report."""

    signal: Signal
    models: dict[str, Recommender]
    ranker: LearnedRanker | None
    chosen: str
    report: TrainingReport
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
        """Top-n over the whole catalog per group: group_id, rank, product_id, score. A group the signal
        does not know (not in the groups it was built from) gets what every generator gives it: the
        platform's popular items (the popularity generator's list), never an empty list."""
        if self.ranker is None:
            return self.models[self.chosen].recommend(groups, n)
        g_rows = self.signal.groups.encode(groups)
        known = g_rows[g_rows >= 0]
        parts = [top_n(self.scored_candidates(chunk), self.signal, n) for chunk in chunks(known)]
        if not parts:
            parts = [top_n(self.scored_candidates(known), self.signal, n)]
        unknown = pl.Series("group_id", groups, dtype=pl.String).filter(pl.Series(g_rows < 0))
        if unknown.len():
            cold = self.models.get("popularity") or next(iter(self.models.values()))
            parts.append(cold.recommend(unknown, n).with_columns(pl.col("score").cast(pl.Float32)))
        return pl.concat(parts)


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


def train_production(
    frames: dict[str, pl.DataFrame],
    as_of_day: date,
    config: ProductionConfig | None = None,
    log: list[str] | None = None,
    run: Runner | None = None,
    source: SignalSource | None = None,
) -> Production:
    """Tune, train and gate the production ranker on everything before `as_of_day` 00:00.

    No single week decides: generators are tuned, the ranker is validated and the fallback is chosen
    by the mean NDCG over `validation_folds` weekly folds before the as-of day; the ranker's label
    windows all end before the earliest fold. Every signal of the training (folds, label windows,
    refit) is read from one aggregation of the orders and posts up to the as-of day, run by `run`
    (an engine's; by default in-process DuckDB over `frames`), or from `source` when given (one
    aggregation up to a later day, shared by the dates of a rolling-origin evaluation)."""
    config = config or ProductionConfig()
    log = log if log is not None else []
    tick = time.perf_counter()
    source = source or signal_source(frames, day_start(as_of_day), config.signal, run)
    aggregate_s = _lap(tick)
    everything = frames
    frames = tuning_frames(frames, config.max_tuning_groups, config.seed)
    if frames is not everything:
        log.append(f"tuning, validation and label windows read {config.max_tuning_groups} of "
                   f"{everything['groups'].height} groups (sampled); the refit reads every group")
    h, k = config.horizon_days, config.k
    key = f"ndcg@{k}"
    timings: dict[str, float] = {"aggregate": aggregate_s}
    tick = time.perf_counter()
    starts = fold_windows(as_of_day, config)
    per_fold_groups = fold_groups(config)

    def relevant_at(start: date, j: int) -> pl.DataFrame:
        known = relevant_pairs(frames, start, h, known_at=day_start(as_of_day))
        return sample_groups(known, per_fold_groups, config.seed + j)

    usable = []
    for j, start in enumerate(starts):
        rel = relevant_at(start, j)
        if rel.height or j == 0:
            usable.append((start, rel))
    folds = ((build_signal(frames, day_start(start), config.signal, source), rel) for start, rel in usable)
    tuned = tune_folds(folds, _tuning(config), keep_models=True)
    timings["tune"] = _lap(tick)
    tick = time.perf_counter()

    # the chosen parameters on every fold, as the tuning fitted them: candidates + features for the
    # ranker's validation; the newest fold's signal and models are kept for the nightly's evaluation
    # (ValidationRun), every other fold's are freed once its rows are labelled
    rc = config.ranker
    val_rows: list[pl.DataFrame] = []
    catalogs: list[int] = []
    newest = None
    kept, tuned.fold_models = tuned.fold_models, []
    for j, (_, rel) in enumerate(usable):
        sig_j, models_j = kept.pop(0)
        rows_j = labelled(models_j, sig_j, rel, frames, rc.n_per_model)
        val_rows.append(rows_j.with_columns(
            pl.lit(j, pl.Int16).alias("_fold"),
            pl.Series("group_id", sig_j.groups.decode(rows_j["g"].to_numpy())),
            pl.Series("product_id", sig_j.items.decode(rows_j["i"].to_numpy()))))
        catalogs.append(len(sig_j.items))
        if j == 0:
            newest = (sig_j, models_j, rel)
        del sig_j, models_j

    earliest = usable[-1][0]
    train_parts, labelled_groups, windows_used, first_label = label_windows(
        frames, earliest, tuned.params, len(newest[0].groups), config, source)
    year_ago_parts, year_ago_starts = year_ago_windows(
        frames, [as_of_day, *(start for start, _ in usable)], earliest, tuned.params, len(newest[0].groups),
        config, source)
    train_parts += year_ago_parts
    timings["features"] = _lap(tick)
    tick = time.perf_counter()

    best = best_generator(tuned.metrics, k)
    ranker, trial, reason, val_metrics = train_ranker(
        train_parts, val_rows, tuned, best, [rel for _, rel in usable], catalogs, len(newest[0].groups),
        config)
    del train_parts, val_rows  # learnt: free the labelled rows before the refit
    if reason:
        log.append(reason)
    timings["ranker"] = _lap(tick)
    tick = time.perf_counter()

    sig, models = fit_generators(everything, as_of_day, tuned.params, config, source)
    timings["refit"] = _lap(tick)
    pop = tuned.metrics.get("popularity", {}).get(key, 0.0)
    prod_val = val_metrics.get(key, tuned.metrics[best][key]) if ranker is not None else (
        tuned.metrics[best][key])
    fold_days = [str(start) for start, _ in usable]
    # the gate's numbers on the same folds: a ranker scored forward-chained (on the folds that have
    # older ones) beside the best generator's and popularity's means over those folds, not over all
    chained = (val_metrics.get("forward_chained_folds") or None) if ranker is not None else None
    best_val = tuned.mean_over(best, key, chained)
    if chained and "popularity" in tuned.fold_metrics:
        pop = tuned.mean_over("popularity", key, chained)
    report = TrainingReport(
        model="ranker" if ranker is not None else best,
        fallback_reason=reason or None,
        best_generator=best,
        tuning={n: TunedGenerator(tuned.params[n], tuned.metrics[n], tuned.per_fold[n],
                                  models[n].fitted_values())
                for n in tuned.params},
        ranker_validation=val_metrics,
        gate=Gate(
            production_ndcg=round(prod_val, 6),
            popularity_ndcg=round(pop, 6),
            best_generator_ndcg=round(best_val, 6),
            passed=bool(prod_val >= pop),
            folds=len(chained) if chained else len(usable),
            reason=reason or _passed_reason(best, len(usable), val_metrics.get("forward_chained_folds")),
        ),
        training_rows=int(ranker.n_train_) if ranker is not None else 0,
        windows={
            "train_labels": [str(first_label), str(earliest)],
            "label_windows": windows_used,
            "year_ago_windows": [str(start) for start in year_ago_starts],
            "labelled_groups": labelled_groups,
            "validation_groups": newest[2]["group_id"].n_unique(),
            "validation": [str(starts[0]), str(as_of_day)],
            "validation_folds": fold_days,
        },
        timings_s=timings,
    )
    sig_val, models_val, rel_val = newest
    fold0 = {n: tuned.fold_metrics[n][0] for n in tuned.params}  # the newest fold: [as_of_day - h, as_of_day)
    newest_ranker = (val_metrics.pop("folds_metrics", None) or [{}])[0]
    validation = ValidationRun(sig_val, models_val, trial, rel_val, fold0, newest_ranker)
    return Production(sig, models, ranker, report.model, report, everything, config, validation)


def fit_generators(
    frames: dict[str, pl.DataFrame], as_of_day: date, params: dict[str, dict], config: ProductionConfig,
    source: SignalSource | None = None,
) -> tuple[Signal, dict[str, Recommender]]:
    """The signal at `as_of_day` 00:00 and every generator fitted on it with its tuned `params`."""
    sig = build_signal(frames, day_start(as_of_day), config.signal, source)
    return sig, {n: make_model(n, seed=config.seed, **p).fit(sig) for n, p in params.items()}


def refit_production(
    frames: dict[str, pl.DataFrame],
    as_of_day: date,
    params: dict[str, dict],
    ranker: LearnedRanker | None,
    chosen: str,
    report: TrainingReport | dict,
    config: ProductionConfig | None = None,
) -> Production:
    """Production at `as_of_day` from a ranker trained on an earlier day: the generators are refitted
    on today's signal (with the hyper-parameters that ranker learned from), the ranker is reused."""
    config = config or ProductionConfig()
    if ranker is None and chosen not in params:
        raise ValueError(f"the fallback generator {chosen!r} has no parameters among {sorted(params)}")
    tick = time.perf_counter()
    sig, models = fit_generators(frames, as_of_day, params, config)
    report = report if isinstance(report, TrainingReport) else TrainingReport.from_dict(report)
    refitted = {n: replace(t, fitted=models[n].fitted_values()) if n in models else t
                for n, t in report.tuning.items()}  # today's fit: ALS's weight follows today's data
    report = replace(report, timings_s={"refit": _lap(tick)}, tuning=refitted)
    return Production(sig, models, ranker, chosen, report, frames, config)


def _passed_reason(best: str, folds: int, chained: list[int] | None) -> str:
    if chained:
        return (f"no label windows before the validation folds: the ranker, trained on the folds older "
                f"than each, beats the best generator {best!r} on the mean of {len(chained)} of {folds} "
                "weekly folds (refitted on all of them)")
    return f"ranker beats the best generator {best!r} on the mean of {folds} weekly validation folds"


def _tuning(config: ProductionConfig) -> TuningConfig:
    t = config.tuning
    return TuningConfig(models=t.models, grids=t.grids, k=config.k, seed=config.seed)


def _lap(tick: float) -> float:
    return round(time.perf_counter() - tick, 3)

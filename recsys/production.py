"""Train what the nightly run publishes: tuned generators, a learned ranker, and the gate on it.

Windows (h = horizon): generators are tuned on [T0-h, T0) with data before T0-h; the ranker
learns the labels of [T0-2h, T0-h) and is validated on [T0-h, T0) against every tuned generator;
the production models are then refit on everything before T0.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import polars as pl

from recsys.features import add_features, candidates
from recsys.metrics import ranking_metrics
from recsys.models import make_model
from recsys.models.base import Recommender
from recsys.ranker import LearnedRanker, RankerConfig, sample_training_rows
from recsys.signal import Signal, SignalConfig, build_signal, day_start, paid_orders
from recsys.training_report import Gate, TrainingReport, TunedGenerator
from recsys.tuning import FoldTuned, TuningConfig, best_generator, tune_folds


@dataclass(frozen=True)
class ProductionConfig:
    """Everything the production training needs, with defaults."""

    horizon_days: int = 7
    k: int = 10
    seed: int = 7
    max_validation_groups: int = 5000  # groups (with an order in a fold) scored, over all folds
    # above this many groups, tuning, validation and the ranker's label windows read a sample of the
    # groups (and every order, post and membership of theirs); the final refit reads every group
    max_tuning_groups: int = 6000
    validation_folds: int = 4  # weekly validation folds before the cutoff (tuning, gate, fallback)
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
    """Fitted generators at the cutoff, the ranker (or the generator it fell back to), and the
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


def tuning_frames(frames: dict[str, pl.DataFrame], max_groups: int, seed: int) -> dict[str, pl.DataFrame]:
    """The frames of at most `max_groups` groups, sampled with `seed` (all of them when there are
    fewer): what selection learns from on a large platform, at a cost that stops growing with it.
    Every table with a group_id keeps its rows of the sampled groups; the rest is shared."""
    groups = frames["groups"]["group_id"]
    if groups.len() <= max_groups:
        return frames
    keep = groups.sample(max_groups, seed=seed).to_frame()
    return {name: frame.join(keep, on="group_id", how="semi") if "group_id" in frame.columns else frame
            for name, frame in frames.items()}


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


def fold_windows(cutoff: date, config: ProductionConfig) -> list[date]:
    """Start days of the validation folds, newest first: [start, start + h) ending at the cutoff and
    one week apart before it."""
    h = config.horizon_days
    return [cutoff - timedelta(days=h + 7 * j) for j in range(max(config.validation_folds, 1))]


def _fold_groups(config: ProductionConfig) -> int:
    """Groups scored per fold: the validation budget shared out over the folds."""
    return max(config.max_validation_groups // max(config.validation_folds, 1), 200)


def train_production(
    frames: dict[str, pl.DataFrame],
    cutoff: date,
    config: ProductionConfig | None = None,
    log: list[str] | None = None,
) -> Production:
    """Tune, train and gate the production ranker on everything before `cutoff` 00:00.

    No single week decides: generators are tuned, the ranker is validated and the fallback is chosen
    by the mean NDCG over `validation_folds` weekly folds before the cutoff; the ranker's label
    windows all end before the earliest fold."""
    config = config or ProductionConfig()
    log = log if log is not None else []
    everything = frames
    frames = tuning_frames(frames, config.max_tuning_groups, config.seed)
    if frames is not everything:
        log.append(f"tuning, validation and label windows read {config.max_tuning_groups} of "
                   f"{everything['groups'].height} groups (sampled); the refit reads every group")
    h, k = config.horizon_days, config.k
    key = f"ndcg@{k}"
    timings: dict[str, float] = {}
    tick = time.perf_counter()
    starts = fold_windows(cutoff, config)
    per_fold_groups = _fold_groups(config)

    def relevant_at(start: date, j: int) -> pl.DataFrame:
        return sample_groups(relevant_pairs(frames, start, h), per_fold_groups, config.seed + j)

    usable = []
    for j, start in enumerate(starts):
        rel = relevant_at(start, j)
        if rel.height or j == 0:
            usable.append((start, rel))
    folds = ((build_signal(frames, day_start(start), config.signal), rel) for start, rel in usable)
    tuned = tune_folds(folds, _tuning(config))
    timings["tune"] = _lap(tick)
    tick = time.perf_counter()

    # the chosen parameters on every fold: candidates + features for the ranker's validation; the
    # newest fold's signal and models are kept for the nightly's evaluation (ValidationRun)
    rc = config.ranker
    val_rows: list[pl.DataFrame] = []
    catalogs: list[int] = []
    newest = None
    for j, (start, rel) in enumerate(usable):
        sig_j = build_signal(frames, day_start(start), config.signal)
        models_j = {n: make_model(n, seed=config.seed, **p).fit(sig_j) for n, p in tuned.params.items()}
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
    train_parts, labelled_groups, windows_used, first_label = _label_windows(
        frames, earliest, tuned.params, len(newest[0].groups), config)
    timings["features"] = _lap(tick)
    tick = time.perf_counter()

    best = best_generator(tuned.metrics, k)
    ranker, trial, reason, val_metrics = _train_ranker(
        train_parts, val_rows, tuned, best, [rel for _, rel in usable], catalogs, len(newest[0].groups),
        config)
    del train_parts, val_rows  # learnt: free the labelled rows before the refit
    if reason:
        log.append(reason)
    timings["ranker"] = _lap(tick)
    tick = time.perf_counter()

    sig, models = fit_generators(everything, cutoff, tuned.params, config)
    timings["refit"] = _lap(tick)
    pop = tuned.metrics.get("popularity", {}).get(key, 0.0)
    prod_val = val_metrics.get(key, tuned.metrics[best][key]) if ranker is not None else (
        tuned.metrics[best][key])
    fold_days = [str(start) for start, _ in usable]
    report = TrainingReport(
        model="ranker" if ranker is not None else best,
        fallback_reason=reason or None,
        best_generator=best,
        tuning={n: TunedGenerator(tuned.params[n], tuned.metrics[n], tuned.per_fold[n])
                for n in tuned.params},
        ranker_validation=val_metrics,
        gate=Gate(
            production_ndcg=round(prod_val, 6),
            popularity_ndcg=round(pop, 6),
            best_generator_ndcg=round(tuned.metrics[best][key], 6),
            passed=bool(prod_val >= pop),
            folds=len(usable),
            reason=reason or (f"ranker beats the best generator {best!r} on the mean of {len(usable)} "
                              "weekly validation folds"),
        ),
        training_rows=int(ranker.n_train_) if ranker is not None else 0,
        windows={
            "train_labels": [str(first_label), str(earliest)],
            "label_windows": windows_used,
            "labelled_groups": labelled_groups,
            "validation_groups": newest[2]["group_id"].n_unique(),
            "validation": [str(starts[0]), str(cutoff)],
            "validation_folds": fold_days,
        },
        timings_s=timings,
    )
    sig_val, models_val, rel_val = newest
    fold0 = {n: tuned.fold_metrics[n][0] for n in tuned.params}  # the newest fold: [cutoff - h, cutoff)
    newest_ranker = (val_metrics.pop("folds_metrics", None) or [{}])[0]
    validation = ValidationRun(sig_val, models_val, trial, rel_val, fold0, newest_ranker)
    return Production(sig, models, ranker, report.model, report, everything, config, validation)


def _label_windows(frames, before: date, params: dict[str, dict], n_groups: int, config: ProductionConfig
                   ) -> tuple[list[pl.DataFrame], int, int, date]:
    """Labelled, negative-sampled candidate rows of windows that all end by `before`, newest first,
    spaced `window_spacing_days` apart (default: back to back), until enough groups are labelled."""
    h, rc = config.horizon_days, config.ranker
    spacing = getattr(rc, "window_spacing_days", None) or h
    per_window = max(rc.max_groups_per_window, int(rc.window_group_share * n_groups))
    parts, labelled_groups, used, first = [], 0, 0, before - timedelta(days=h)
    for j in range(rc.train_windows):
        if labelled_groups >= rc.label_groups and used >= rc.min_train_windows:
            break
        start = before - timedelta(days=h + j * spacing)
        sig_j = build_signal(frames, day_start(start), config.signal)
        rel_j = relevant_pairs(frames, start, h)
        history = sig_j.daily["age"].max() if sig_j.daily.height else 0
        if rel_j.height == 0 or history is None or history < h:  # no labels, or too little history
            continue
        models_j = {n: make_model(n, seed=config.seed, **p).fit(sig_j) for n, p in params.items()}
        rows_j = labelled(models_j, sig_j, rel_j, frames, rc.n_per_model, per_window, config.seed + j)
        parts.append(sample_training_rows(rows_j, rc.neg_per_group, config.seed + j))
        labelled_groups += rows_j["g"].n_unique()
        used += 1
        first = start
        del sig_j, models_j, rows_j  # one window's signal and models alive at a time
    return parts, labelled_groups, used, first


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
    report: TrainingReport | dict,
    config: ProductionConfig | None = None,
) -> Production:
    """Production at `cutoff` from a ranker trained on an earlier day: the generators are refitted
    on today's signal (with the hyper-parameters that ranker learned from), the ranker is reused."""
    config = config or ProductionConfig()
    if ranker is None and chosen not in params:
        raise ValueError(f"the fallback generator {chosen!r} has no parameters among {sorted(params)}")
    tick = time.perf_counter()
    sig, models = fit_generators(frames, cutoff, params, config)
    report = report if isinstance(report, TrainingReport) else TrainingReport.from_dict(report)
    report = replace(report, timings_s={"refit": _lap(tick)})
    return Production(sig, models, ranker, chosen, report, frames, config)


def _train_ranker(
    train_parts: list[pl.DataFrame],
    val_rows: list[pl.DataFrame],
    tuned: FoldTuned,
    best: str,
    relevant: list[pl.DataFrame],
    catalogs: list[int],
    n_groups: int,
    config: ProductionConfig,
) -> tuple[LearnedRanker | None, LearnedRanker | None, str, dict]:
    """Fit the ranker on the label windows, score it on every validation fold, and keep it only when
    its mean NDCG over the folds beats the best generator's (and the group's own history, `reorder`);
    then refit it with the folds' labels too: (ranker, trial, reason, metrics)."""
    k, key = config.k, f"ndcg@{config.k}"
    ranker, trial, reason, val_metrics = None, None, "", {}
    fit_rows = pl.concat(train_parts, how="vertical_relaxed") if train_parts else pl.DataFrame()
    if fit_rows.height == 0 or fit_rows["label"].n_unique() < 2:
        return None, None, ("no labelled training rows before the validation folds; using the best "
                            f"generator {best!r}"), {}
    trial = LearnedRanker(config.ranker, config.seed).fit(fit_rows)
    per_fold = []
    for rows, rel, catalog in zip(val_rows, relevant, catalogs, strict=True):
        scored = rows.with_columns(score=pl.Series(trial.predict(rows)))
        per_fold.append(ranking_metrics(_top_n_rows(scored, k), rel, k, catalog))
    val_metrics = {m: round(float(np.mean([f[m] for f in per_fold])), 6) for m in per_fold[0]}
    val_metrics["folds"] = [round(f[key], 6) for f in per_fold]
    val_metrics["folds_metrics"] = per_fold
    own = tuned.metrics.get("reorder", {}).get(key, 0.0)
    bar = max(tuned.metrics[best][key], own) * (1.0 + config.ranker.min_gain)
    if val_metrics[key] > bar:
        groups = pl.concat([r.select("_fold", "g").unique() for r in val_rows])
        rc = config.ranker
        per_window = max(rc.max_groups_per_window, int(rc.window_group_share * n_groups))
        extra = []
        for j, rows in enumerate(val_rows):
            g = groups.filter(pl.col("_fold") == j).select("g").sort("g")
            if g.height > per_window:
                g = g.sample(per_window, seed=config.seed + j)
            extra.append(sample_training_rows(rows.join(g, on="g"), config.ranker.neg_per_group,
                                              config.seed + 1 + j).drop("_fold", "group_id", "product_id"))
        both = pl.concat([fit_rows, *extra], how="vertical_relaxed")
        ranker = LearnedRanker(config.ranker, config.seed).fit(both)
    else:
        reason = (
            f"ranker {key} {val_metrics[key]:.4f} (mean of {len(per_fold)} weekly folds) does not beat the "
            f"best generator {best!r} ({tuned.metrics[best][key]:.4f}) or the group's own history "
            f"({own:.4f}); falling back to {best!r}"
        )
    return ranker, trial, reason, val_metrics


def _top_n_rows(scored: pl.DataFrame, k: int) -> pl.DataFrame:
    """group_id, rank, product_id of the k best scores per group of a labelled fold frame."""
    ranked = (scored.sort(["g", "score", "i"], descending=[False, True, False])
              .with_columns(rank=pl.int_range(1, pl.len() + 1).over("g").cast(pl.Int64))
              .filter(pl.col("rank") <= k))
    return ranked.select(pl.col("group_id"), "rank", pl.col("product_id"))


def _tuning(config: ProductionConfig) -> TuningConfig:
    t = config.tuning
    return TuningConfig(models=t.models, grids=t.grids, k=config.k, seed=config.seed)


def _lap(tick: float) -> float:
    return round(time.perf_counter() - tick, 3)

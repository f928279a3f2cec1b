"""Score the ranker on the validation folds, keep it only when it beats, on the mean of the folds,
the best generator and the group's own history, and then fit it on the label windows and every fold.

Each fold is scored by the ranker as it would have stood at the fold's start: trained on the label
windows and on every fold older than it (`chained_scores`), as the generators it is compared with are
fitted on everything before the fold. A single ranker trained on the windows before the earliest fold
scored every fold up to three weeks stale, while the ranker published is refitted up to the as-of
day: on Online Retail pooled into 116 large groups it lost to city popularity on the folds at
2011-11-01 and 11-28 (0.3216 vs 0.3310, 0.4424 vs 0.4585) and beat every generator on the weeks
that followed (1.09x and 1.05x), so the gate threw away the better model."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from recsys.metrics import ranking_metrics
from recsys.production_config import ProductionConfig
from recsys.ranker import LearnedRanker, sample_training_rows
from recsys.tuning import FoldTuned


def train_ranker(
    train_parts: list[pl.DataFrame],
    val_rows: list[pl.DataFrame],
    tuned: FoldTuned,
    best: str,
    relevant: list[pl.DataFrame],
    catalogs: list[int],
    n_groups: int,
    config: ProductionConfig,
) -> tuple[LearnedRanker | None, LearnedRanker | None, str, dict]:
    """Score the ranker on every validation fold (trained on the label windows and the older folds),
    keep it only when its mean NDCG over the folds beats the best generator's (and the group's own
    history, `reorder`), then refit it on the windows and every fold: (ranker, trial, reason, metrics);
    `trial` is the newest fold's ranker."""
    key = f"ndcg@{config.k}"
    fit_rows = pl.concat(train_parts, how="vertical_relaxed") if train_parts else pl.DataFrame()
    if fit_rows.height == 0 or fit_rows["label"].n_unique() < 2:
        return forward_chained(val_rows, tuned, best, relevant, catalogs, n_groups, config)
    per_fold, trial = chained_scores(val_rows, relevant, catalogs, n_groups, config, range(len(val_rows)),
                                     base=fit_rows)
    val_metrics = _fold_means(per_fold, key)
    if len(per_fold) != len(val_rows):  # the windows hold both labels, so no fold can be skipped
        raise AssertionError(f"the ranker scored {len(per_fold)} of {len(val_rows)} validation folds")
    own = tuned.metrics.get("reorder", {}).get(key, 0.0)
    bar = max(tuned.metrics[best][key], own) * (1.0 + config.ranker.min_gain)
    if val_metrics[key] > bar:
        extra = fold_training_rows(val_rows, range(len(val_rows)), n_groups, config)
        ranker = LearnedRanker(config.ranker, config.seed).fit(pl.concat([fit_rows, *extra],
                                                                         how="vertical_relaxed"))
        return ranker, trial, "", val_metrics
    reason = (
        f"ranker {key} {val_metrics[key]:.4f} (mean of {len(per_fold)} weekly folds) does not beat the "
        + (f"best generator {best!r} (the group's own history, {own:.4f}); " if best == "reorder" else
           f"best generator {best!r} ({tuned.metrics[best][key]:.4f}) or the group's own history "
           f"({own:.4f}); ")
        + f"falling back to {best!r}"
    )
    return None, trial, reason, val_metrics


def chained_scores(
    val_rows: list[pl.DataFrame],
    relevant: list[pl.DataFrame],
    catalogs: list[int],
    n_groups: int,
    config: ProductionConfig,
    folds: Iterable[int],
    base: pl.DataFrame | None = None,
) -> tuple[list[tuple[int, dict]], LearnedRanker | None]:
    """Each fold j of `folds` (newest first in `val_rows`) scored by a ranker trained on `base` (the
    label windows, when there are any) and the older folds whose labels end by its start
    (`ended_before`); a fold with nothing of both labels to learn from is skipped. ([(j, metrics)],
    the first fold's ranker)."""
    per_fold, trial = [], None
    for j in folds:
        parts = fold_training_rows(val_rows, ended_before(val_rows, j, config.horizon_days), n_groups, config)
        if base is not None:
            parts = [base, *parts]
        rows = pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()
        if rows.height == 0 or rows["label"].n_unique() < 2:
            continue
        fitted = LearnedRanker(config.ranker, config.seed).fit(rows)
        del rows
        if trial is None:
            trial = fitted  # the newest fold's: what the nightly's evaluation scores
        scored = val_rows[j].with_columns(score=pl.Series(fitted.predict(val_rows[j])))
        top = top_n_rows(scored, config.k)
        per_fold.append((j, ranking_metrics(top, relevant[j], config.k, catalogs[j])))
    return per_fold, trial


def ended_before(val_rows: list[pl.DataFrame], j: int, horizon_days: int) -> list[int]:
    """The folds older than fold j whose label windows ([start, start + horizon)) end by fold j's start:
    folds are a week apart, so with a horizon longer than a week the next older one still overlaps it."""
    def start(o: int) -> int | None:
        day = val_rows[o]["_as_of_day"] if "_as_of_day" in val_rows[o].columns else None
        return int(day[0]) if day is not None and day.len() else None

    mine = start(j)
    return [o for o in range(j + 1, len(val_rows))
            if mine is None or (start(o) is not None and start(o) + horizon_days <= mine)]


def _fold_means(per_fold: list[tuple[int, dict]], key: str) -> dict:
    metrics = {m: round(float(np.mean([f[m] for _, f in per_fold])), 6) for m in per_fold[0][1]}
    metrics["folds"] = [round(f[key], 6) for _, f in per_fold]
    metrics["folds_metrics"] = [f for _, f in per_fold]
    return metrics


def fold_training_rows(val_rows: list[pl.DataFrame], folds, n_groups: int, config: ProductionConfig
                       ) -> list[pl.DataFrame]:
    """Negative-sampled training rows of the validation folds `folds` (at most a label window's
    groups each), without the fold's bookkeeping columns."""
    rc = config.ranker
    per_window = max(rc.max_groups_per_window, int(rc.window_group_share * n_groups))
    out = []
    for j in folds:
        rows = val_rows[j]
        g = rows.select("g").unique().sort("g")
        if g.height > per_window:
            g = g.sample(per_window, seed=config.seed + j)
        out.append(sample_training_rows(rows.join(g, on="g"), rc.neg_per_group, config.seed + 1 + j)
                   .drop("_fold", "group_id", "product_id"))
    return out


def forward_chained(
    val_rows: list[pl.DataFrame],
    tuned: FoldTuned,
    best: str,
    relevant: list[pl.DataFrame],
    catalogs: list[int],
    n_groups: int,
    config: ProductionConfig,
) -> tuple[LearnedRanker | None, LearnedRanker | None, str, dict]:
    """The ranker on a short history, where no label window ends before the earliest fold: each
    fold (newest first in `val_rows`) is scored by a ranker trained on the folds older than it
    (their labels end where it starts), and the ranker is kept only when its mean over the folds so
    scored beats the best generator's and the group's own history's mean over the same folds; it is
    then refitted on every fold. Too few folds for that: the best generator, as before."""
    key = f"ndcg@{config.k}"
    h = config.horizon_days
    scored_folds = [j for j in range(len(val_rows) - 1)
                    if any(val_rows[o]["label"].sum() > 0 for o in ended_before(val_rows, j, h))]
    if not scored_folds:
        return _too_few_folds(best)
    per_fold, trial = chained_scores(val_rows, relevant, catalogs, n_groups, config, scored_folds)
    if not per_fold:
        return _too_few_folds(best)
    folds = [j for j, _ in per_fold]
    val_metrics = _fold_means(per_fold, key)
    val_metrics["forward_chained_folds"] = folds

    best_same = tuned.mean_over(best, key, folds)
    own = tuned.mean_over("reorder", key, folds) if "reorder" in tuned.fold_metrics else 0.0
    bar = max(best_same, own) * (1.0 + config.ranker.min_gain)
    if val_metrics[key] <= bar:
        return None, trial, (
            f"no label windows before the validation folds; the ranker trained on older folds scores "
            f"{key} {val_metrics[key]:.4f} on {len(folds)} fold(s), not above the best generator {best!r} "
            + (f"(the group's own history, {own:.4f}) " if best == "reorder" else
               f"({best_same:.4f}) or the group's own history ({own:.4f}) ")
            + f"on the same folds; falling back to {best!r}"), val_metrics
    everything = pl.concat(fold_training_rows(val_rows, range(len(val_rows)), n_groups, config),
                           how="vertical_relaxed")
    return LearnedRanker(config.ranker, config.seed).fit(everything), trial, "", val_metrics


def _too_few_folds(best: str) -> tuple[None, None, str, dict]:
    return None, None, ("no labelled training rows before the validation folds, and too few folds to "
                        f"chain; using the best generator {best!r}"), {}


def top_n_rows(scored: pl.DataFrame, k: int) -> pl.DataFrame:
    """group_id, rank, product_id of the k best scores per group of a labelled fold frame."""
    ranked = (scored.sort(["g", "score", "i"], descending=[False, True, False])
              .with_columns(rank=pl.int_range(1, pl.len() + 1).over("g").cast(pl.Int64))
              .filter(pl.col("rank") <= k))
    return ranked.select(pl.col("group_id"), "rank", pl.col("product_id"))

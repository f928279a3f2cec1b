"""Train the ranker on the label windows and keep it only when it beats, on the mean of the
validation folds, the best generator and the group's own history; then refit it with the folds."""

from __future__ import annotations

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
        per_fold.append(ranking_metrics(top_n_rows(scored, k), rel, k, catalog))
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


def top_n_rows(scored: pl.DataFrame, k: int) -> pl.DataFrame:
    """group_id, rank, product_id of the k best scores per group of a labelled fold frame."""
    ranked = (scored.sort(["g", "score", "i"], descending=[False, True, False])
              .with_columns(rank=pl.int_range(1, pl.len() + 1).over("g").cast(pl.Int64))
              .filter(pl.col("rank") <= k))
    return ranked.select(pl.col("group_id"), "rank", pl.col("product_id"))

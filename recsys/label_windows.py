"""The ranker's labelled rows: every generator's candidates with their features for the groups of a
window, label 1 where the group ordered the product in it; and the label windows before the folds."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from common.settings import DEFAULT_SEED
from recsys.features import add_features, candidates
from recsys.folds import relevant_pairs
from recsys.models import make_model
from recsys.models.base import Recommender
from recsys.production_config import ProductionConfig
from recsys.ranker import sample_training_rows
from recsys.signal import Signal, SignalSource, build_signal, day_start


def labelled(
    models: dict[str, Recommender],
    signal: Signal,
    relevant: pl.DataFrame,
    frames: dict[str, pl.DataFrame],
    n_per_model: int,
    max_groups: int | None = None,
    seed: int = DEFAULT_SEED,
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


def label_windows(frames, before: date, params: dict[str, dict], n_groups: int, config: ProductionConfig,
                  source: SignalSource | None = None) -> tuple[list[pl.DataFrame], int, int, date]:
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
        sig_j = build_signal(frames, day_start(start), config.signal, source)
        rel_j = relevant_pairs(frames, start, h, known_at=source.until if source else day_start(before))
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

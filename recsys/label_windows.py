"""The ranker's labelled rows: every generator's candidates with their features for the groups of a
window, label 1 where the group ordered the product in it; the label windows before the folds; and
the same weeks a year earlier (common.festivals.year_ago_shift), where the season the forecast week is
in was last labelled: the weeks before the folds say how groups buy in the weeks before the folds, and
before 春节 or 中秋节 those say nothing of an item that sells only with the festival.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from common.festivals import year_ago_shift
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
        rows_j = _window_rows(frames, start, before, params, per_window, config, source, config.seed + j)
        if rows_j is None:
            continue
        parts.append(sample_training_rows(rows_j, rc.neg_per_group, config.seed + j))
        labelled_groups += rows_j["g"].n_unique()
        used += 1
        first = start
        del rows_j  # one window's signal and models alive at a time
    return parts, labelled_groups, used, first


def year_ago_windows(frames, weeks: list[date], before: date, params: dict[str, dict], n_groups: int,
                     config: ProductionConfig, source: SignalSource | None = None
                     ) -> tuple[list[pl.DataFrame], list[date]]:
    """Labelled, negative-sampled rows of the same weeks a year before each of `weeks` (the forecast
    week and the folds: `year_ago_shift` of each, so near an event the weeks stand to its previous
    occurrence as these stand to this one), each ending by `before`; a week whose history then is
    shorter than the horizon, or without orders, is left out. (rows, the weeks' starts)."""
    h, rc = config.horizon_days, config.ranker
    per_window = max(rc.max_groups_per_window, int(rc.window_group_share * n_groups))
    starts = sorted({w - timedelta(days=year_ago_shift(w, h)) for w in weeks[: rc.year_ago_windows]},
                    reverse=True)
    parts, used = [], []
    for j, start in enumerate(starts):
        if start + timedelta(days=h) > before:
            continue
        seed = config.seed + YEAR_AGO_SEEDS + j
        rows_j = _window_rows(frames, start, before, params, per_window, config, source, seed)
        if rows_j is None:
            continue
        parts.append(sample_training_rows(rows_j, rc.neg_per_group, seed))
        used.append(start)
        del rows_j
    return parts, used


YEAR_AGO_SEEDS = 1000  # the year-ago windows' sampling seeds start here (the recent windows': 0, 1, ...)


def _window_rows(frames, start: date, before: date, params: dict[str, dict], per_window: int,
                 config: ProductionConfig, source: SignalSource | None, seed: int) -> pl.DataFrame | None:
    """The labelled rows of the window from `start` (labels as known at `before`), or None when it has
    no labels or less history than the horizon before it."""
    h = config.horizon_days
    sig = build_signal(frames, day_start(start), config.signal, source)
    rel = relevant_pairs(frames, start, h, known_at=source.until if source else day_start(before))
    history = sig.daily["age"].max() if sig.daily.height else 0
    if rel.height == 0 or history is None or history < h:  # no labels, or too little history
        return None
    models = {n: make_model(n, seed=config.seed, **p).fit(sig) for n, p in params.items()}
    return labelled(models, sig, rel, frames, config.ranker.n_per_model, per_window, seed)

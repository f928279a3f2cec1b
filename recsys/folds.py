"""The validation folds of a production training: which weeks, which groups, what each knows.

Fold j covers [as_of_day - h - 7j, as_of_day - 7j) (h = horizon) and is trained on data before it; on a
large platform selection reads a seeded sample of the groups (`tuning_frames`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from common.contract import sample_frames
from recsys.production_config import ProductionConfig
from recsys.signal import day_start, paid_orders


def relevant_pairs(frames: dict[str, pl.DataFrame], start: date, days: int,
                   known_at: datetime | None = None) -> pl.DataFrame:
    """(group_id, product_id) with a paid order in [start 00:00, start + days) platform time: paid as it
    stood at `known_at` (a training's instant: its label windows), else by the final status."""
    t0 = day_start(start)
    o = paid_orders(frames["orders"].lazy(), day_start(start + timedelta(days=days)), known_at=known_at)
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
    return sample_frames(frames, "groups", "group_id", max_groups, seed)


def fold_windows(as_of_day: date, config: ProductionConfig) -> list[date]:
    """Start days of the validation folds, newest first: [start, start + h) ending at the as-of day and
    one week apart before it."""
    h = config.horizon_days
    return [as_of_day - timedelta(days=h + 7 * j) for j in range(max(config.validation_folds, 1))]


def fold_groups(config: ProductionConfig) -> int:
    """Groups scored per fold: the validation budget shared out over the folds."""
    return max(config.max_validation_groups // max(config.validation_folds, 1), 200)

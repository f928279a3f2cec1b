"""The nightly's recsys stage: train on everything before --date 00:00 and pick for that date."""

from __future__ import annotations

import logging
import time
from datetime import date

import polars as pl

from recsys.picks import PicksConfig, make_picks
from recsys.production import ProductionConfig, train_production

log = logging.getLogger("circlebuy.recsys")


def build_picks(
    frames: dict[str, pl.DataFrame], for_date: date, config: PicksConfig | None = None, seed: int = 7
) -> tuple[pl.DataFrame, dict]:
    """The picks table of DESIGN.md "Outputs" for every group, and an info dict (model chosen,
    fallback reason, validation metrics, the quality gate, training rows, timings)."""
    config = config or PicksConfig()
    tick = time.perf_counter()
    notes: list[str] = []
    prod = train_production(frames, for_date, ProductionConfig(k=config.n, seed=seed), notes)
    for note in notes:
        log.warning(note)
    train_s = time.perf_counter() - tick
    tick = time.perf_counter()
    picks, picks_info = make_picks(prod, for_date, config)
    info = {
        **prod.info,
        "model_version": f"{prod.chosen}@{for_date.isoformat()}",
        "picks": picks_info,
        "groups_with_picks": picks["group_id"].n_unique(),
    }
    info["timings_s"] = {
        **prod.info["timings_s"],
        "train_total": round(train_s, 3),
        "picks": round(time.perf_counter() - tick, 3),
    }
    return picks, info

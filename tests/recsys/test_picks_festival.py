"""Festival-only products (mooncakes for Mid-Autumn) are picked in the days before their festival and
stop being picked once it is over, though they were among the last weeks' sellers: the picks publish
only what is on sale, and the festival's campaigns have ended."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from common.contract import TABLES
from pipelines.generate import run_generate
from recsys.picks import make_picks
from recsys.production import ProductionConfig, train_production
from recsys.ranker import RankerConfig
from recsys.tuning import TuningConfig

MID_AUTUMN = date(2026, 9, 25)
BEFORE = date(2026, 9, 22)
AFTER = date(2026, 10, 3)  # a week after the festival
FAST = ProductionConfig(
    validation_folds=2,
    ranker=RankerConfig(max_iter=30, train_windows=1),
    tuning=TuningConfig(models=("popularity", "reorder", "itemknn_cosine"), grids={
        "popularity": [{"half_life": 7.0}], "reorder": [{}], "itemknn_cosine": [{"K": 20}]}),
)


@pytest.fixture(scope="module")
def festival_world(tmp_path_factory):
    out = tmp_path_factory.mktemp("mid-autumn")
    run_generate(out, groups=150, start=date(2026, 8, 10), end=AFTER, seed=4)
    frames = {t: pl.read_parquet(out / f"{t}.parquet") for t in TABLES if (out / f"{t}.parquet").exists()}
    events = json.loads((out / "_truth" / "calendar.json").read_text())["events"]
    festival = {p for e in events for p in e.get("festival", {}).get("product_ids", [])}
    return frames, festival


def test_festival_only_products_stop_being_picked_after_their_event(festival_world):
    frames, festival = festival_world
    assert festival, "the world sells festival-only products"
    orders = frames["orders"].filter(pl.col("product_id").is_in(list(festival)))
    assert orders.height > 0  # they sold around the festival
    assert orders["ordered_at"].max().date() <= AFTER
    # in the days before the festival they are picked (the stock-up: on sale, selling)
    before, _ = make_picks(train_production(frames, BEFORE, FAST), BEFORE)
    assert set(before["product_id"]) & festival
    picks, _ = make_picks(train_production(frames, AFTER, FAST), AFTER)
    assert picks.height > 0
    assert not set(picks["product_id"]) & festival

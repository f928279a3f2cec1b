"""Forecast behaviour on a small random world: never negative, ordered quantiles, no leakage,
the dump agrees with the reported metrics, demand rows and vintages."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pipelines.evaluate.forecast as ef
from aggregation.demand import DEMAND_SCHEMA, DemandConfig, build_demand
from aggregation.metrics import score
from aggregation.nowcast import NowcastConfig
from aggregation.pickup import Pickup
from aggregation.presale import PresaleConfig
from aggregation.timeseries import TimeSeriesConfig
from pipelines.demand_stage import store_vintages
from pipelines.evaluate.config import EvaluateConfig
from tests.aggregation.synth import TZ, world

FAST_TS = TimeSeriesConfig(max_iter=30, train_origins=3, max_train_rows=20_000)
FAST_PRESALE = PresaleConfig(nowcast=NowcastConfig(max_iter=30), max_train_units=600, train_days=14)
FAST = DemandConfig(presale=FAST_PRESALE, timeseries=FAST_TS)
AS_OF = datetime(2026, 2, 4, 0, tzinfo=TZ)


@pytest.fixture(scope="module")
def campaign_world():
    return world(days=36, products=8, groups=10, seed=3)


@pytest.fixture(scope="module")
def daily_world():
    return world(days=50, products=8, groups=10, seed=4, campaigns=False)


def ordered_and_non_negative(frame: pl.DataFrame, p10="forecast_p10", p50="forecast_p50", p90="forecast_p90"):
    lo, mid, hi = (frame[c].to_numpy() for c in (p10, p50, p90))
    assert frame.height > 0
    assert np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))
    assert np.all(lo >= 0) and np.all(lo <= mid + 1e-9) and np.all(mid <= hi + 1e-9)


@pytest.fixture(scope="module")
def campaign_demand(campaign_world):
    return build_demand(campaign_world, AS_OF, FAST)


def test_campaign_demand_rows(campaign_world, campaign_demand):
    demand, info = campaign_demand
    assert list(demand.schema.items()) == list(DEMAND_SCHEMA.items())
    ordered_and_non_negative(demand)
    # campaigns open at 08:00: at midnight none is open, those of the next two days are upcoming
    assert demand["campaign_id"].n_unique() == 8 * 2 * 2
    assert set(demand["method"].unique()) <= {"bottom_up", "nowcast_gbm", "pickup_multiplicative"}
    assert (demand["ordered_qty"] == 0).all()
    assert (demand["suggested_qty"] >= 0).all()
    assert set(info["gate"]) >= {"production_wape", "seasonal_naive_wape", "passed", "reason",
                                 "production_wape_scope"}


def test_open_campaign_is_nowcast_from_its_booking_state(campaign_world):
    noon = datetime(2026, 2, 5, 14, tzinfo=TZ)
    demand, _ = build_demand(campaign_world, noon, FAST)
    today = demand.filter(pl.col("window_elapsed") > 0)
    assert today.height == 16 and (today["window_elapsed"] - 6 / 15).abs().max() < 1e-9
    ordered_and_non_negative(today)
    assert (today["forecast_p50"] >= today["ordered_qty"]).all()
    assert (today["suggested_qty"] >= today["ordered_qty"]).all()


def test_nothing_after_the_instant_leaks(campaign_world, campaign_demand):
    cut = {**campaign_world, "orders": campaign_world["orders"].filter(pl.col("ordered_at") <= AS_OF)}
    again, _ = build_demand(cut, AS_OF, FAST)
    assert_frame_equal(again, campaign_demand[0])


def test_max_qty_caps_forecast_and_suggestion(campaign_world):
    capped = campaign_world["campaigns"].with_columns(pl.lit(3, pl.Int64).alias("max_qty"))
    demand, _ = build_demand({**campaign_world, "campaigns": capped}, AS_OF, FAST)
    assert (demand["suggested_qty"] <= 3).all() and (demand["forecast_p90"] <= 3).all()


def test_vintages_are_idempotent(campaign_demand):
    demand, _ = campaign_demand
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    assert store_vintages(con, demand) == demand.height
    assert store_vintages(con, demand) == demand.height
    later = demand.with_columns(pl.col("as_of") + pl.duration(days=1))
    store_vintages(con, later)
    counts = con.execute("SELECT count(*) FROM forecast_vintages GROUP BY as_of ORDER BY as_of").fetchall()
    assert [n for (n,) in counts] == [demand.height, demand.height]


def test_daily_demand_without_campaigns(daily_world):
    demand, info = build_demand(daily_world, datetime(2026, 2, 15, 0, tzinfo=TZ), FAST)
    ordered_and_non_negative(demand)
    assert demand["campaign_id"].null_count() == demand.height
    assert sorted(demand["delivery_on"].unique().to_list())[0] == date(2026, 2, 15)
    assert demand["delivery_on"].n_unique() == 7
    assert info["mode"] == "daily" and "passed" in info["gate"]


def test_multiplicative_pickup_is_safe_with_almost_nothing_ordered():
    snaps = pl.DataFrame({"category": ["fresh"] * 40, "j": [0, 1, 5, 9] * 10,
                          "qty_at": [0, 1, 10, 18] * 10, "final_qty": [20] * 40})
    pick = Pickup().fit(snaps)
    state = pl.DataFrame({"category": ["fresh", "fresh", "new"], "share": [0.1, 0.1, 0.1],
                          "qty_at": [0, 1, 1]})
    preds = pick.predict(state)
    p10, p50, p90 = preds["multiplicative"]
    assert np.all(p50 < 25) and np.all(p50 >= state["qty_at"].to_numpy())
    assert np.all(p10 <= p50) and np.all(p50 <= p90)
    assert preds["additive"][1][0] == pytest.approx(19.0)  # 0 + mean of 20 - 1


def test_dump_published_and_scored_are_the_same_numbers(daily_world):
    """--dump-forecasts, the published demand table and the frame `production` is scored on agree."""
    as_of = date(2026, 2, 15)
    config = EvaluateConfig(as_of_day=as_of, horizon_days=7, forecast=FAST_TS)
    block, dump = ef.evaluate_daily(daily_world, config)
    demand, _ = build_demand(daily_world, datetime(2026, 2, 15, 0, tzinfo=TZ), FAST)
    published = demand.select("product_id", "warehouse_id", pl.col("delivery_on").alias("day"),
                              pl.col("forecast_p10").alias("p10"), pl.col("forecast_p50").alias("p50"),
                              pl.col("forecast_p90").alias("p90"))
    key = ["product_id", "warehouse_id", "day"]
    assert_frame_equal(dump.sort(key), published.sort(key))
    truth = ef.actuals(daily_world, datetime(2026, 2, 15, 0, tzinfo=TZ), 7)
    assert ef.score_frame(dump, truth) == block["models"]["production"]


def test_evaluate_dump_agrees_with_reported_metrics(campaign_world):
    config = EvaluateConfig(as_of_day=date(2026, 1, 30), horizon_days=5, forecast=FAST_TS,
                            presale=FAST_PRESALE)
    block, dump = ef.evaluate_forecast(campaign_world, config)
    assert dump.columns == ["product_id", "warehouse_id", "day", "p10", "p50", "p90"]
    ordered_and_non_negative(dump, "p10", "p50", "p90")
    truth = ef.actuals(campaign_world, AS_OF.replace(day=30, month=1), 5)
    joined = dump.join(truth, on=["product_id", "warehouse_id", "day"], how="left").with_columns(
        pl.col("qty").fill_null(0))
    again = score(*(joined[c].to_numpy() for c in ("qty", "p10", "p50", "p90")))
    assert again == block["models"]["production"]
    assert block["series_evaluated"] == dump.select("product_id", "warehouse_id").n_unique()
    assert set(block["models"]) == {*ef.STAT_MODELS, "production"} - set(ef.HEAD_ONLY)
    assert set(block["head"]["models"]) == {*ef.STAT_MODELS, "production"}
    presale = block["presale"]
    assert presale["campaigns_evaluated"] == 8 * 2 * 5
    assert set(presale["at_share"]) == {"0.00", "0.25", "0.50", "0.75"}
    assert set(presale["at_share"]["0.50"]) == {"additive", "multiplicative", "production"}


def test_the_nightly_evaluates_daily_forecasts_on_a_product_sample(daily_world):
    """A sample of whole products (every warehouse's series of each): the same models, the same
    scores for a product in and out of the sample, a cost that stops growing with the catalogue."""
    from aggregation.daily import product_sample

    products = daily_world["products"].height
    small = product_sample(daily_world, 3, seed=1)
    assert small["products"].height == 3
    assert set(small["orders"]["product_id"]) <= set(small["products"]["product_id"])
    assert product_sample(daily_world, products + 1, seed=1) is daily_world
    config = EvaluateConfig(as_of_day=date(2026, 2, 15), horizon_days=7, forecast=FAST_TS, max_products=3)
    block, dump = ef.evaluate_daily(daily_world, config)
    assert block["products_sampled"] == 3
    sampled = product_sample(daily_world, 3, seed=config.seed)
    assert set(dump["product_id"]) <= set(sampled["products"]["product_id"])

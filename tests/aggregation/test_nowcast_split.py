"""The nowcast of the live campaigns split by warehouse (what each Spark task of `nightly --engine
spark` computes, see pipelines.spark_stages.nowcast_on_spark) gives the rows of the whole: each
warehouse's share of aggregation.demand.nowcast_routes through the same nowcast_rows, concatenated,
equals nowcast_rows over every frame, on a world with campaigns without a warehouse (serving both),
orders and posts of a group for another warehouse's campaign, and cancellations. Pure: no Spark."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from aggregation.decision import DecisionConfig
from aggregation.demand import KEY, live_campaigns, nowcast_routes, nowcast_rows
from aggregation.nowcast import NowcastConfig
from aggregation.presale import PresaleConfig, PresaleForecaster
from tests.aggregation.synth import TZ, world

AS_OF = datetime(2026, 1, 30, 14, tzinfo=TZ)  # the day's campaigns open since 08:00
CONFIG = PresaleConfig(nowcast=NowcastConfig(max_iter=20), max_train_units=400, train_days=14)
SORT = ["campaign_id", "warehouse_id"]


def mixed_world() -> dict[str, pl.DataFrame]:
    """The synthetic world, with the live campaigns of even products serving every warehouse
    (warehouse null), every fifth order of a live campaign placed by a group of the other warehouse,
    and one post per order of a live campaign."""
    frames = world(days=32, products=6, groups=10, seed=8)
    campaigns, orders, groups = frames["campaigns"], frames["orders"], frames["groups"]
    live_ids = live_campaigns(campaigns, AS_OF, _demand_config())["campaign_id"]
    everywhere = pl.col("campaign_id").is_in(live_ids.implode()) & pl.col("product_id").str.slice(1).cast(
        pl.Int64).mod(2).eq(0)
    campaigns = campaigns.with_columns(pl.when(everywhere).then(None).otherwise(pl.col("warehouse_id"))
                                       .alias("warehouse_id"))
    other = dict(zip(groups["group_id"], reversed(groups["group_id"].to_list()), strict=True))
    live_orders = pl.col("campaign_id").is_in(live_ids.implode())
    orders = orders.with_row_index("_i").with_columns(
        pl.when(live_orders & (pl.col("_i") % 5 == 0)).then(pl.col("group_id").replace_strict(other))
        .otherwise(pl.col("group_id")).alias("group_id")).drop("_i")
    posted = orders.filter(live_orders)
    posts = pl.DataFrame({
        "post_id": [f"x{i}" for i in range(posted.height)], "group_id": posted["group_id"],
        "product_id": posted["product_id"], "campaign_id": posted["campaign_id"],
        "posted_at": posted["ordered_at"] - timedelta(minutes=5)}).cast(frames["posts"].schema)
    return {**frames, "campaigns": campaigns, "orders": orders, "posts": posts}


def _demand_config():
    from aggregation.demand import DemandConfig

    return DemandConfig(presale=CONFIG)


@pytest.fixture(scope="module")
def fitted():
    frames = mixed_world()
    model = PresaleForecaster(CONFIG).fit(frames, AS_OF)
    return frames, model, live_campaigns(frames["campaigns"], AS_OF, _demand_config())


@pytest.mark.parametrize("passed", [True, False])
def test_the_rows_of_each_warehouse_are_the_rows_of_the_whole(fitted, passed):
    frames, model, live = fitted
    assert live["warehouse_id"].null_count() > 0 and live["warehouse_id"].drop_nulls().len() > 0
    whole = nowcast_rows(model, frames, live, AS_OF, passed, DecisionConfig())
    assert whole.height > 0 and (whole["ordered_qty"] > 0).any() and whole["warehouse_id"].n_unique() == 2
    routes = nowcast_routes(model, frames, live, AS_OF)
    assert set(routes) == {"campaigns", "groups", "products", "orders", "posts"}
    parts = []
    for key in routes["campaigns"][KEY].unique().sort():
        share = {name: rows.filter(pl.col(KEY) == key).drop(KEY) for name, rows in routes.items()}
        assert share["orders"].height < frames["orders"].height  # only what the warehouse needs
        rows = nowcast_rows(model, share, share["campaigns"], AS_OF, passed, DecisionConfig())
        assert (rows["warehouse_id"] == key).all()
        parts.append(rows)
    split = pl.concat(parts)
    assert_frame_equal(split.sort(SORT), whole.sort(SORT), check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def test_the_states_of_each_warehouse_are_the_states_of_the_whole(fitted):
    """Every column the model reads (pooling, exposure, group reach, priors), not only the rows'."""
    frames, model, live = fitted
    instants = live.select("campaign_id", pl.lit(AS_OF).alias("instant"))
    whole = model.state_at(frames, instants)
    assert (whole["reach_prod"] > 0).any() and (whole["posts_at"] > 0).any()
    routes = nowcast_routes(model, frames, live, AS_OF)
    parts = []
    for key in routes["campaigns"][KEY].unique():
        share = {name: rows.filter(pl.col(KEY) == key).drop(KEY) for name, rows in routes.items()}
        parts.append(model.state_at(share, instants.join(share["campaigns"], on="campaign_id", how="semi")))
    assert_frame_equal(pl.concat(parts).sort(SORT), whole.sort(SORT), check_exact=False, rel_tol=1e-9,
                       abs_tol=1e-9)


def test_the_fitted_forecaster_pickles(fitted):
    frames, model, live = fitted
    again = pickle.loads(pickle.dumps(model))
    want = nowcast_rows(model, frames, live, AS_OF, True, DecisionConfig())
    assert_frame_equal(nowcast_rows(again, frames, live, AS_OF, True, DecisionConfig()), want)

"""Behaviour of the synthetic world: campaigns, exposure, booking curve, re-orders, caps, statuses."""

from __future__ import annotations

from datetime import datetime, time

import numpy as np
import polars as pl
import pytest

from pipelines.generate.config import TZ
from tests.pipelines.generate_fixtures import MEDIUM, medium_world, read  # noqa: F401


@pytest.fixture(scope="module")
def world(medium_world):  # noqa: F811
    return {t: read(medium_world, t) for t in ("orders", "campaigns", "posts", "products", "groups")} | {
        "raw": medium_world}


def test_orders_lie_inside_their_campaign_window_and_match_it(world):
    o = world["orders"].join(world["campaigns"], on="campaign_id", how="left", suffix="_c")
    assert o["opens_at"].null_count() == 0  # every order has a known campaign
    assert (o["ordered_at"] >= o["opens_at"]).all() and (o["ordered_at"] <= o["closes_at"]).all()
    assert (o["product_id"] == o["product_id_c"]).all() and (o["unit_price"] == o["price"]).all()
    o = o.join(world["groups"].select("group_id", pl.col("warehouse_id").alias("group_wh")), on="group_id")
    assert (o["warehouse_id"].is_null() | (o["warehouse_id"] == o["group_wh"])).all()
    end = datetime.combine(MEDIUM["end"], time(23, 59, 59), tzinfo=TZ)
    assert o["status_at"].max() <= end and world["campaigns"]["closes_at"].max() <= end


def test_members_order_only_while_in_the_group_and_posts_fall_in_their_campaign(world):
    ms = read(world["raw"], "memberships")
    o = world["orders"].join(ms, on=["member_id", "group_id"], how="left")
    assert o["joined_on"].null_count() == 0  # the member belongs to the group it orders in
    day = o["ordered_at"].dt.date()
    assert (o["joined_on"] <= day).all() and (o["left_on"].is_null() | (o["left_on"] > day)).all()
    p = world["posts"].join(world["campaigns"], on="campaign_id", suffix="_c")
    assert (p["product_id"] == p["product_id_c"]).all()
    assert ((p["posted_at"] >= p["opens_at"]) & (p["posted_at"] < p["closes_at"])).all()
    posts_per_group_day = world["posts"].group_by("group_id", pl.col("posted_at").dt.date()).len()["len"]
    assert 2 <= posts_per_group_day.mean() <= 8


def test_campaigns_are_mostly_daily_morning_to_2300_with_some_presales_and_caps(world):
    c = world["campaigns"].with_columns(
        span=(pl.col("closes_at").dt.date() - pl.col("opens_at").dt.date()).dt.total_days())
    assert (c["closes_at"] > c["opens_at"]).all()
    assert (c["closes_at"].dt.hour() == 23).all()
    assert c["opens_at"].dt.hour().is_between(8, 10).all()
    assert 0.75 < (c["span"] == 0).mean() < 1.0 and c["span"].max() == 3
    lead = (c["delivery_on"] - c["closes_at"].dt.date()).dt.total_days()
    assert lead.is_between(1, 2).all()
    assert 0.03 < c["max_qty"].is_not_null().mean() < 0.4
    assert 0 < c["warehouse_id"].is_null().mean() < 0.1


def test_max_qty_is_never_exceeded_and_some_campaigns_sell_out(world):
    sold = world["orders"].group_by("campaign_id").agg(pl.col("quantity").sum())
    capped = world["campaigns"].filter(pl.col("max_qty").is_not_null()).join(sold, on="campaign_id")
    assert (capped["quantity"] <= capped["max_qty"]).all()
    assert (capped["quantity"] == capped["max_qty"]).sum() >= 5


def test_a_few_percent_are_cancelled_or_refunded_with_a_later_status_time(world):
    o = world["orders"]
    share = o["status"].value_counts(normalize=True)
    share = dict(zip(share["status"], share["proportion"], strict=True))
    assert 0.01 < share["cancelled"] + share["refunded"] < 0.10 and share["refunded"] > 0
    paid = o.filter(pl.col("status") == "paid")
    assert (paid["status_at"] == paid["ordered_at"]).all()
    other = o.filter(pl.col("status") != "paid")
    assert (other["status_at"] >= other["ordered_at"]).all()
    refunded = o.filter(pl.col("status") == "refunded")
    assert (refunded["status_at"] - refunded["ordered_at"]).dt.total_hours().min() >= 10


def test_cheap_frequent_categories_sell_more_per_post_than_dear_rare_ones(world):
    p = world["products"]
    price = dict(p.group_by("category").agg(pl.col("price").median()).iter_rows())
    assert max(price["fresh"], price["household"]) < min(price["beauty"], price["health"])
    n_orders = world["orders"].join(p, on="product_id").group_by("category").len()
    n_posts = world["posts"].join(p, on="product_id").group_by("category").len()
    per_post = dict(n_orders.join(n_posts, on="category").select(
        "category", pl.col("len") / pl.col("len_right")).iter_rows())
    assert min(per_post["fresh"], per_post["household"]) > max(per_post["beauty"], per_post["health"])


def first_posts(world) -> pl.DataFrame:
    """Orders joined to the first post of their campaign into their group, if any."""
    first = world["posts"].group_by("group_id", "campaign_id").agg(pl.col("posted_at").min())
    return world["orders"].join(first, on=["group_id", "campaign_id"], how="left")


def test_exposure_drives_most_orders_but_some_come_by_word_of_mouth(world):
    o = first_posts(world)
    after_post = (o["posted_at"].is_not_null() & (o["posted_at"] <= o["ordered_at"])).mean()
    assert 0.6 < after_post < 0.98


def test_booking_curve_bursts_after_the_post_and_rises_before_cutoff(world):
    o = first_posts(world).join(world["campaigns"].select("campaign_id", "closes_at", "opens_at"),
                                on="campaign_id")
    o = o.filter(pl.col("posted_at").is_not_null() & (pl.col("posted_at") <= pl.col("ordered_at"))
                 & (pl.col("closes_at").dt.date() == pl.col("opens_at").dt.date()))
    x = ((o["ordered_at"] - o["posted_at"]) / (o["closes_at"] - o["posted_at"])).to_numpy()
    hist = np.histogram(np.clip(x, 0, 1 - 1e-9), bins=10, range=(0, 1))[0]
    middle = hist[3:7].mean()
    assert hist[0] > 2 * middle, hist
    assert hist[9] > 1.2 * middle, hist


def test_weekends_buy_more_than_early_weekdays(world):
    by_day = world["orders"].group_by(pl.col("ordered_at").dt.date().alias("day")).len().with_columns(
        wd=pl.col("day").dt.weekday())
    mean = dict(by_day.group_by("wd").agg(pl.col("len").mean()).iter_rows())
    assert (mean[6] + mean[7]) / 2 > 1.05 * (mean[1] + mean[2]) / 2


def test_consumables_are_reordered_on_their_cycle(world):
    truth = pl.read_parquet(world["raw"] / "_truth" / "product_appeal.parquet")
    o = world["orders"].filter(pl.col("status") == "paid").select(
        "member_id", "product_id", day=pl.col("ordered_at").dt.date()).unique()
    o = o.sort("member_id", "product_id", "day")
    gaps = o.with_columns(gap=(pl.col("day") - pl.col("day").shift(1).over("member_id", "product_id"))
                          .dt.total_days()).drop_nulls("gap")
    per = gaps.group_by("product_id").agg(pl.col("gap").median(), pl.len()).filter(pl.col("len") >= 8)
    per = per.join(truth, on="product_id").filter(pl.col("reorder_cycle_days").is_not_null())
    assert per.height >= 10
    ratio = (per["gap"] / per["reorder_cycle_days"]).median()
    assert 0.75 < ratio < 1.3, ratio
    assert per.select(pl.corr("gap", "reorder_cycle_days", method="spearman")).item() > 0.5
    # non-consumables are rarely bought twice by the same member
    once = gaps.join(truth, on="product_id").filter(pl.col("reorder_cycle_days").is_null()).height
    assert once < 0.3 * gaps.height


def test_group_orders_follow_their_latent_taste(world):
    truth = pl.read_parquet(world["raw"] / "_truth" / "group_taste.parquet")
    counts = world["orders"].join(world["products"], on="product_id").group_by("group_id", "category").len()
    df = truth.join(counts, on=["group_id", "category"], how="left").with_columns(pl.col("len").fill_null(0))
    # a group created a few days before the end may have no orders (and no shares) yet
    df = df.filter(pl.col("len").sum().over("group_id") > 0)
    # remove group size and category popularity, then compare with the latent affinity
    df = df.with_columns(share=pl.col("len") / pl.col("len").sum().over("group_id")).with_columns(
        rel=pl.col("share") / pl.col("share").mean().over("category"))
    assert df.select(pl.corr("rel", "affinity", method="spearman")).item() > 0.4


def test_price_sensitive_groups_buy_cheaper_and_appealing_products_sell_more(world):
    truth = pl.read_parquet(world["raw"] / "_truth" / "groups.parquet")
    p = world["products"].with_columns(rel_price=pl.col("price") / pl.col("price").median().over("category"))
    paid = world["orders"].join(p.select("product_id", "rel_price"), on="product_id")
    per_group = paid.group_by("group_id").agg(pl.col("rel_price").log().mean()).join(truth, on="group_id")
    assert per_group.select(pl.corr("rel_price", "price_sensitivity", method="spearman")).item() < -0.2
    appeal = pl.read_parquet(world["raw"] / "_truth" / "product_appeal.parquet")
    sold = world["orders"].group_by("product_id").len()
    shown = world["posts"].group_by("product_id").len().rename({"len": "posts"})
    rate = sold.join(shown, on="product_id").filter(pl.col("posts") >= 20).join(appeal, on="product_id")
    rate = rate.with_columns(per_post=pl.col("len") / pl.col("posts"))
    within = rate.group_by("category").agg(pl.corr("per_post", "appeal", method="spearman").alias("rho"))
    assert within["rho"].median() > 0.3

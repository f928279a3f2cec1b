"""Golden-frame tests of pooling: cancellations, refunds, exact as-of cut, warehouses, multi-day windows."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from polars.testing import assert_frame_equal

from aggregation.booking import booking_snapshots
from aggregation.pooling import TS, pool_campaigns, pool_campaigns_at, pool_daily
from aggregation.presale import finals
from tests.aggregation.frames import at, world

COLS = ["campaign_id", "warehouse_id", "ordered_qty", "groups_ordering", "members_ordering",
        "first_order_at", "last_order_at", "window_elapsed"]


def expected(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"campaign_id": pl.String, "warehouse_id": pl.String,
                                      "ordered_qty": pl.Int64, "groups_ordering": pl.Int64,
                                      "members_ordering": pl.Int64, "first_order_at": TS,
                                      "last_order_at": TS, "window_elapsed": pl.Float64}, orient="row")


def pool(instant, **kw) -> pl.DataFrame:
    w = world()
    return pool_campaigns(w["orders"], w["campaigns"], w["groups"], w["products"], instant, **kw).select(COLS)


def test_order_placed_exactly_at_the_cut_counts_and_cancellation_after_it_does_not_remove():
    # o3 is placed exactly at 2026-03-02 09:00; o2 was cancelled later (10:00): still paid at the cut
    got = pool(at(2, 9))
    want = expected([("C1", "W1", 2 + 3 + 4, 2, 3, at(1, 9), at(2, 9), 25 / 48)])
    assert_frame_equal(got, want)


def test_cancellation_exactly_at_the_cut_is_already_out():
    got = pool(at(2, 10))
    want = expected([("C1", "W1", 2 + 4, 2, 2, at(1, 9), at(2, 9), 26 / 48)])
    assert_frame_equal(got, want)


def test_one_microsecond_before_an_order_it_is_not_there():
    got = pool(at(2, 9) - timedelta(microseconds=1))
    assert got["ordered_qty"].to_list() == [5]


def test_campaign_for_every_warehouse_pools_by_the_groups_warehouse():
    got = pool(at(1, 12))
    want = expected([
        ("C1", "W1", 2 + 3, 1, 2, at(1, 9), at(1, 12), 4 / 48),
        ("C2", "W1", 1, 1, 1, at(1, 9), at(1, 9), 4 / 15),
        ("C2", "W2", 6, 1, 1, at(1, 10), at(1, 10), 4 / 15),  # o7 was cancelled at once
    ])
    assert_frame_equal(got, want)


def test_open_campaign_with_no_orders_yet_has_a_zero_row_per_warehouse():
    got = pool(at(1, 8, 30))
    assert got.select("campaign_id", "warehouse_id", "ordered_qty").rows() == [
        ("C1", "W1", 0), ("C2", "W1", 0), ("C2", "W2", 0)]
    assert got["first_order_at"].null_count() == 3


def test_finals_count_refunds_after_the_cutoff_but_not_cancellations_before_it():
    w = world()
    got = finals(w["orders"], w["campaigns"], w["groups"], w["products"]).sort("campaign_id", "warehouse_id")
    assert got.select("campaign_id", "warehouse_id", "final_qty").rows() == [
        ("C1", "W1", 2 + 4 + 5), ("C2", "W1", 1), ("C2", "W2", 6)]


def test_per_campaign_instants():
    w = world()
    instants = pl.DataFrame({"campaign_id": ["C1", "C2"], "instant": [at(2, 21), at(1, 9, 30)]},
                            schema={"campaign_id": pl.String, "instant": TS})
    got = pool_campaigns_at(w["orders"], w["campaigns"], w["groups"], w["products"], instants)
    assert got.select("campaign_id", "warehouse_id", "ordered_qty").rows() == [
        ("C1", "W1", 2 + 4 + 5), ("C2", "W1", 1), ("C2", "W2", 0)]
    assert got.filter(pl.col("campaign_id") == "C1")["supplier_id"].to_list() == ["S1"]


def test_a_campaign_asked_for_at_two_instants_is_pooled_at_each():
    w = world()
    instants = pl.DataFrame({"campaign_id": ["C1", "C1"], "instant": [at(1, 12), at(2, 21)]},
                            schema={"campaign_id": pl.String, "instant": TS})
    got = pool_campaigns_at(w["orders"], w["campaigns"], w["groups"], w["products"], instants)
    assert sorted(got.select("instant", "ordered_qty").rows()) == [(at(1, 12), 2 + 3), (at(2, 21), 2 + 4 + 5)]


def test_orders_without_status_times_pool_as_never_changed():
    # status_at is optional in the contract: a paid line counts from its placing, a cancelled one never
    w = world()
    orders = w["orders"].drop("status_at")
    got = pool_campaigns_at(orders, w["campaigns"], w["groups"], w["products"],
                            pl.DataFrame({"campaign_id": ["C1"], "instant": [at(2, 21)]},
                                         schema={"campaign_id": pl.String, "instant": TS}))
    paid = w["orders"].filter((pl.col("campaign_id") == "C1") & (pl.col("status") == "paid"))
    assert got["ordered_qty"].to_list() == [paid["quantity"].sum()]
    assert booking_snapshots(orders, w["campaigns"], w["groups"], w["products"], grid=2)["qty_at"].sum() > 0


def test_daily_pooling_per_product_warehouse_day():
    w = world()
    got = pool_daily(w["orders"], w["groups"], w["campaigns"], at(10, 0))
    want = pl.DataFrame(
        [("P1", "W1", date(2026, 3, 1), 9), ("P1", "W1", date(2026, 3, 2), 4),
         ("P1", "W2", date(2026, 3, 2), 1), ("P2", "W1", date(2026, 3, 1), 1),
         ("P2", "W2", date(2026, 3, 1), 6)],
        schema={"product_id": pl.String, "warehouse_id": pl.String, "day": pl.Date, "qty": pl.Int64},
        orient="row")
    assert_frame_equal(got, want)


def test_daily_pooling_without_campaign_and_as_of():
    w = world()
    got = pool_daily(w["orders"], w["groups"], w["campaigns"], at(2, 0, 30), without_campaign_only=True)
    assert got.rows() == [("P1", "W1", date(2026, 3, 1), 7)]  # o9 (01:00 on the 2nd) not yet placed


def test_booking_snapshots_match_exact_pooling_on_the_grid():
    # a training state is pooled as a live one: quantity, groups and members still paid at its instant
    # (a group or member whose lines were all cancelled by then no longer counts)
    w = world()
    snaps = booking_snapshots(w["orders"], w["campaigns"], w["groups"], w["products"], grid=4)
    for (cid, wh, j, instant, qty, groups, members) in snaps.select(
            "campaign_id", "warehouse_id", "j", "instant", "qty_at", "groups_at", "members_at").rows():
        inst = pl.DataFrame({"campaign_id": [cid], "instant": [instant]}, schema={"campaign_id": pl.String,
                                                                                  "instant": TS})
        exact = pool_campaigns_at(w["orders"], w["campaigns"], w["groups"], w["products"], inst)
        row = exact.filter(pl.col("warehouse_id") == wh)
        assert (row["ordered_qty"].item(), row["groups_ordering"].item(), row["members_ordering"].item()) == (
            qty, groups, members), (cid, wh, j)
    c1 = snaps.filter(pl.col("campaign_id") == "C1")
    assert c1["final_qty"].unique().to_list() == [11]
    assert c1["qty_at"].to_list() == [0, 5, 5, 11, 11]


def test_light_pooling_counts_the_same_as_full_pooling():
    w = world()
    instants = pl.DataFrame({"campaign_id": ["C1", "C2"], "instant": [at(2, 21), at(1, 9, 30)]},
                            schema={"campaign_id": pl.String, "instant": TS})
    full = pool_campaigns_at(w["orders"], w["campaigns"], w["groups"], w["products"], instants)
    light = pool_campaigns_at(w["orders"], w["campaigns"], w["groups"], w["products"], instants, detail=False)
    assert light.schema == full.schema
    keep = ["campaign_id", "warehouse_id", "ordered_qty", "groups_ordering", "window_elapsed"]
    assert light.select(keep).rows() == full.select(keep).rows()
    assert light["members_ordering"].null_count() == light.height

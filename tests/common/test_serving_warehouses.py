"""The contract's campaign rule, once: a campaign without a warehouse serves every warehouse."""

import polars as pl

from common.contract import serving_warehouses


def test_a_campaign_without_a_warehouse_serves_every_warehouse():
    campaigns = pl.DataFrame({"campaign_id": ["c1", "c2"], "warehouse_id": ["W1", None]})
    groups = pl.DataFrame({"group_id": ["g1", "g2", "g3"], "warehouse_id": ["W1", "W2", "W2"]})
    got = serving_warehouses(campaigns, groups).sort("campaign_id", "warehouse_id")
    assert got.rows() == [("c1", "W1"), ("c2", "W1"), ("c2", "W2")]
    # another column name, and no warehouses at all: only the fixed rows
    renamed = campaigns.rename({"warehouse_id": "wh"})
    assert serving_warehouses(renamed, groups, column="wh").height == 3
    assert serving_warehouses(campaigns, groups.clear()).rows() == [("c1", "W1")]

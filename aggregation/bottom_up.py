"""What a campaign can expect before anything is ordered: history of the product, its category, its
supplier and price band in the same warehouse, and (where the recsys signal exists) the groups
that are likely to be shown it and order.

Priors are as of each campaign's opening: only campaigns closed by then count, so a training row
never sees its own outcome. A new product has no product prior and falls back to its category,
price band and supplier (the model learns how much each is worth).
"""

from __future__ import annotations

import polars as pl

LEVELS: dict[str, list[str]] = {
    "prod_wh": ["product_id", "warehouse_id"],
    "prod": ["product_id"],
    "cat_wh": ["category", "warehouse_id"],
    "band_wh": ["category", "price_band", "warehouse_id"],
    "sup_wh": ["supplier_id", "warehouse_id"],
}
RECENT = 8  # campaigns averaged per level


def price_band(price: pl.Expr) -> pl.Expr:
    """Price band: log2 buckets (… 8-16, 16-32, 32-64 CNY …)."""
    return price.clip(0.5, None).log(2).floor().cast(pl.Int64)


def history_priors(history: pl.DataFrame, targets: pl.DataFrame) -> pl.DataFrame:
    """For each target unit, the mean final total of the last RECENT campaigns closed before it opened.

    history: campaign_id, warehouse_id, product_id, supplier_id, category, price, closes_at, final_qty
    targets: campaign_id, warehouse_id, product_id, supplier_id, category, price, opens_at
    Returns targets' keys with prior_<level> (null when none) and n_prod_wh (campaigns seen).
    """
    hist = history.with_columns(price_band(pl.col("price")).alias("price_band"),
                                pl.col("final_qty").cast(pl.Float64))
    out = targets.select("campaign_id", "warehouse_id", "product_id", "supplier_id", "category",
                         "opens_at", price_band(pl.col("price")).alias("price_band")).sort("opens_at")
    for name, keys in LEVELS.items():
        # one value per key and cutoff instant (campaigns closing together are averaged, per
        # campaign first, so a campaign sold in many warehouses counts once and ties are stable)
        per_campaign = hist.group_by(*keys, "campaign_id").agg(
            pl.col("final_qty").mean(), pl.col("closes_at").max())
        level = per_campaign.group_by(*keys, "closes_at").agg(pl.col("final_qty").mean()).sort(
            *keys, "closes_at").with_columns(
            pl.col("final_qty").rolling_mean(RECENT, min_samples=1).over(keys).alias(f"prior_{name}"),
            pl.int_range(1, pl.len() + 1).over(keys).alias(f"n_{name}"),
        ).select(*keys, "closes_at", f"prior_{name}", f"n_{name}").sort("closes_at")
        out = out.join_asof(level, left_on="opens_at", right_on="closes_at", by=keys,
                            strategy="backward", allow_exact_matches=True, check_sortedness=False
                            ).drop("closes_at")
    return out.drop("opens_at").with_columns(pl.col("^n_.*$").fill_null(0))


def signal_expectation(
    units: pl.DataFrame, group_signal: pl.DataFrame, groups: pl.DataFrame, qty_per_group: pl.DataFrame
) -> pl.DataFrame:
    """Bottom-up expected total per unit: sum over the warehouse's groups of P(order) × qty per group.

    group_signal: group_id, product_id, p_order (probability the group orders the product in a
    campaign window, from recsys). qty_per_group: product_id, warehouse_id, qty_per_group.
    """
    g = group_signal.join(groups.select("group_id", "warehouse_id"), on="group_id", how="inner")
    expected_groups = g.group_by("product_id", "warehouse_id").agg(
        pl.col("p_order").clip(0.0, 1.0).sum().alias("expected_groups"))
    return units.select("campaign_id", "warehouse_id", "product_id").join(
        expected_groups, on=["product_id", "warehouse_id"], how="left"
    ).join(qty_per_group, on=["product_id", "warehouse_id"], how="left").with_columns(
        (pl.col("expected_groups").fill_null(0.0) * pl.col("qty_per_group").fill_null(1.0))
        .alias("signal_total")
    ).select("campaign_id", "warehouse_id", "signal_total")

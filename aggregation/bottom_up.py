"""What a campaign can expect before anything is ordered: history of the product, its category, its
supplier and price band in the same warehouse, and the groups ready to order it (the warehouse's
recent buyers of the product, from aggregation.group_reach) times what an ordering group takes.

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
    Returns targets' keys with prior_<level> (null when none), qpg_<level> (units per ordering group
    over the same campaigns) and n_<level> (campaigns seen).
    """
    hist = history.with_columns(price_band(pl.col("price")).alias("price_band"),
                                pl.col("final_qty").cast(pl.Float64), pl.col("final_groups").cast(pl.Float64))
    out = targets.select("campaign_id", "warehouse_id", "product_id", "supplier_id", "category",
                         "opens_at", price_band(pl.col("price")).alias("price_band")).sort("opens_at")
    for name, keys in LEVELS.items():
        # one value per key and cutoff instant (campaigns closing together are averaged, per
        # campaign first, so a campaign sold in many warehouses counts once and ties are stable)
        per_campaign = hist.group_by(*keys, "campaign_id").agg(
            pl.col("final_qty", "final_groups").mean(), pl.col("closes_at").max())
        level = per_campaign.group_by(*keys, "closes_at").agg(
            pl.col("final_qty", "final_groups").mean()).sort(*keys, "closes_at").with_columns(
            pl.col("final_qty").rolling_mean(RECENT, min_samples=1).over(keys).alias(f"prior_{name}"),
            (pl.col("final_qty").rolling_sum(RECENT, min_samples=1).over(keys)
             / pl.col("final_groups").rolling_sum(RECENT, min_samples=1).over(keys)).alias(f"qpg_{name}"),
            pl.int_range(1, pl.len() + 1).over(keys).alias(f"n_{name}"),
        ).with_columns(pl.col(f"qpg_{name}").fill_nan(None)).select(
            *keys, "closes_at", f"prior_{name}", f"qpg_{name}", f"n_{name}").sort("closes_at")
        out = out.join_asof(level, left_on="opens_at", right_on="closes_at", by=keys,
                            strategy="backward", allow_exact_matches=True, check_sortedness=False
                            ).drop("closes_at")
    return out.drop("opens_at").with_columns(pl.col("^n_.*$").fill_null(0))


def signal_expectation(states: pl.DataFrame) -> pl.Expr:
    """Bottom-up expected units: the warehouse's recent buyers of the product × the quantity a group
    ordering it usually takes (product, else category, else price band history; 1 unit without any).

    States need reach_prod (see group_reach) and the qpg_* columns of history_priors."""
    levels = [pl.col(c) for c in ("qpg_prod_wh", "qpg_cat_wh", "qpg_band_wh") if c in states.columns]
    qpg = pl.coalesce(*levels, pl.lit(1.0))
    return (pl.col("reach_prod").fill_null(0.0) * qpg).alias("signal_total")

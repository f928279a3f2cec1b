"""What a campaign can expect before anything is ordered: history of the product, its category, its
supplier and price band in the same warehouse, and the groups ready to order it (the warehouse's
recent buyers of the product, from aggregation.group_reach) times what an ordering group takes.

Priors are as of each campaign's opening (or of the instant a campaign not yet open is read at):
only campaigns closed by then count, so a training row never sees its own outcome. A new product has
no product prior and falls back to its category, price band and supplier (the model learns how much
each is worth).

A mean of the last campaigns lags a regime that moves (a festival stock-up, the lull after it, the
recovery): a product's last eight campaigns can all be from before the stock-up began. So the priors
carry the recent trend of the category in the warehouse (`level_trend`): at each of the last days'
cutoffs (rolling origins), the campaigns that closed are compared with what their own priors said,
pooled over every product of the category and weighted by recency (half-life one day), and the
priors are scaled by that ratio. In a steady world the ratio is about 1; two days into a surge it
carries the surge, and the nowcast and the bottom-up expectation read the same moved level.
"""

from __future__ import annotations

from dataclasses import dataclass

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


PRIOR_LEVELS = tuple(f"prior_{name}" for name in LEVELS)


@dataclass(frozen=True)
class TrendConfig:
    days: float = 7.0  # campaigns closed in these days before the cutoff measure the trend
    half_life_days: float = 1.0  # weight of a closed campaign halves with each such age
    credibility: float = 30.0  # weighted prior units at which the warehouse's own ratio gets half
    bounds: tuple[float, float] = (0.2, 5.0)  # the ratio never leaves these


def history_priors(history: pl.DataFrame, targets: pl.DataFrame, at: str = "opens_at") -> pl.DataFrame:
    """For each target unit, the mean final total of the last RECENT campaigns closed by its `at`
    instant (its opening, or the cutoff of a state read before it opens).

    history: campaign_id, warehouse_id, product_id, supplier_id, category, price, closes_at, final_qty
    targets: campaign_id, warehouse_id, product_id, supplier_id, category, price, `at`
    Returns targets' keys (and `at` when it is not opens_at) with prior_<level> (null when none),
    qpg_<level> (units per ordering group over the same campaigns) and n_<level> (campaigns seen).
    """
    hist = history.with_columns(price_band(pl.col("price")).alias("price_band"),
                                pl.col("final_qty").cast(pl.Float64), pl.col("final_groups").cast(pl.Float64))
    out = targets.select("campaign_id", "warehouse_id", "product_id", "supplier_id", "category",
                         pl.col(at).alias("_at"), price_band(pl.col("price")).alias("price_band")).sort("_at")
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
        out = out.join_asof(level, left_on="_at", right_on="closes_at", by=keys,
                            strategy="backward", allow_exact_matches=True, check_sortedness=False
                            ).drop("closes_at")
    out = out.rename({"_at": at}) if at != "opens_at" else out.drop("_at")
    return out.with_columns(pl.col("^n_.*$").fill_null(0))


def own_level(priors: pl.DataFrame) -> pl.Expr:
    """The level a unit's priors put it at: the product in the warehouse, else its price band, else
    its category (null without any)."""
    return pl.coalesce(*[pl.col(c) for c in ("prior_prod_wh", "prior_band_wh", "prior_cat_wh")
                         if c in priors.columns]).alias("level")


def level_trend(history: pl.DataFrame, targets: pl.DataFrame, config: TrendConfig = TrendConfig()
                ) -> pl.DataFrame:
    """Recent trend of each target's category in its warehouse, as of the target's `cutoff`.

    history: category, warehouse_id, closes_at, final_qty, level (the campaign's own prior as of its
    opening, from `own_level`; null = none)
    targets: category, warehouse_id, cutoff (any other columns are kept)
    Returns targets with `trend`: sum(w * final) / sum(w * level) over the campaigns of the category
    and warehouse closed in the `days` before the cutoff (at or before it, never after), w halving with
    each `half_life_days` of age; shrunk towards the same ratio over every warehouse (which is shrunk
    towards 1) by `credibility` weighted units of prior; clipped to `bounds`. 1 without any history.
    """
    k = config.credibility
    cat = pl.col("category").fill_null("unknown")
    hist = history.filter(pl.col("level").is_not_null() & (pl.col("level") > 0)).group_by(
        cat, "warehouse_id", "closes_at").agg(pl.col("final_qty").cast(pl.Float64).sum().alias("f"),
                                             pl.col("level").cast(pl.Float64).sum().alias("p"))
    keys = targets.select(cat, "warehouse_id", "as_of").unique()
    if keys.height == 0 or hist.height == 0:
        return targets.with_columns(pl.lit(1.0).alias("trend"))
    lo, hi = keys["as_of"].min(), keys["as_of"].max()
    span = pl.duration(microseconds=int(config.days * 86_400e6))
    hist = hist.filter((pl.col("closes_at") <= pl.lit(hi)) & (pl.col("closes_at") > pl.lit(lo) - span))
    age = (pl.col("as_of") - pl.col("closes_at")).dt.total_microseconds().cast(pl.Float64) / 86_400e6
    recent = (pl.col("closes_at") <= pl.col("as_of")) & (pl.col("closes_at") > pl.col("as_of") - span)
    w = 0.5 ** (age / config.half_life_days)

    def weighted(by: list[str], suffix: str) -> pl.LazyFrame:
        h = hist.lazy() if "warehouse_id" in by else hist.lazy().group_by("category", "closes_at").agg(
            pl.col("f", "p").sum())
        return keys.lazy().select(*by, "as_of").unique().join(h, on=by, how="inner").filter(recent).group_by(
            *by, "as_of").agg((w * pl.col("f")).sum().alias(f"f_{suffix}"),
                               (w * pl.col("p")).sum().alias(f"p_{suffix}"))

    ratio = keys.lazy().join(weighted(["category", "warehouse_id"], "wh"),
                             on=["category", "warehouse_id", "as_of"], how="left").join(
        weighted(["category"], "all"), on=["category", "as_of"], how="left").with_columns(
        pl.col("f_wh", "p_wh", "f_all", "p_all").fill_null(0.0)).with_columns(
        pl.when(pl.col("p_all") + k > 0).then((pl.col("f_all") + k) / (pl.col("p_all") + k)).otherwise(1.0)
        .alias("_all")).with_columns(
        pl.when(pl.col("p_wh") + k > 0).then((pl.col("f_wh") + k * pl.col("_all")) / (pl.col("p_wh") + k))
        .otherwise(pl.col("_all")).clip(*config.bounds)
        # parallel sums add up in any order: rounded, the same inputs always give the same trend
        .round(6).alias("trend")
    ).select("category", "warehouse_id", "as_of", "trend").collect()
    return targets.with_columns(cat.alias("_cat")).join(
        ratio.rename({"category": "_cat"}), on=["_cat", "warehouse_id", "as_of"], how="left").drop(
        "_cat").with_columns(pl.col("trend").fill_null(1.0))


def signal_expectation(states: pl.DataFrame) -> pl.Expr:
    """Bottom-up expected units: the warehouse's recent buyers of the product × the quantity a group
    ordering it usually takes (product, else category, else price band history; 1 unit without any).

    States need reach_prod (see group_reach) and the qpg_* columns of history_priors."""
    levels = [pl.col(c) for c in ("qpg_prod_wh", "qpg_cat_wh", "qpg_band_wh") if c in states.columns]
    qpg = pl.coalesce(*levels, pl.lit(1.0))
    return (pl.col("reach_prod").fill_null(0.0) * qpg).alias("signal_total")

"""Top-k ranking metrics over full-catalog rankings, with binary relevance (re-orders count).

`rankings`: group_id, rank (1-based), product_id. `relevant`: group_id, product_id (unique).
Only groups with at least one relevant item are evaluated; a group with no list scores 0.
"""

from __future__ import annotations

import math

import polars as pl

METRICS = ("ndcg", "recall", "precision", "map", "hit")


def ranking_metrics(
    rankings: pl.DataFrame,
    relevant: pl.DataFrame,
    k: int,
    catalog_size: int,
    categories: pl.DataFrame | None = None,
) -> dict[str, float]:
    """ndcg/recall/precision/map/hit @k averaged over groups with >= 1 relevant item, plus
    catalog coverage of the evaluated lists and the mean number of distinct categories per list."""
    full, top = _per_group(rankings, relevant, k)
    n_groups = full.height
    out = {
        f"ndcg@{k}": _mean(full["dcg"] / full["idcg"], n_groups),
        f"recall@{k}": _mean(full["n_hit"] / full["n_rel"], n_groups),
        f"precision@{k}": _mean(full["n_hit"] / k, n_groups),
        f"map@{k}": _mean(full["ap"] / full["n_rel"].clip(upper_bound=k), n_groups),
        f"hit@{k}": _mean((full["n_hit"] > 0).cast(pl.Float64), n_groups),
        "coverage": round(top["product_id"].n_unique() / catalog_size, 6) if catalog_size else 0.0,
    }
    if categories is not None:
        cats = top.join(categories.select("product_id", "category"), on="product_id", how="left")
        per_list = cats.group_by("group_id").agg(pl.col("category").n_unique())
        out["categories_per_list"] = round(float(per_list["category"].mean() or 0.0), 6)
    return out


def per_group_ndcg(rankings: pl.DataFrame, relevant: pl.DataFrame, k: int) -> pl.DataFrame:
    """group_id, ndcg: NDCG@k of every group with >= 1 relevant item (0 where it has no list),
    sorted by group_id (for intervals over groups; its mean is ranking_metrics' ndcg@k)."""
    full, _ = _per_group(rankings, relevant, k)
    return full.select("group_id", (pl.col("dcg") / pl.col("idcg")).alias("ndcg")).sort("group_id")


def _per_group(rankings: pl.DataFrame, relevant: pl.DataFrame, k: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per evaluated group: n_rel, dcg, n_hit, ap, n_listed, idcg; and the top-k rows evaluated."""
    rel = relevant.select("group_id", "product_id").unique()
    per_group = rel.group_by("group_id").agg(n_rel=pl.len())
    top = rankings.filter(pl.col("rank") <= k).join(per_group.select("group_id"), on="group_id")
    hits = (
        top.join(rel.with_columns(hit=pl.lit(1)), on=["group_id", "product_id"], how="left")
        .with_columns(hit=pl.col("hit").fill_null(0))
        .sort("group_id", "rank")
    )
    # rank among the list's own items (so a list with gaps in `rank` still counts positions right)
    hits = hits.with_columns(pos=pl.col("rank").rank("ordinal").over("group_id").cast(pl.Int64))
    hits = hits.with_columns(
        gain=pl.col("hit") / (pl.col("pos") + 1).cast(pl.Float64).log(2),
        prec_at=pl.col("hit").cum_sum().over("group_id") / pl.col("pos"),
    )
    agg = hits.group_by("group_id").agg(
        dcg=pl.col("gain").sum(),
        n_hit=pl.col("hit").sum(),
        ap=(pl.col("prec_at") * pl.col("hit")).sum(),
        n_listed=pl.len(),
    )
    # in group order: a mean summed in group_by's (unordered) order differs in the last bit from run
    # to run, and a metric rounded to 6 decimals then differs between two runs of the same data
    full = per_group.join(agg, on="group_id", how="left").fill_null(0).sort("group_id")
    idcg_table = [0.0]
    for i in range(1, k + 1):
        idcg_table.append(idcg_table[-1] + 1.0 / math.log2(i + 1))
    full = full.with_columns(
        idcg=pl.col("n_rel")
        .clip(upper_bound=k)
        .replace_strict(dict(enumerate(idcg_table)), return_dtype=pl.Float64)
    )
    return full, top


def _mean(values: pl.Series, n: int) -> float:
    return round(float(values.sum()) / n, 6) if n else 0.0

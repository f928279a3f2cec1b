"""Published pick lists scored after the fact (数据复盘): what each night's lists were worth once the
day they were for has passed. Pure: frames in, frames and dicts out (the warehouse keeps the lists,
`pipelines.vintages` reads and writes them).

A list for day D is scored against the group's paid orders in [D 00:00, D + horizon) platform time
(re-orders count: in group buying the re-order is the main signal), the same rule as `evaluate`
(recsys.production.relevant_pairs). Per list: hit (at least one pick ordered), precision (picks
ordered / picks) and NDCG@n (relevance = ordered; the ideal puts every ordered product first, as many
as fit in n). Per night, per slot and per reason kind; where posts exist, the conversion of picks
the shopkeeper posted into the group on that day against those not posted. With A/B arms (a `arm`
column), every figure per arm, and each arm against the control with a bootstrap interval.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from common.clock import day_start, platform_day
from common.settings import DEFAULT_SEED
from recsys.signal import paid_orders

PICK_HORIZON_DAYS = 1  # a daily list is for its own day: the pre-sale windows it posts close by then
KEYS = ("for_date", "group_id")


def outcomes(vintages: pl.DataFrame, orders: pl.DataFrame, posts: pl.DataFrame | None = None,
             horizon_days: int = PICK_HORIZON_DAYS) -> pl.DataFrame:
    """Each published pick with `ordered` (the group paid for it in the list's horizon) and, where
    posts are given, `posted` (the group's shopkeeper posted it on the list's day).

    vintages: for_date, group_id, rank, product_id, slot, reason_code (arm optional)."""
    days = vintages.select("for_date").unique()
    if days.height == 0:
        return vintages.with_columns(ordered=pl.lit(False), posted=pl.lit(None, pl.Boolean))
    first, last = days["for_date"].min(), days["for_date"].max()
    hits = ordered_in_horizon(orders, first, last, horizon_days)
    out = vintages.join(hits.with_columns(ordered=pl.lit(True)), on=["for_date", "group_id", "product_id"],
                        how="left").with_columns(pl.col("ordered").fill_null(False))
    if posts is None or posts.height == 0:
        return out.with_columns(posted=pl.lit(None, pl.Boolean))
    posted = posts.lazy().filter((pl.col("posted_at") >= day_start(first))
                                 & (pl.col("posted_at") < day_start(last + timedelta(days=1)))).select(
        "group_id", "product_id", _platform_day("posted_at").alias("for_date")).unique().collect()
    return out.join(posted.with_columns(posted=pl.lit(True)), on=["for_date", "group_id", "product_id"],
                    how="left").with_columns(pl.col("posted").fill_null(False))


def _platform_day(column: str) -> pl.Expr:
    return platform_day(pl.col(column)).alias("day")


def per_list(scored: pl.DataFrame, orders_per_list: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per published list (for_date, group_id[, arm]): picks, hits, hit, precision, ndcg.

    orders_per_list (for_date, group_id, relevant): how many products the group ordered in the
    horizon, for the ideal DCG; without it, the ideal is the list's own hits put first."""
    by = [*KEYS, *(["arm"] if "arm" in scored.columns else [])]
    gain = pl.col("ordered").cast(pl.Float64) / (pl.col("rank").cast(pl.Float64) + 1.0).log(2)
    lists = scored.group_by(by).agg(
        picks=pl.len(), hits=pl.col("ordered").sum(), dcg=gain.sum())
    if orders_per_list is not None:
        lists = lists.join(orders_per_list, on=list(KEYS), how="left").with_columns(
            pl.max_horizontal(pl.col("relevant").fill_null(0), pl.col("hits")).alias("relevant"))
    else:
        lists = lists.with_columns(pl.col("hits").alias("relevant"))
    ideal_n = pl.min_horizontal("relevant", "picks")
    return lists.with_columns(
        hit=(pl.col("hits") > 0).cast(pl.Float64),
        precision=pl.col("hits") / pl.col("picks"),
        ndcg=pl.when(ideal_n > 0).then(pl.col("dcg") / _ideal_dcg(ideal_n)).otherwise(0.0),
    ).drop("dcg").sort(by)


def _ideal_dcg(n: pl.Expr) -> pl.Expr:
    """sum over r = 1..n of 1 / log2(r + 1), for n up to 100 (a pick list is short)."""
    table = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, 102)))])
    return n.cast(pl.Int64).clip(0, 100).map_elements(lambda k: float(table[k]), return_dtype=pl.Float64)


def ordered_in_horizon(orders: pl.DataFrame, first: date, last: date, horizon_days: int) -> pl.DataFrame:
    """(for_date, group_id, product_id): for each list day from `first` to `last`, what each group
    paid for in [for_date 00:00, for_date + horizon) platform time."""
    window = paid_orders(orders.lazy(), day_start(last + timedelta(days=horizon_days))).filter(
        pl.col("ordered_at") >= day_start(first))
    line_day = window.select("group_id", "product_id", _platform_day("ordered_at")).unique().collect()
    return pl.concat([line_day.with_columns((pl.col("day") - timedelta(days=k)).alias("for_date"))
                      for k in range(horizon_days)]).select("for_date", "group_id", "product_id").unique()


def relevant_counts(vintages: pl.DataFrame, orders: pl.DataFrame,
                    horizon_days: int = PICK_HORIZON_DAYS) -> pl.DataFrame:
    """(for_date, group_id, relevant): products each list's group paid for in the list's horizon."""
    lists = vintages.select(*KEYS).unique()
    if lists.height == 0:
        return lists.with_columns(relevant=pl.lit(0, pl.UInt32))
    per_day = ordered_in_horizon(orders, lists["for_date"].min(), lists["for_date"].max(), horizon_days)
    return lists.join(per_day.group_by(*KEYS).agg(relevant=pl.len()), on=list(KEYS), how="left").with_columns(
        pl.col("relevant").fill_null(0))


def summary(scored: pl.DataFrame, lists: pl.DataFrame) -> dict:
    """Per night (and arm), per slot, per reason kind, and posted vs not: the closed loop's table."""
    arm = ["arm"] if "arm" in lists.columns else []
    nights = lists.group_by("for_date", *arm).agg(
        lists=pl.len(), hit_rate=pl.col("hit").mean(),
        precision=pl.col("hits").sum() / pl.col("picks").sum(), ndcg=pl.col("ndcg").mean(),
    ).sort("for_date", *arm)

    def by(column: str) -> list[dict]:
        return scored.group_by(column, *arm).agg(
            picks=pl.len(), precision=pl.col("ordered").mean()).sort(column, *arm).to_dicts()

    out = {"nights": _rounded(nights.to_dicts()), "by_slot": _rounded(by("slot")),
           "by_reason": _rounded(by("reason_code"))}
    if "posted" in scored.columns and scored["posted"].is_not_null().any():
        out["posted_vs_not"] = _rounded(scored.group_by("posted", *arm).agg(
            picks=pl.len(), conversion=pl.col("ordered").mean()).sort("posted", *arm).to_dicts())
    return out


def _rounded(rows: list[dict]) -> list[dict]:
    return [{k: (round(v, 6) if isinstance(v, float) else v.isoformat() if isinstance(v, date) else v)
             for k, v in row.items()} for row in rows]


def arm_verdicts(lists: pl.DataFrame, control: str, metric: str = "hit", resamples: int = 1000,
                 seed: int = DEFAULT_SEED, level: float = 0.9) -> list[dict]:
    """Each arm against `control` on the mean of `metric` per list: the relative difference in % with
    a bootstrap interval (lists resampled within each arm) and a plain verdict."""
    if "arm" not in lists.columns:
        return []
    rng = np.random.default_rng(seed)
    values = {a: lists.filter(pl.col("arm") == a)[metric].to_numpy().astype(np.float64)
              for a in lists["arm"].unique().sort().to_list()}
    base = values.get(control)
    out = []
    for arm, v in values.items():
        if arm == control or base is None or base.size == 0 or v.size == 0:
            continue
        boot_base = base[rng.integers(0, base.size, (resamples, base.size))].mean(axis=1)
        boot_arm = v[rng.integers(0, v.size, (resamples, v.size))].mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = 100.0 * (boot_arm / boot_base - 1.0)
        rel = rel[np.isfinite(rel)]
        point = 100.0 * (v.mean() / base.mean() - 1.0) if base.mean() > 0 else float("nan")
        lo, hi = (np.quantile(rel, [(1 - level) / 2, (1 + level) / 2]) if rel.size else (np.nan, np.nan))
        name = {"hit": "hit rate", "precision": "precision", "ndcg": "NDCG"}.get(metric, metric)
        real = bool(lo > 0 or hi < 0)
        verdict = (f"arm {arm} {point:+.1f}% {name} vs {control}, {int(level * 100)}% CI "
                   f"[{lo:+.1f}, {hi:+.1f}]" + ("" if real else " (no real difference yet)"))
        out.append({"arm": arm, "control": control, "metric": metric, "lists": int(v.size),
                    "control_lists": int(base.size), "relative_pct": round(float(point), 2),
                    "ci_pct": [round(float(lo), 2), round(float(hi), 2)], "real": real, "verdict": verdict})
    return out

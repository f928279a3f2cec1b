"""Published pick lists scored after the fact (数据复盘): what each night's lists were worth once the
day they were for has passed. Pure: frames in, frames and dicts out (the warehouse keeps the lists,
`pipelines.vintages` reads and writes them).

A list for day D is scored against the group's paid orders in [D 00:00, D + horizon) platform time
(re-orders count: in group buying the re-order is the main signal), the same rule as `evaluate`
(recsys.production.relevant_pairs). Per list: hit (at least one pick ordered), precision (picks
ordered / picks) and NDCG@n (relevance = ordered; the ideal puts every ordered product first, as many
as fit in n). Per night, per slot and per reason kind; where posts exist, the conversion of picks
the shopkeeper posted into the group on that day against those not posted. With A/B arms (`arm` and
`experiment` columns), every figure per experiment and arm, and each arm against the control with a
bootstrap interval over groups (a group's lists on several nights are one unit, not several).
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
    """One row per published list (for_date, group_id[, experiment][, arm]): picks, hits, hit,
    precision, ndcg.

    orders_per_list (for_date, group_id, relevant): how many products the group ordered in the
    horizon, for the ideal DCG; without it, the ideal is the list's own hits put first."""
    by = [*KEYS, *_dims(scored)]
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
    ).drop("dcg").sort(by, nulls_last=False)


def _dims(frame: pl.DataFrame) -> list[str]:
    """The A/B columns a frame carries: the experiment (null: a group in none) and the arm. An arm's
    name alone is not a treatment: two experiments may both have a `popularity` arm."""
    return [c for c in ("experiment", "arm") if c in frame.columns]


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
    """Per night (and experiment and arm), per slot, per reason kind, and posted vs not: the closed
    loop's table. Every row of an experiment's arm names the experiment (`experiment`: null for the
    groups in none, served production)."""
    dims = _dims(lists)
    nights = lists.group_by("for_date", *dims).agg(
        lists=pl.len(), hit_rate=pl.col("hit").mean(),
        precision=pl.col("hits").sum() / pl.col("picks").sum(), ndcg=pl.col("ndcg").mean(),
    ).sort("for_date", *dims, nulls_last=False)

    def by(column: str) -> list[dict]:
        return scored.group_by(column, *dims).agg(
            picks=pl.len(), precision=pl.col("ordered").mean(),
        ).sort(column, *dims, nulls_last=False).to_dicts()

    out = {"nights": _rounded(nights.to_dicts()), "by_slot": _rounded(by("slot")),
           "by_reason": _rounded(by("reason_code"))}
    if "posted" in scored.columns and scored["posted"].is_not_null().any():
        out["posted_vs_not"] = _rounded(scored.group_by("posted", *dims).agg(
            picks=pl.len(), conversion=pl.col("ordered").mean(),
        ).sort("posted", *dims, nulls_last=False).to_dicts())
    return out


def _rounded(rows: list[dict]) -> list[dict]:
    return [{k: (round(v, 6) if isinstance(v, float) else v.isoformat() if isinstance(v, date) else v)
             for k, v in row.items()} for row in rows]


METRIC_NAMES = {"hit": "hit rate", "precision": "precision", "ndcg": "NDCG"}
UNIT = "group_id"  # what the bootstrap resamples: a group, with all its lists (a cluster)
CHUNK = 100  # resamples drawn at a time (memory: CHUNK x groups indices)


def _clusters(lists: pl.DataFrame, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per unit (a group; each list on its own where there is no group_id): the sum of `metric` over
    its lists and how many lists it has."""
    frame = lists if UNIT in lists.columns else lists.with_row_index(UNIT)
    per = frame.group_by(UNIT).agg(s=pl.col(metric).cast(pl.Float64).sum(), n=pl.len()).sort(UNIT)
    return per["s"].to_numpy().astype(np.float64), per["n"].to_numpy().astype(np.float64)


def _boot_means(s: np.ndarray, n: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """The mean per list over `resamples` resamples of the units (with all their lists)."""
    out = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        stop = min(start + CHUNK, resamples)
        idx = rng.integers(0, s.size, (stop - start, s.size))
        out[start:stop] = s[idx].sum(axis=1) / n[idx].sum(axis=1)
    return out


def arm_verdicts(lists: pl.DataFrame, control: str, metric: str = "hit", *, min_units: int,
                 resamples: int = 1000, seed: int = DEFAULT_SEED, level: float = 0.9) -> list[dict]:
    """Each arm against `control` on the mean of `metric` per list: the relative difference in % with
    a bootstrap interval and a plain verdict.

    The unit resampled is the group (`group_id`: a cluster of its lists on every night), within each
    arm: one group's lists on different nights are not independent draws, so resampling lists would
    read three groups over three nights as nine. An arm or a control of fewer than `min_units` groups
    gets no interval ("too few groups to tell"; the caller passes the rule `evaluate` uses,
    pipelines.evaluate.intervals.MIN_UNITS). A control that scored 0 has no relative difference
    (`relative_pct`, `ci_pct` and `real` null); resamples whose control mean is 0 have no ratio: they are
    counted (`control_zero_resamples`) and said, not dropped silently."""
    if "arm" not in lists.columns:
        return []
    rng = np.random.default_rng(seed)
    arms = lists["arm"].unique().sort().to_list()
    if control not in arms:
        return []
    base_s, base_n = _clusters(lists.filter(pl.col("arm") == control), metric)
    name = METRIC_NAMES.get(metric, metric)
    pct = int(round(level * 100))
    out = []
    for arm in arms:
        if arm == control:
            continue
        s, n = _clusters(lists.filter(pl.col("arm") == arm), metric)
        base_mean, arm_mean = base_s.sum() / base_n.sum(), s.sum() / n.sum()
        row = {"arm": arm, "control": control, "metric": metric, "lists": int(n.sum()),
               "control_lists": int(base_n.sum()), "groups": int(s.size),
               "control_groups": int(base_s.size), "mean": round(float(arm_mean), 6),
               "control_mean": round(float(base_mean), 6), "relative_pct": None, "ci_pct": None,
               "real": None, "resamples": 0, "control_zero_resamples": 0}
        if base_mean == 0:
            row["verdict"] = (f"arm {arm} {name} {arm_mean:.3f} vs {control} 0: control scored 0; no "
                              f"relative difference ({int(n.sum())} and {int(base_n.sum())} lists)")
            out.append(row)
            continue
        point = 100.0 * (arm_mean / base_mean - 1.0)
        row["relative_pct"] = round(float(point), 2)
        head = f"arm {arm} {point:+.1f}% {name} vs {control}"
        if min(s.size, base_s.size) < min_units:
            row["verdict"] = (f"{head}: too few groups to tell (n={s.size} vs {base_s.size} groups; an "
                              f"interval needs {min_units} in each)")
            out.append(row)
            continue
        boot_base = _boot_means(base_s, base_n, rng, resamples)
        boot_arm = _boot_means(s, n, rng, resamples)
        zero = boot_base == 0
        rel = 100.0 * (boot_arm[~zero] / boot_base[~zero] - 1.0)
        row["resamples"], row["control_zero_resamples"] = resamples, int(zero.sum())
        said = (f"; {int(zero.sum())} of {resamples} resamples had a control of 0 (no ratio) and are not in "
                "the interval" if zero.any() else "")
        if rel.size == 0:
            row["verdict"] = f"{head}: no interval (every resample had a control of 0)"
            out.append(row)
            continue
        lo, hi = (float(x) for x in np.quantile(rel, [(1 - level) / 2, (1 + level) / 2]))
        real = bool(lo > 0 or hi < 0)
        row.update(ci_pct=[round(lo, 2), round(hi, 2)], real=real,
                   verdict=(f"{head}, {pct}% CI [{lo:+.1f}, {hi:+.1f}]"
                            + ("" if real else " (no real difference yet)") + said))
        out.append(row)
    return out

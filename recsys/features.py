"""Candidates from every generator, and the features the learned ranker reads per (group, item).

All set-based: each block is a polars aggregate over the signal joined on (g, i), g or i.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from common.contract import serving_warehouses
from recsys.availability import on_sale_items, upcoming_items
from recsys.models.base import Recommender
from recsys.signal import Signal


def candidates(
    models: dict[str, Recommender], g_rows: np.ndarray, n_per_model: int, allowed: np.ndarray | None = None
) -> pl.DataFrame:
    """Union of every generator's top-n per group (g, i), with each generator's score and rank."""
    signal = next(iter(models.values())).signal_
    groups = signal.groups.decode(g_rows)
    parts = []
    for model in models.values():
        if model.informative():
            rec = model.recommend(groups, n_per_model, allowed)
            parts.append(rec.select("group_id", "product_id"))
    empty = pl.DataFrame(schema={"group_id": pl.String, "product_id": pl.String})
    pairs = pl.concat(parts).unique() if parts else empty  # every generator knowing nothing: none
    pairs = signal.groups.encode_column(pairs, "group_id", "g")
    pairs = signal.items.encode_column(pairs, "product_id", "i").select("g", "i").sort("g", "i")
    g, i = pairs["g"].to_numpy(), pairs["i"].to_numpy()
    out = pairs.with_columns(**{f"s_{name}": pair_scores(model, g, i) for name, model in models.items()})
    return out.with_columns(
        pl.col(f"s_{n}").rank("ordinal", descending=True).over("g").cast(pl.Int32).alias(f"r_{n}")
        for n in models
    )


def pair_scores(model: Recommender, g_rows: np.ndarray, i_rows: np.ndarray) -> pl.Series:
    """The model's scores of (group row, item row) pairs; all missing for a model that knows nothing
    (Recommender.informative): its zeros would read as evidence."""
    if not model.informative():
        return pl.Series([None] * len(g_rows), dtype=pl.Float32)
    return pl.Series(model.score_pairs(g_rows, i_rows))


def add_features(cands: pl.DataFrame, signal: Signal, frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Join the per-(g, i), per-g, per-i and per-(city, i) features onto `cands` (g, i, ...).

    Per-item and per-city tables are computed once per signal and cached; per-group ones only for
    the groups in `cands`, so scoring the groups in chunks costs no more than scoring them at once.
    """
    shared = _shared_tables(signal, frames)
    wanted = cands.select("g").unique()
    d = signal.daily.join(wanted, on="g", how="semi")
    own = _own(d)
    grp = d.group_by("g").agg(
        g_lines=pl.col("lines").sum(),
        g_items=pl.col("i").n_unique(),
        g_unit_price=pl.col("amount").sum() / pl.col("qty").sum(),
        g_lines_14=pl.col("lines").filter(pl.col("age") <= 14).sum(),
        g_days=pl.col("age").n_unique().cast(pl.Int64),
        g_days_28=pl.col("age").filter(pl.col("age") <= 28).n_unique().cast(pl.Int64),
        g_last_age=pl.col("age").min(),
        g_first_age=pl.col("age").max(),
    ).with_columns(
        # the group's typical wait between order days: recency and rates in its own time unit
        g_gap=pl.when(pl.col("g_days") >= 2).then(
            (pl.col("g_first_age") - pl.col("g_last_age")) / (pl.col("g_days") - 1)
        ),
        g_day_rate=pl.col("g_days") / pl.col("g_first_age"),
    )
    cat_share = (
        d.join(shared["meta"].select("i", "category"), on="i")
        .group_by("g", "category")
        .agg(cl=pl.col("lines").sum())
        .join(grp.select("g", "g_lines"), on="g")
        .select("g", "category", cat_share=pl.col("cl") / pl.col("g_lines"))
    )
    e = signal.exposures.join(wanted, on="g", how="semi")
    expo = e.select(
        "g",
        "i",
        "posts",
        "responded",
        "last_post_age",
        "posts_recent",
        response_rate=(pl.col("responded") + 0.5) / (pl.col("posts") + 1.0),
        ignored=pl.col("posts") - pl.col("responded"),
    )
    fbs = (
        signal.feedback.join(wanted, on="g", how="semi")
        .group_by("g", "i")
        .agg(
            fb_skip=(pl.col("action") == "skip").sum(),
            fb_not_interested=(pl.col("action") == "not_interested").sum(),
        )
    )
    cross = signal.member_cross.join(wanted, on="g", how="semi")
    out = (
        cands.join(own, on=["g", "i"], how="left")
        .join(expo, on=["g", "i"], how="left")
        .join(cross, on=["g", "i"], how="left")
        .join(fbs, on=["g", "i"], how="left")
        .join(grp, on="g", how="left")
        .join(shared["size"], on="g", how="left")
        .join(shared["meta"], on="i", how="left")
        .join(shared["item"], on="i", how="left")
        .join(shared["item_resp"], on="i", how="left")
        .join(shared["repeat"], on="i", how="left")
        .join(shared["city"], on="g", how="left")
    )
    out = out.join(cat_share, on=["g", "category"], how="left").join(
        shared["city_item"], on=["city", "i"], how="left"
    )
    out = out.with_columns(
        price_rel=pl.col("price") / pl.col("g_unit_price"),
        own_day_share=pl.col("own_days").fill_null(0) / pl.col("g_days"),
        own_day_share_28=pl.col("own_days_28").fill_null(0) / pl.col("g_days_28"),
        own_recency_rel=pl.col("last_order_age") - pl.col("g_last_age"),
        own_recency_gaps=pl.col("last_order_age") / pl.col("g_gap"),
        i_trend=pl.col("i_groups_7").fill_null(0) / (pl.col("i_groups_28").fill_null(0) / 4.0 + 1.0),
        on_sale=_on_sale(frames, signal, out),
        opens_in=_opens_in(frames, signal, out),
        **_shares(out, shared["active"]),
    )
    out = out.with_columns(opens_soon=pl.col("opens_in").is_not_null().cast(pl.Float64))
    fill0 = [c for c in FEATURE_ZERO_FILL if c in out.columns]
    out = out.with_columns(pl.col(fill0).fill_null(0))
    # the signal's day on every row: with g it names a ranking query (a group at an as-of day)
    query_day = pl.lit((signal.as_of_day - date(1970, 1, 1)).days, pl.Int32).alias("_as_of_day")
    return out.with_columns(*_within_group(out), query_day).sort("g", "i")


def _shares(frame: pl.DataFrame, active: dict[str, int]) -> dict[str, pl.Expr]:
    """The item's buyers as a share of the groups active in the same window (1, 7, 28 days) and the
    7-day share over the 28-day share: popularity that reads the same in a rush and in a lull."""
    out = {}
    for w in (1, 7, 28):
        out[f"i_share_{w}"] = pl.col(f"i_groups_{w}").fill_null(0) / max(active[f"{w}"], 1)
    smooth = 0.5
    s7 = (pl.col("i_groups_7").fill_null(0) + smooth) / (active["7"] + smooth)
    s28 = (pl.col("i_groups_28").fill_null(0) + smooth) / (active["28"] + smooth)
    out["i_share_trend"] = s7 / s28
    return out


def _within_group(frame: pl.DataFrame) -> list[pl.Expr]:
    """Every generator's score min-max scaled over the group's candidates (q_<name>, in [0, 1]):
    the scale of a factor model's or a neighbourhood's score drifts from one fit to the next, its
    place among the group's candidates does not."""
    exprs = []
    for c in frame.columns:
        if not c.startswith("s_"):
            continue
        s = pl.col(c).cast(pl.Float64)
        lo, hi = s.min().over("g"), s.max().over("g")
        scaled = pl.when(hi > lo).then((s - lo) / (hi - lo)).otherwise(0.0)
        # a missing score (a generator that knows nothing) stays missing
        exprs.append(pl.when(s.is_null()).then(None).otherwise(scaled).alias("q_" + c[2:]))
    return exprs


def _own(d: pl.DataFrame) -> pl.DataFrame:
    """Per (g, i): the group's own orders of the item (lines, days, members, recency, cycle)."""
    return (
        d.group_by("g", "i")
        .agg(
            own_lines=pl.col("lines").sum(),
            own_days=pl.len().cast(pl.Int64),
            own_members=pl.col("members").sum(),
            own_lines_30=pl.col("lines").filter(pl.col("age") <= 30).sum(),
            own_members_30=pl.col("members").filter(pl.col("age") <= 30).sum(),
            own_days_30=(pl.col("age") <= 30).sum().cast(pl.Int64),
            own_days_28=(pl.col("age") <= 28).sum().cast(pl.Int64),
            last_order_age=pl.col("age").min(),
            first_order_age=pl.col("age").max(),
        )
        .with_columns(
            cycle=pl.when(pl.col("own_days") >= 2).then(
                (pl.col("first_order_age") - pl.col("last_order_age")) / (pl.col("own_days") - 1)
            ),
        )
        .with_columns(due=pl.col("last_order_age") / pl.col("cycle"))
    )


def _shared_tables(signal: Signal, frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The features that do not depend on which groups are scored, once per signal."""
    return signal.memo("feature_tables", lambda: _build_shared_tables(signal, frames))


def _build_shared_tables(signal: Signal, frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    d = signal.daily
    days_per_pair = d.group_by("g", "i").agg(own_days=pl.len())
    repeat = days_per_pair.group_by("i").agg(
        i_buyers=pl.len().cast(pl.Int64), i_repeat_rate=(pl.col("own_days") >= 2).mean()
    )
    meta = signal.item_meta.select(
        "i",
        "price",
        "category",
        is_standard=pl.col("is_standard").cast(pl.Float32),
        product_age=(pl.lit(signal.as_of_day) - pl.col("launched_on")).dt.total_days().cast(pl.Float32),
    )
    item = d.group_by("i").agg(
        i_groups_1=pl.col("g").filter(pl.col("age") <= 1).n_unique(),
        i_groups_7=pl.col("g").filter(pl.col("age") <= 7).n_unique(),
        i_groups_28=pl.col("g").filter(pl.col("age") <= 28).n_unique(),
        i_first_age=pl.col("age").max(),
    )
    active = {
        f"{w}": d.filter(pl.col("age") <= w)["g"].n_unique() for w in (1, 7, 28)
    }  # groups with an order in each window: the denominators of the item shares
    city = signal.group_meta.select("g", "city")
    city_size = city.group_by("city").agg(city_groups=pl.len())
    city_item = (
        d.filter(pl.col("age") <= 7)
        .join(city, on="g")
        .group_by("city", "i")
        .agg(city_groups_7=pl.col("g").n_unique())
        .join(city_size, on="city")
        .with_columns(city_share_7=pl.col("city_groups_7") / pl.col("city_groups"))
        .select("city", "i", "city_groups_7", "city_share_7")
    )
    item_resp = (
        signal.exposures.group_by("i")
        .agg(i_posts=pl.col("posts").sum(), i_resp=pl.col("responded").sum())
        # the ranker reads the smoothed rate; a reason quotes the posts that got orders as counted
        # (`_i_resp`: bookkeeping, not a feature)
        .select("i", "i_posts", i_response_rate=(pl.col("i_resp") + 1) / (pl.col("i_posts") + 4),
                _i_resp=pl.col("i_resp"))
    )
    tables = {
        "repeat": repeat,
        "meta": meta,
        "item": item,
        "city": city,
        "city_item": city_item,
        "item_resp": item_resp,
        "active": active,
        "size": _group_sizes(frames["memberships"], signal),
    }
    return tables


FEATURE_ZERO_FILL = (
    "own_lines",
    "own_days",
    "own_members",
    "own_lines_30",
    "own_members_30",
    "own_days_30",
    "own_days_28",
    "posts",
    "responded",
    "posts_recent",
    "ignored",
    "cross_members",
    "cross_weight",
    "fb_skip",
    "fb_not_interested",
    "g_lines",
    "g_items",
    "g_lines_14",
    "i_groups_1",
    "i_groups_7",
    "i_groups_28",
    "i_posts",
    "cat_share",
    "city_groups_7",
    "city_share_7",
    "members_active",
    "g_days",
    "g_days_28",
    "i_buyers",
)
NON_FEATURES = ("g", "i", "category", "city", "label")


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """The numeric columns the ranker learns from (a leading underscore marks bookkeeping)."""
    return [c for c in frame.columns if c not in NON_FEATURES and not c.startswith("_")]


def _group_sizes(memberships: pl.DataFrame, signal: Signal) -> pl.DataFrame:
    day = signal.as_of_day
    active = memberships.filter(
        (pl.col("joined_on") <= day) & (pl.col("left_on").is_null() | (pl.col("left_on") > day))
    )
    sizes = active.group_by("group_id").agg(members_active=pl.len())
    return signal.groups.encode_column(sizes, "group_id", "g").select("g", "members_active").drop_nulls()


def _opens_in(frames: dict[str, pl.DataFrame], signal: Signal, frame: pl.DataFrame) -> pl.Series:
    """Days from the as-of day to the day an upcoming campaign for the group's warehouse opens
    (recsys.availability.upcoming_items: 1 = tomorrow); null where none is upcoming (and on data without
    campaigns). What is bought in the coming days is also what opens in them."""
    served = signal.memo("upcoming", lambda: _upcoming_served(frames, signal))
    if served.height == 0:
        return pl.Series("opens_in", [None] * frame.height, dtype=pl.Int32)
    f = frame.select("g", "i").join(
        signal.group_meta.select("g", pl.col("warehouse_id").cast(pl.String)), on="g", how="left",
        maintain_order="left")
    return f.join(served, on=["warehouse_id", "i"], how="left", maintain_order="left")["opens_in"]


def _upcoming_served(frames: dict[str, pl.DataFrame], signal: Signal) -> pl.DataFrame:
    """upcoming_items per warehouse that serves a group (a campaign without one: every warehouse),
    the earliest opening per (warehouse_id, i); built once per signal, read by every candidate chunk."""
    by_wh = upcoming_items(frames, signal)
    if by_wh.height == 0:
        return by_wh
    warehouses = signal.group_meta.select(pl.col("warehouse_id").cast(pl.String))
    return serving_warehouses(by_wh, warehouses).group_by("warehouse_id", "i").agg(pl.col("opens_in").min())


def _on_sale(frames: dict[str, pl.DataFrame], signal: Signal, frame: pl.DataFrame) -> pl.Series:
    """1.0 where the group can buy the item on the as-of day, by the same rules as the picks
    (recsys.availability): a campaign open or opening that day for the group's warehouse (one
    without a warehouse serves all: common.contract.serving_warehouses) and not sold out; without
    campaign data, sold anywhere in the last RECENT_DAYS."""
    by_wh = signal.memo("on_sale", lambda: on_sale_items(frames, signal))
    f = frame.select("g", "i").join(signal.group_meta.select("g", "warehouse_id"), on="g", how="left",
                                    maintain_order="left")
    if "warehouse_id" not in by_wh.columns:  # no campaign data: the same items for every group
        return f.join(by_wh.with_columns(on=pl.lit(1.0)), on="i", how="left", maintain_order="left")[
            "on"].fill_null(0.0)
    served = serving_warehouses(by_wh, signal.group_meta).unique().with_columns(on=pl.lit(1.0))
    return f.join(served, on=["warehouse_id", "i"], how="left", maintain_order="left")["on"].fill_null(0.0)

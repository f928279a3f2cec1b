"""Daily picks per group under the rules: available -> candidates -> scores -> rules -> slots ->
top-n with one short reason each. Every stage is a small set-based function over (g, i) frames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import polars as pl

from recsys.availability import RECENT_DAYS, has_campaigns, offers_for_groups, on_sale_offers, recently_sold
from recsys.cold_start import new_product_pairs, new_product_prior, peer_popularity
from recsys.features import add_features, candidates, pair_scores
from recsys.production import Production, chunks
from recsys.signal import Signal, paid_orders

SLOTS = ("hot", "regular", "replenish", "new")
# The reason kinds with_reasons gives a pick, each with the numbers it carries (`reason_args`, a
# JSON object). A reason is data: the API renders code + numbers per locale (api/i18n.py and its
# catalogs, which must translate every code here); `reason` keeps the English sentence.
REASON_CODES: dict[str, tuple[str, ...]] = {
    "replenish_due": ("cycle_days", "last_days"),  # the group's re-order cycle is due
    "regular_recent": ("orders",),  # ordered it `orders` times in the last 30 days
    "regular_before": ("order_days", "last_days"),  # ordered on `order_days` days, none in 30 days
    "hot_city": ("groups", "city"),  # groups of the same city ordered it in the last 7 days
    "hot_platform": ("groups",),  # groups on the platform ordered it in the last 4 weeks
    "hot_category": ("pct", "category"),  # the group's share of orders in the product's category
    "hot_buyers": ("groups",),  # groups on the platform that ever ordered it
    "new_responding": ("age_days", "groups", "post_pct"),  # launched lately, and posts of it sell
    "new_category": ("age_days", "pct", "category"),  # launched lately, in a category the group buys
    "new_launch": ("age_days",),  # launched lately, nothing more to say yet
    "peers_new_group": ("pct", "kind", "city"),  # a group without history: what its peers bought
    "young_group_own": ("orders", "group_days"),  # a young group's own orders since it started
    "seasonal_own": ("order_days",),  # back in season: the group ordered it on these days last year
    "seasonal_platform": ("groups",),  # back in season: groups that ordered it on these days last year
}
# group kinds in the English reason (the contract's codes are not words)
KIND_WORDS = {"hot_items": "hot-item", "deals": "deals", "training": "training", "other": "general"}
PICKS_SCHEMA = {
    "group_id": pl.String,
    "for_date": pl.Date,
    "rank": pl.Int64,
    "product_id": pl.String,
    "campaign_id": pl.String,
    "score": pl.Float64,
    "slot": pl.String,
    "reason": pl.String,  # English; the API renders reason_code + reason_args per locale
    "model_version": pl.String,
    "reason_code": pl.String,  # one of REASON_CODES
    "reason_args": pl.String,  # JSON object: the numbers the reason quotes
}


@dataclass(frozen=True)
class PicksConfig:
    """The rules of a restrained list (DESIGN.md, "The rules a good pick list keeps")."""

    n: int = 10
    fatigue_days: int = 7  # a product posted to a group is not pushed again for this long ...
    reorder_exempt_days: int = 2  # ... unless the group ordered it on this many days in the last 30
    price_bands: int = 4  # price quantile bands within a category
    hot_max: int = 2  # hard for a group with a history of its own: a shorter list rather than more
    replenish_max: int = 2
    new_max: int = 2
    new_days: int = 14
    # regular ("bought before"): the group ordered it on at least this many days. One order is
    # enough: on Online Retail requiring two cut the published lists' NDCG@10 from 0.3624 to 0.3498
    # (what a group re-buys is most of what it buys again). Replenish always needs a cycle (2 days).
    regular_min_days: int = 1
    notable_share: float = 0.10  # a reason quotes a share (of a category, of peers) only from this one
    # a hot pick is said to sell in the city / on the platform only from this many groups: "1 group in
    # Shanghai ordered it" is no selling point (its category share or its buyers are said instead)
    hot_min_groups: int = 3
    due_ratio: float = 0.8  # replenish when days since last order >= due_ratio x the group's cycle
    recent_days: int = RECENT_DAYS  # without campaign data: available = sold in the last N days
    max_price_ratio: float = 3.0  # never-bought products above this x the group's usual price: skip
    not_interested_days: int = 30
    candidates_per_model: int = 60  # each generator's top-n among what is available
    sparse_days: int = 14  # a group whose first order is fewer days back leans on its peers (city, kind)
    # back in season: on sale, nobody ordered it in the last 4 weeks, and on the same days last year
    # (recsys.models.year_ago) the group did or a notable share of the groups did: at most this many
    # such items have a place kept in a group's list, where their score puts them, with a reason that
    # says so (汤圆 the week of 元宵节). Leading the list with it cost NDCG@10 0.0046 on the festival
    # world's 元宵节 week (BENCHMARKS.md, "The same days a year earlier")
    seasonal_max: int = 1


PickStage = Callable[[pl.DataFrame, Signal, "PicksConfig"], pl.DataFrame]

# After scoring, a candidate frame goes through these in order; swap, drop or add one in one line
# (make_picks(..., stages=...)). Each takes and returns the (g, i, ...) frame of one chunk of groups.
PICK_STAGES: tuple[tuple[str, PickStage], ...] = (
    ("rules", lambda frame, signal, config: apply_rules(frame, signal, config)),
    ("slots", lambda frame, signal, config: assign_slots(frame, config)),
    ("select", lambda frame, signal, config: select(frame, config)),
    ("reasons", lambda frame, signal, config: with_reasons(frame, signal, config)),
)


def make_picks(
    prod: Production,
    for_date: date,
    config: PicksConfig | None = None,
    groups: pl.Series | None = None,
    excluded: pl.DataFrame | None = None,
    stages: tuple[tuple[str, PickStage], ...] | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Picks for `for_date` (the production's as-of day) for `groups` (default: every group).

    excluded: products no group may be offered (`product_id`; a platform-wide exclusion such as a
    recall): they leave the available set, so the lists fill up with the next products instead."""
    config = config or PicksConfig()
    stages = PICK_STAGES if stages is None else stages
    signal = prod.signal
    banned = excluded_items(signal, excluded)
    if groups is None:
        g_rows = np.arange(len(signal.groups))
    else:
        g_rows = signal.groups.encode(groups)
        g_rows = np.unique(g_rows[g_rows >= 0])
    offers = on_sale_offers(prod.frames, signal) if has_campaigns(prod.frames) else None
    info = {
        "source": "campaigns"
        if has_campaigns(prod.frames)
        else f"sold in the last {config.recent_days} days (no campaign data)",
    }
    if banned is not None:
        info["excluded_products"] = banned.height
    counts = {"available_pairs": 0, "candidates": 0, "after_rules": 0}
    parts = []
    for chunk in chunks(g_rows):  # bounded memory: candidates x features of one chunk at a time
        avail = available(prod.frames, signal, chunk, config, offers)
        if banned is not None:
            avail = avail.join(banned.cast({"i": avail.schema["i"]}), on="i", how="anti")
        if avail.height == 0:
            continue
        frame = score_available(prod, chunk, avail, config)
        counts["available_pairs"] += avail.height
        counts["candidates"] += frame.height
        for name, stage in stages:
            frame = stage(frame, signal, config)
            if name == "rules":
                counts["after_rules"] += frame.height
        parts.append(frame)
    if not parts:
        info["available_pairs"] = 0
        info["warning"] = (
            f"nothing is on sale on {for_date} for these groups (no open or opening campaign): no picks"
        )
        return pl.DataFrame(schema=PICKS_SCHEMA), info
    picks = pl.concat(parts).with_columns(
        for_date=pl.lit(for_date),
        model_version=pl.lit(f"{prod.chosen}@{for_date.isoformat()}"),
    )
    picks = (
        picks.with_columns(
            group_id=signal.groups.decode(picks["g"].to_numpy()),
            product_id=signal.items.decode(picks["i"].to_numpy()),
        )
        .select(list(PICKS_SCHEMA))
        .cast(PICKS_SCHEMA)
        .sort("group_id", "rank")
    )
    info.update(
        **counts,
        picks=picks.height,
        slots={s: int((picks["slot"] == s).sum()) for s in SLOTS},
    )
    return picks, info


def picks_payload(prod: Production) -> Production:
    """`prod` with only the frames make_picks reads (campaigns, memberships; orders cut down to the
    paid quantity per campaign before the as-of instant, all that on_sale_offers takes from them):
    what is shipped to the executors that pick for chunks of groups (pipelines.spark_stages), where
    every row of the orders table would be dead weight. make_picks gives the same picks with it."""
    frames = {name: prod.frames[name] for name in ("campaigns", "memberships") if name in prod.frames}
    orders = prod.frames.get("orders")
    if orders is not None:
        frames["orders"] = (
            orders.lazy()
            .pipe(paid_orders, prod.signal.as_of, known_at=prod.signal.as_of)
            .group_by("campaign_id")
            .agg(pl.col("quantity").sum(), pl.col("ordered_at").min(), pl.col("status").first())
            .collect()
        )
    return replace(prod, frames=frames, validation=None)


def excluded_items(signal: Signal, excluded: pl.DataFrame | None) -> pl.DataFrame | None:
    """(i,) of the excluded products the signal knows; None when nothing is excluded."""
    if excluded is None or excluded.height == 0:
        return None
    rows = signal.items.encode(excluded.get_column("product_id").cast(pl.String))
    return pl.DataFrame({"i": pl.Series(np.unique(rows[rows >= 0]), dtype=pl.Int64)})


def available(
    frames: dict[str, pl.DataFrame],
    signal: Signal,
    g_rows: np.ndarray,
    config: PicksConfig,
    offers: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """(g, i, campaign_id, band, category): what each group can buy on the as-of day.

    offers: from on_sale_offers (computed once for every chunk of groups)."""
    if has_campaigns(frames):
        offers = offers if offers is not None else on_sale_offers(frames, signal)
        pairs = offers_for_groups(offers, signal, g_rows)
    else:
        wanted = pl.DataFrame({"g": pl.Series(g_rows, dtype=pl.Int64)})
        recent = recently_sold(signal, config.recent_days)
        pairs = wanted.join(recent, how="cross").with_columns(campaign_id=pl.lit(None, pl.String))
    return pairs.join(price_bands(signal, config.price_bands), on="i").sort("g", "i")


def price_bands(signal: Signal, n_bands: int) -> pl.DataFrame:
    """(i, category, band): the price quantile band of each product within its category."""
    m = signal.item_meta.select("i", "category", "price")
    return m.with_columns(
        band=((pl.col("price").rank("average").over("category") - 1) / pl.len().over("category") * n_bands)
        .floor()
        .cast(pl.Int32)
        .clip(0, n_bands - 1)
    ).select("i", "category", "band")


def score_available(
    prod: Production, g_rows: np.ndarray, avail: pl.DataFrame, config: PicksConfig
) -> pl.DataFrame:
    """Candidates of every generator among the available products, plus new products, scored."""
    signal = prod.signal
    mask = np.zeros((len(g_rows), len(signal.items)), dtype=bool)
    local = pl.DataFrame({"g": pl.Series(g_rows, dtype=pl.Int64), "row": np.arange(len(g_rows))})
    a = avail.join(local, on="g")
    mask[a["row"].to_numpy(), a["i"].to_numpy()] = True
    cands = candidates(prod.models, g_rows, config.candidates_per_model, mask)
    new = new_product_pairs(signal, avail, config.new_days).join(
        cands.select("g", "i"), on=["g", "i"], how="anti"
    )
    if new.height:
        g_new, i_new = new["g"].to_numpy(), new["i"].to_numpy()
        below = config.candidates_per_model + 1  # a rank below every generator's list
        extra = new.with_columns(
            **{f"s_{n}": pair_scores(m, g_new, i_new) for n, m in prod.models.items()},
            **{f"r_{n}": pl.lit(below if m.informative() else None, pl.Int32)
               for n, m in prod.models.items()},
        )
        cands = pl.concat([cands, extra.select(cands.columns)])
    feats = prod.score_frame(add_features(cands, signal, prod.frames))
    peers = peer_popularity(signal, g_rows)
    feats = feats.join(peers, on=["g", "i"], how="left").with_columns(
        pl.col("peer_share").fill_null(0.0), prior_new=new_product_prior(feats)
    )
    # a group without history is ranked by its peers (same city and kind), then by the model; a
    # group with only a week or two of history keeps its own few items first, then its peers' picks
    # days since the group's first order (an order the day before the list is 1 day old)
    started = signal.daily.filter(pl.col("g").is_in(pl.Series(g_rows).implode())).group_by("g").agg(
        g_history_days=pl.col("age").max().cast(pl.Int64))
    kinds = signal.group_meta.select("g", pl.col("kind").fill_null("other").alias("group_kind"))
    feats = feats.join(started, on="g", how="left").join(kinds, on="g", how="left")
    cold = pl.col("g_lines").fill_null(0) == 0
    sparse = ~cold & (pl.col("g_history_days").fill_null(0) < config.sparse_days)
    own = pl.col("own_lines").fill_null(0) > 0
    feats = feats.with_columns(
        score=pl.when(cold).then(pl.col("peer_share") + 1e-3 * pl.col("score"))
        .when(sparse & own).then(1.0 + pl.col("score"))
        .when(sparse).then(pl.col("peer_share") + 1e-3 * pl.col("score"))
        .otherwise(pl.col("score")),
        from_peers=(cold | (sparse & ~own)),
        sparse_group=sparse,
        peer_led=(cold | sparse),  # the list leans on its peers: no history of its own to balance them
    )
    feats = feats.join(year_ago_columns(prod, feats.select("g", "i")), on=["g", "i"], how="left")
    return feats.join(avail, on=["g", "i"], how="inner", suffix="_a").with_columns(
        back_in_season=back_in_season(config))


def year_ago_columns(prod: Production, pairs: pl.DataFrame) -> pl.DataFrame:
    """(g, i, ly_groups, ly_share, ly_own_days): the groups that ordered the item on the same days last
    year, their share of the groups ordering then, and the group's own order days then, from the
    `year_ago` generator (recsys.models.year_ago; null without it, or where the history does not
    reach back a year)."""
    model = prod.models.get("year_ago")
    if model is None or not model.informative():
        return pairs.with_columns(ly_groups=pl.lit(None, pl.Int64), ly_share=pl.lit(None, pl.Float64),
                                  ly_own_days=pl.lit(None, pl.Int64))
    g, i = pairs["g"].to_numpy(), pairs["i"].to_numpy()
    share = model.share_[i].astype(np.float64)
    own = np.asarray(model.own_[g, i]).ravel() if len(g) else np.zeros(0)
    return pairs.with_columns(
        ly_groups=pl.Series(np.rint(share * model.groups_then_).astype(np.int64)),
        ly_share=pl.Series(share),
        ly_own_days=pl.Series(own.astype(np.int64)),
    )


def back_in_season(config: PicksConfig) -> pl.Expr:
    """Nobody on the platform ordered it in the last 4 weeks, and on the same days last year the group
    did, or at least two groups making a notable share of those ordering then did."""
    share = pl.col("ly_share").fill_null(0.0)
    platform = (pl.col("ly_groups").fill_null(0) >= 2) & (share >= config.notable_share)
    own = pl.col("ly_own_days").fill_null(0) > 0
    return (pl.col("i_groups_28").fill_null(0) == 0) & (own | platform)


def apply_rules(scored: pl.DataFrame, signal: Signal, config: PicksConfig) -> pl.DataFrame:
    """Drop what the rules forbid: pushed recently (posted, or marked posted / skipped) unless the
    group keeps re-ordering it; marked not interested; never bought and far above its usual price."""
    fb = signal.feedback
    pushed = fb.filter(pl.col("action").is_in(["posted", "skip"]) & (pl.col("age") < config.fatigue_days))
    # not interested: the group's *last* mark on the product, within the window (as the API hides it
    # at read time, api.feedback_store.hidden): a product marked posted after a not-interested mark is
    # the shopkeeper changing their mind, and comes back
    # (marks of the same instant: the one read last, as the API's store takes the later line)
    last = (fb.with_row_index("_n").sort(["age", "_n"], descending=[False, True])
            .group_by("g", "i", maintain_order=True).first())
    refused = last.filter((pl.col("action") == "not_interested")
                          & (pl.col("age") < config.not_interested_days))
    f = scored.join(
        pushed.select("g", "i").unique().with_columns(fb_push=pl.lit(True)), on=["g", "i"], how="left"
    )
    f = f.join(refused.select("g", "i").unique(), on=["g", "i"], how="anti")
    keeps_reordering = pl.col("own_days_30") >= config.reorder_exempt_days
    posted = pl.col("last_post_age").is_not_null() & (pl.col("last_post_age") < config.fatigue_days)
    fatigued = (posted | pl.col("fb_push").fill_null(False)) & ~keeps_reordering
    too_dear = (pl.col("own_lines") == 0) & (
        pl.col("price") > config.max_price_ratio * pl.col("g_unit_price").fill_null(float("inf"))
    )
    return f.filter(~fatigued & ~too_dear).drop("fb_push")


def assign_slots(frame: pl.DataFrame, config: PicksConfig) -> pl.DataFrame:
    """replenish (cycle due) > regular (bought before) > new (recent launch) > hot (what peers buy
    now). Replenish needs repetition (ordered on two days or more: a cycle); regular needs an order on
    `regular_min_days` days; below that an item is new or hot like any other."""
    repeated = pl.col("own_days").fill_null(0) >= config.regular_min_days
    due = (
        pl.col("cycle").is_not_null()
        & (pl.col("own_days").fill_null(0) >= 2)
        & (pl.col("last_order_age") >= config.due_ratio * pl.col("cycle"))
        & (pl.col("last_order_age") <= 3 * pl.col("cycle"))
    )
    return frame.with_columns(
        slot=pl.when(due)
        .then(pl.lit("replenish"))
        .when(repeated)
        .then(pl.lit("regular"))
        .when(pl.col("product_age") <= config.new_days)
        .then(pl.lit("new"))
        .otherwise(pl.lit("hot"))
    )


def select(frame: pl.DataFrame, config: PicksConfig) -> pl.DataFrame:
    """Top-n per group: one product per (category, price band); the best of each of hot / replenish /
    new reserved a place, then the rest by score within slot quotas, then beyond them only to fill
    the list; the list is ranked by score. Hot never goes beyond its quota in a list that has a
    history of its own (`within_hot_quota`): such a list is shorter rather than filled with hot items."""
    quota = {
        "hot": config.hot_max,
        "replenish": config.replenish_max,
        "new": config.new_max,
        "regular": config.n,
    }
    f = with_season(frame, config.seasonal_max).with_columns(
        order_score=pl.when(pl.col("slot") == "new")
        .then(pl.col("prior_new") + pl.col("score"))
        .otherwise(pl.col("score"))
    )
    # an item in season first among equals: it takes the first of the hot quota and its cell
    f = f.sort(["g", "seasonal_pick", "order_score", "i"], descending=[False, True, True, False])
    f = within_hot_quota(f, config.hot_max)
    f = f.unique(["g", "category", "band"], keep="first", maintain_order=True)
    f = f.with_columns(slot_rank=pl.int_range(1, pl.len() + 1).over("g", "slot"))
    within = pl.col("slot_rank") <= pl.col("slot").replace_strict(quota, return_dtype=pl.Int64)
    reserved = ((pl.col("slot_rank") == 1) & (pl.col("slot") != "regular")) | pl.col("seasonal_pick")
    # tiers: the best of each slot first, then within quota, then (only to fill the list) the rest
    f = f.with_columns(tier=pl.when(reserved).then(0).when(within).then(1).otherwise(2))
    f = f.sort(["g", "tier", "order_score", "i"], descending=[False, False, True, False])
    f = f.with_columns(pos=pl.int_range(1, pl.len() + 1).over("g")).filter(pl.col("pos") <= config.n)
    f = f.sort(["g", "order_score", "i"], descending=[False, True, False])
    return f.with_columns(
        rank=pl.int_range(1, pl.len() + 1).over("g").cast(pl.Int64),
        score=pl.col("order_score").cast(pl.Float64),
    )


def with_season(frame: pl.DataFrame, seasonal_max: int) -> pl.DataFrame:
    """`seasonal_pick`: the group's best `seasonal_max` back-in-season items (`back_in_season`; its own
    order days then first, then the share of groups that ordered it then); the columns the reasons
    quote (ly_groups, ly_own_days) null where the frame has none."""
    missing = {"back_in_season": pl.lit(False), "ly_groups": pl.lit(None, pl.Int64),
               "ly_share": pl.lit(None, pl.Float64), "ly_own_days": pl.lit(None, pl.Int64)}
    f = frame.with_columns(**{c: e for c, e in missing.items() if c not in frame.columns})
    seasonal = pl.col("back_in_season").fill_null(False)
    # own order days first (whole days), then the share (< 1) among equal days
    order = pl.col("ly_own_days").fill_null(0).cast(pl.Float64) + 0.999 * pl.col("ly_share").fill_null(0.0)
    place = order.rank("ordinal", descending=True).over("g", seasonal)
    return f.with_columns(seasonal_pick=seasonal & (place <= seasonal_max))


def within_hot_quota(f: pl.DataFrame, hot_max: int) -> pl.DataFrame:
    """`f` (sorted by score within each group) without the hot items a list may not take: beyond the
    best `hot_max` hot items that win their (category, band) cell, in a list that is not peer-led.

    Their cells go to the next best item in them, so that hot items the quota leaves out never push
    the group's own items out of the list and leave it to be filled with more hot items. A peer-led
    list (`peer_led`: a group without history, or with only a few days of it) is its peers' picks by
    design and keeps them, beyond the quota only to fill the list."""
    winners = f.unique(["g", "category", "band"], keep="first", maintain_order=True)
    kept = (
        winners.filter(pl.col("slot") == "hot")
        .filter(pl.int_range(1, pl.len() + 1).over("g") <= hot_max)
        .select("g", "i", _hot_kept=pl.lit(True))
    )
    allowed = (
        (pl.col("slot") != "hot") | pl.col("peer_led").fill_null(False) | pl.col("_hot_kept").fill_null(False)
    )
    return f.join(kept, on=["g", "i"], how="left", maintain_order="left").filter(allowed).drop("_hot_kept")


def with_reasons(
    frame: pl.DataFrame, signal: Signal | None = None, config: PicksConfig | None = None
) -> pl.DataFrame:
    """One reason per pick, built from the numbers that put it there: `reason_code` (REASON_CODES),
    those numbers as a JSON object `reason_args`, and the English sentence `reason`. A share (the
    group's orders in a category, its peers that bought it) is quoted only when it is notable."""
    config = config or PicksConfig()
    if "seasonal_pick" not in frame.columns:
        frame = with_season(frame, 0)
    i64 = pl.Int64
    slot = pl.col("slot")
    own_30 = pl.col("own_lines_30").cast(i64)
    city_7 = pl.col("city_groups_7").cast(i64)
    groups_28 = pl.col("i_groups_28").cast(i64)
    buyers = pl.col("i_buyers").fill_null(0).cast(i64)
    age = pl.col("product_age").cast(i64)
    cycle, last = pl.col("cycle").round(0).cast(i64), pl.col("last_order_age").cast(i64)
    own_days = pl.col("own_days").cast(i64)
    # the share of the product's posts that got orders, as counted (the ranker's rate is smoothed)
    posts_ordered = (pl.col("_i_resp") / pl.col("i_posts")) if "_i_resp" in frame.columns else (
        pl.col("i_response_rate"))
    notable = notable_share(pl.col("cat_share"), config)
    peers_notable = notable_share(pl.col("peer_share"), config)
    kind_words = pl.col("group_kind").replace_strict(KIND_WORDS, default=pl.col("group_kind"))
    share_args = {"pct": _pct_int(pl.col("cat_share")), "category": pl.col("category")}
    share_text = pl.format("{} of your orders are in its category", _pct(pl.col("cat_share")))
    # (code, when it applies, its numbers, its English sentence): the first that applies wins
    ly_own, ly_groups = pl.col("ly_own_days").cast(i64), pl.col("ly_groups").cast(i64)
    kinds: list[tuple[str, pl.Expr, dict[str, pl.Expr], pl.Expr]] = [
        (
            "seasonal_own",
            pl.col("seasonal_pick") & (pl.col("ly_own_days").fill_null(0) > 0),
            {"order_days": ly_own},
            pl.format("your group ordered it {} around this time last year", _on_days(ly_own)),
        ),
        (
            "seasonal_platform",
            pl.col("seasonal_pick"),
            {"groups": ly_groups},
            pl.format("{} ordered it around this time last year", _groups(ly_groups)),
        ),
        (
            "peers_new_group",
            pl.col("from_peers").fill_null(False) & (slot != "new") & peers_notable,
            {"pct": _pct_int(pl.col("peer_share")), "kind": pl.col("group_kind"), "city": pl.col("city")},
            pl.format(
                "new group: {} of {} groups in {} bought it in 4 weeks",
                _pct(pl.col("peer_share")), kind_words, pl.col("city"),
            ),
        ),
        (
            "young_group_own",
            pl.col("sparse_group").fill_null(False) & (pl.col("own_lines").fill_null(0) > 0),
            {"orders": pl.col("own_lines").cast(i64), "group_days": pl.col("g_history_days").cast(i64)},
            pl.format(
                "your group ordered it {} since starting {}",
                _times(pl.col("own_lines").cast(i64)), _ago(pl.col("g_history_days").cast(i64)),
            ),
        ),
        (
            "replenish_due",
            slot == "replenish",
            {"cycle_days": cycle, "last_days": last},
            pl.format("your group re-orders it about {}; last order {}", _every(cycle), _ago(last)),
        ),
        (
            "regular_recent",
            (slot == "regular") & (pl.col("own_lines_30") > 0),
            {"orders": own_30},
            pl.format("your members ordered it {} in the last 30 days", _times(own_30)),
        ),
        (
            "regular_before",
            slot == "regular",
            {"order_days": own_days, "last_days": last},
            pl.when(own_days == 1).then(pl.format("your group ordered it on one day, {}", _ago(last)))
            .otherwise(pl.format("your group ordered it on {} days; the last time {}", own_days, _ago(last))),
        ),
        (
            "new_responding",
            (slot == "new") & (pl.col("i_posts") > 0),
            {"age_days": age, "groups": groups_28, "post_pct": _pct_int(posts_ordered)},
            pl.format(
                "new {}; {} ordered it so far, {} of posts got orders",
                _ago(age), _groups(groups_28), _pct(posts_ordered),
            ),
        ),
        (
            "new_category",
            (slot == "new") & notable,
            {"age_days": age, "pct": _pct_int(pl.col("cat_share")), "category": pl.col("category")},
            pl.format("new {}; {} of your orders are in its category", _ago(age), _pct(pl.col("cat_share"))),
        ),
        ("new_launch", slot == "new", {"age_days": age}, pl.format("new {}", _ago(age))),
        (
            "hot_city",
            pl.col("city_groups_7") >= config.hot_min_groups,
            {"groups": city_7, "city": pl.col("city")},
            pl.format("{} in {} ordered it in the last 7 days", _groups(city_7), pl.col("city")),
        ),
        (
            "hot_platform",
            pl.col("i_groups_28") >= config.hot_min_groups,
            {"groups": groups_28},
            pl.format("{} on the platform ordered it in the last 4 weeks", _groups(groups_28)),
        ),
        ("hot_category", notable, share_args, share_text),
        (
            "hot_buyers",
            buyers > 0,
            {"groups": buyers},
            pl.when(buyers == 1).then(pl.lit("1 group on the platform has ordered it"))
            .otherwise(pl.format("{} groups on the platform have ordered it", buyers)),
        ),
        # nothing else is known of it: its category share, however small, is the one true number left
        ("hot_category", pl.lit(True), share_args, share_text),
    ]

    def first_that_applies(part: Callable[[tuple], pl.Expr]) -> pl.Expr:
        expr = pl.when(kinds[0][1]).then(part(kinds[0]))
        for kind in kinds[1:-1]:
            expr = expr.when(kind[1]).then(part(kind))
        return expr.otherwise(part(kinds[-1]))

    return frame.with_columns(
        reason=first_that_applies(lambda k: k[3]),
        reason_code=first_that_applies(lambda k: pl.lit(k[0])),
        reason_args=first_that_applies(lambda k: pl.struct(**k[2]).struct.json_encode()),
    )


def notable_share(share: pl.Expr, config: PicksConfig) -> pl.Expr:
    """A share worth quoting to a group: at least `PicksConfig.notable_share`, as the sentence rounds it
    (3% of the group's orders, 0% of its peers, is no selling point)."""
    return _pct_int(share) >= round(100 * config.notable_share)


def _times(x: pl.Expr) -> pl.Expr:
    return pl.when(x == 1).then(pl.lit("once")).otherwise(pl.format("{} times", x))


def _on_days(x: pl.Expr) -> pl.Expr:
    """A count of days with orders as words: several members ordering on one day are one day, not "once"."""
    return pl.when(x == 1).then(pl.lit("on one day")).otherwise(pl.format("on {} days", x))


def _every(x: pl.Expr) -> pl.Expr:
    """A cycle in days as words: every day, every 6 days."""
    return pl.when(x == 1).then(pl.lit("every day")).otherwise(pl.format("every {} days", x))


def _ago(x: pl.Expr) -> pl.Expr:
    """A count of whole days before the picking day as words: today, yesterday, 6 days ago."""
    words = pl.when(x == 0).then(pl.lit("today")).when(x == 1).then(pl.lit("yesterday"))
    return words.otherwise(pl.format("{} days ago", x))


def _groups(x: pl.Expr) -> pl.Expr:
    return pl.when(x == 1).then(pl.lit("1 group")).otherwise(pl.format("{} groups", x))


def _pct_int(x: pl.Expr) -> pl.Expr:
    return (x.fill_null(0.0) * 100).round(0).cast(pl.Int64)


def _pct(x: pl.Expr) -> pl.Expr:
    return pl.format("{}%", _pct_int(x))

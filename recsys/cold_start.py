"""Cold start: a group with no history (its city and kind), a product with no history yet
(its category and price band, its supplier, and early response elsewhere)."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from recsys.signal import Signal


def peer_popularity(signal: Signal, g_rows: np.ndarray, window_days: int = 28) -> pl.DataFrame:
    """Per (g, i): share of the *other* groups of the same city and kind that ordered i recently
    (peer_share; null where the group has no peer). The group itself is left out of both counts: with
    it, 4 of 5 peers read as 4 of 6 (67%, not 80%), and a young group's own orders counted as its
    peers' proof."""
    meta, share, recent = signal.memo(f"peer_share_{window_days}", lambda: _peer_shares(signal, window_days))
    wanted = meta.filter(pl.col("g").is_in(pl.Series(g_rows).implode()))
    own = recent.join(wanted.select("g"), on="g").with_columns(own=pl.lit(1, pl.UInt32))
    return (
        wanted.join(share, on="peer")
        .join(own, on=["g", "i"], how="left")
        .with_columns(others=pl.col("c") - pl.col("own").fill_null(0), peers=pl.col("n") - 1)
        .filter((pl.col("peers") > 0) & (pl.col("others") > 0))
        .select("g", "i", peer_share=pl.col("others") / pl.col("peers"))
    )


def _peer_shares(signal: Signal, window_days: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(g, peer) of every group, (peer, i, c groups that ordered i, n groups of the peer) over the whole
    signal, and the (g, i) pairs ordered in the window: built once per signal, whatever the number of
    chunks of groups that read it."""
    meta = signal.group_meta.select(
        "g", peer=pl.concat_str(pl.col("city").fill_null(""), pl.col("kind").fill_null(""), separator="|")
    )
    sizes = meta.group_by("peer").agg(n=pl.len())
    recent = signal.daily.filter(pl.col("age") <= window_days).select("g", "i").unique()
    share = recent.join(meta, on="g").group_by("peer", "i").agg(c=pl.len()).join(sizes, on="peer")
    return meta, share, recent


def new_product_pairs(signal: Signal, available: pl.DataFrame, new_days: int) -> pl.DataFrame:
    """(g, i) pairs of available products launched within `new_days` of the as-of day."""
    since = signal.as_of_day - timedelta(days=new_days)
    new = signal.item_meta.filter(pl.col("launched_on") >= since).select("i")
    return available.join(new, on="i").select("g", "i").unique()


def new_product_prior(feats: pl.DataFrame) -> pl.Expr:
    """Expected appeal of a product with little history: the group's share of its category times
    its early response rate elsewhere (shrunk to the platform's rate), from add_features columns."""
    return pl.col("cat_share").fill_null(0.0) * pl.col("i_response_rate").fill_null(0.25)

"""Pickup baselines for pre-sale nowcasts, learned from closed campaigns' booking curves.

- additive: final = so far + the mean quantity still to come at this share of the window;
- multiplicative: final = so far / (share of the final usually booked by now), made safe when
  almost nothing is ordered yet: the curve is floored, and the estimate is blended with the
  additive one with weight so_far / (so_far + k) (a credibility weight), so 0 or 1 unit at 5% of
  the window never explodes into a huge total.
Both learn per category × grid point with a pooled fallback; quantiles come from the spread of the
same errors on the training campaigns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class PickupConfig:
    grid: int = 10
    curve_floor: float = 0.05  # smallest share of the final believed booked
    credibility_k: float = 5.0  # units at which the multiplicative estimate gets half the weight
    min_campaigns: int = 30  # per category × grid point, else the pooled curve


def _j(share: pl.Expr, grid: int) -> pl.Expr:
    return (share * grid).round().cast(pl.Int64).clip(0, grid)


class Pickup:
    """Fits additive pickup and multiplicative booked share per category × grid point."""

    def __init__(self, config: PickupConfig = PickupConfig()):
        self.config = config

    def fit(self, snaps: pl.DataFrame) -> Pickup:
        """snaps: category, j, qty_at, final_qty (one row per campaign × warehouse × grid point)."""
        cfg = self.config
        s = snaps.with_columns((pl.col("final_qty") - pl.col("qty_at")).alias("rest"))
        aggs = [
            pl.col("rest").mean().alias("add_mean"),
            pl.col("rest").quantile(0.1).alias("add_q10"),
            pl.col("rest").quantile(0.9).alias("add_q90"),
            (pl.col("qty_at").sum() / pl.col("final_qty").sum().clip(1, None)).alias("booked"),
            pl.len().alias("n"),
        ]
        pooled = s.group_by("j").agg(aggs)
        per_cat = s.group_by("category", "j").agg(aggs).filter(pl.col("n") >= cfg.min_campaigns)
        self.pooled_ = pooled
        self.per_cat_ = per_cat
        m = self._lookup(s)
        mult = self._multiplicative(m)
        ratio = np.log1p(s["final_qty"].to_numpy()) - np.log1p(mult)
        r = pl.DataFrame({"j": s["j"], "ratio": ratio}).group_by("j").agg(
            pl.col("ratio").quantile(0.1).alias("mul_q10"), pl.col("ratio").quantile(0.9).alias("mul_q90"))
        self.mult_spread_ = r
        return self

    def _lookup(self, state: pl.DataFrame) -> pl.DataFrame:
        """Attach the curve values of each row's category and grid point (pooled where thin)."""
        cols = ["add_mean", "add_q10", "add_q90", "booked"]
        x = state.with_row_index("_row")
        a = x.join(self.per_cat_.select("category", "j", *cols), on=["category", "j"], how="left")
        b = a.join(self.pooled_.select("j", *[pl.col(c).alias(f"{c}_all") for c in cols]), on="j", how="left")
        return b.with_columns([pl.coalesce(c, f"{c}_all").fill_null(0.0).alias(c) for c in cols]).sort("_row")

    def _multiplicative(self, m: pl.DataFrame) -> np.ndarray:
        cfg = self.config
        so_far = m["qty_at"].to_numpy().astype(np.float64)
        booked = np.maximum(m["booked"].to_numpy(), cfg.curve_floor)
        additive = so_far + np.maximum(m["add_mean"].to_numpy(), 0.0)
        w = so_far / (so_far + cfg.credibility_k)
        return w * (so_far / booked) + (1.0 - w) * additive

    def predict(self, state: pl.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """state: category, share, qty_at. Returns {"additive"|"multiplicative": (p10, p50, p90)}."""
        grid = self.config.grid
        m = self._lookup(state.with_columns(_j(pl.col("share"), grid).alias("j")))
        so_far = m["qty_at"].to_numpy().astype(np.float64)
        add = so_far + np.maximum(m["add_mean"].to_numpy(), 0.0)
        add_lo = so_far + np.maximum(m["add_q10"].to_numpy(), 0.0)
        add_hi = so_far + np.maximum(m["add_q90"].to_numpy(), 0.0)
        mul = self._multiplicative(m)
        spread = m.select("_row", "j").join(self.mult_spread_, on="j", how="left").sort("_row").fill_null(0.0)
        mul_lo = np.expm1(np.log1p(mul) + np.minimum(spread["mul_q10"].to_numpy(), 0.0))
        mul_hi = np.expm1(np.log1p(mul) + np.maximum(spread["mul_q90"].to_numpy(), 0.0))
        return {
            "additive": (np.minimum(add_lo, add), add, np.maximum(add_hi, add)),
            "multiplicative": (np.minimum(mul_lo, mul), mul, np.maximum(mul_hi, mul)),
        }

"""Pre-sale forecasting end to end (pure): learn from campaigns closed before the origin, then
nowcast any campaign × warehouse from its booking state at any instant, or forecast it before it
opens (share 0: the bottom-up priors carry it).

Inputs are the contract frames; nothing after the origin enters the fit: training campaigns closed
by the origin, priors only from campaigns closed by then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from aggregation.booking import UNIT, booking_snapshots, exposure_at
from aggregation.bottom_up import history_priors, signal_expectation
from aggregation.group_reach import ReachConfig, group_reach
from aggregation.nowcast import NowcastConfig, NowcastModel
from aggregation.pickup import Pickup, PickupConfig
from aggregation.pooling import TS, campaign_units, pool_campaigns_at

MODELS = ("additive", "multiplicative", "production")


@dataclass(frozen=True)
class PresaleConfig:
    train_days: int = 28  # campaigns closed in these days before the origin train the model
    prior_days: int = 56  # campaigns closed in these days feed the history priors
    grid: int = 10  # booking states at shares 0, 0.1, ..., 1
    max_train_units: int = 20_000
    calib_share: float = 0.25  # the most recent campaigns calibrate the interval
    reach: ReachConfig | None = field(default_factory=ReachConfig)  # None: no group evidence
    pickup: PickupConfig = field(default_factory=PickupConfig)
    nowcast: NowcastConfig = field(default_factory=NowcastConfig)
    seed: int = 7


def unit_meta(campaigns: pl.DataFrame, groups: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """campaign × warehouse with product, supplier, category, prices and window."""
    units = campaign_units(campaigns, groups, products)
    attrs = products.select("product_id", pl.col("category").fill_null("unknown"),
                            pl.col("price").alias("list_price"))
    return units.join(attrs, on="product_id", how="left").with_columns(
        pl.col("category").fill_null("unknown"))


def finals(orders: pl.DataFrame, campaigns: pl.DataFrame, groups: pl.DataFrame, products: pl.DataFrame
           ) -> pl.DataFrame:
    """Pooled total at each campaign's cutoff, per campaign × warehouse (the outcome to forecast)."""
    instants = campaigns.select("campaign_id", pl.col("closes_at").alias("instant"))
    pooled = pool_campaigns_at(orders, campaigns, groups, products, instants, detail=False)
    return pooled.select(*UNIT, pl.col("ordered_qty").alias("final_qty"),
                         pl.col("groups_ordering").alias("final_groups"))


def state_frame(base: pl.DataFrame, meta: pl.DataFrame, priors: pl.DataFrame, groups_in_wh: pl.DataFrame,
                categories: dict[str, int], reach: pl.DataFrame | None = None) -> pl.DataFrame:
    """Join a booking state (UNIT, share, instant, qty_at, groups_at, ...) with everything the model reads.

    reach (optional): UNIT, cutoff, reach_prod, reach_cat, reach_all as of min(instant, opens_at)."""
    # a campaign not yet open is read as at its opening (as in training, share 0 = the opening)
    local = pl.max_horizontal("instant", "opens_at").dt.convert_time_zone("Asia/Shanghai")
    out = base.join(meta, on=UNIT, how="left").join(
        priors.drop("product_id", "supplier_id", "category", "price_band", strict=False), on=UNIT, how="left"
    ).join(groups_in_wh, on="warehouse_id", how="left")
    out = out.with_columns(
        local.dt.hour().cast(pl.Float64).alias("hour"),
        local.dt.weekday().cast(pl.Float64).alias("dow"),
        ((pl.col("closes_at") - pl.col("opens_at")).dt.total_seconds() / 3600.0).alias("window_hours"),
        (pl.col("price") / pl.col("list_price")).alias("price_ratio"),
        pl.col("category").replace_strict(categories, default=None, return_dtype=pl.Float64)
        .alias("category_code"),
    )
    if reach is not None:
        out = out.with_columns(pl.min_horizontal("instant", "opens_at").alias("cutoff")).join(
            reach.select(*UNIT, "cutoff", "reach_prod", "reach_cat", "reach_all"), on=[*UNIT, "cutoff"],
            how="left").drop("cutoff")
        out = out.with_columns(signal_expectation(out))
    else:
        out = out.with_columns([pl.lit(None, pl.Float64).alias(c)
                                for c in ("reach_prod", "reach_cat", "reach_all", "signal_total")])
    return out


class PresaleForecaster:
    """Pickup baselines and the production nowcast, fitted as of an origin instant."""

    def __init__(self, config: PresaleConfig = PresaleConfig()):
        self.config = config

    def fit(self, frames: dict[str, pl.DataFrame], origin: datetime) -> PresaleForecaster:
        cfg = self.config
        t = pl.lit(origin).cast(TS)
        campaigns, groups, products = frames["campaigns"], frames["groups"], frames["products"]
        orders, posts = frames["orders"], frames.get("posts")
        self.origin_ = origin
        self.groups_ = groups
        self.products_ = products
        self.categories_ = {c: i for i, c in enumerate(sorted(products["category"].fill_null("unknown")
                                                                .unique().to_list() + ["unknown"]))}
        self.groups_in_wh_ = groups.filter(
            pl.col("created_on") <= origin.date()).group_by("warehouse_id").agg(
            pl.len().cast(pl.Float64).alias("groups_in_wh"))
        closed = campaigns.filter(pl.col("closes_at") <= t)
        hist = closed.filter(pl.col("closes_at") > t - pl.duration(days=cfg.prior_days))
        # every order of a campaign closed by the origin is placed before it, and pooling reads each
        # one as of the campaign's own cutoff, so nothing after the origin enters (read lazily)
        self.history_ = unit_meta(hist, groups, products).join(
            finals(orders, hist, groups, products), on=UNIT, how="left").with_columns(
            pl.col("final_qty", "final_groups").fill_null(0))
        train = closed.filter(pl.col("closes_at") > t - pl.duration(days=cfg.train_days))
        units = self.history_.join(train.select("campaign_id"), on="campaign_id", how="semi")
        if units.height < 50:
            raise ValueError(f"only {units.height} campaign × warehouse windows closed in the "
                             f"{cfg.train_days} days before {origin:%Y-%m-%d}; need at least 50")
        units = units.sort("closes_at", "campaign_id", "warehouse_id")
        n_cal = max(int(units.height * cfg.calib_share), 1)
        cal_units, fit_units = units.tail(n_cal), units.head(units.height - n_cal)
        rng = np.random.default_rng(cfg.seed)
        if fit_units.height > cfg.max_train_units:
            fit_units = fit_units[np.sort(rng.choice(fit_units.height, cfg.max_train_units, replace=False))]
        if cal_units.height > cfg.max_train_units // 2:
            keep = rng.choice(cal_units.height, cfg.max_train_units // 2, replace=False)
            cal_units = cal_units[np.sort(keep)]
        chosen = pl.concat([fit_units, cal_units]).select("campaign_id").unique()
        snaps = booking_snapshots(
            orders.lazy().filter(pl.col("ordered_at") <= t).join(chosen.lazy(), on="campaign_id", how="semi"),
            train.join(chosen, on="campaign_id", how="semi"), groups, products, posts, grid=cfg.grid,
        ).filter(pl.col("j") < cfg.grid)
        snaps = snaps.drop("final_qty").join(self.history_.select(*UNIT, "final_qty"), on=UNIT)
        states = self._states(snaps.drop("final_qty"), units, orders).join(
            snaps.select(*UNIT, "j", "final_qty"), on=[*UNIT, "j"])
        fit_states = states.join(fit_units.select(UNIT), on=UNIT, how="semi")
        cal_states = states.join(cal_units.select(UNIT), on=UNIT, how="semi")
        self.pickup_ = Pickup(cfg.pickup).fit(fit_states)
        fit_states, cal_states = self._with_pickup(fit_states), self._with_pickup(cal_states)
        self.model_ = NowcastModel(cfg.nowcast).fit(fit_states, cal_states)
        self.calibration_states_ = cal_states
        self.train_units_ = fit_units.height
        return self

    def _states(self, base: pl.DataFrame, units: pl.DataFrame, orders: pl.DataFrame) -> pl.DataFrame:
        meta = units.select(*UNIT, "product_id", "supplier_id", "category", "price", "list_price",
                            "opens_at", "closes_at", "max_qty")
        priors = history_priors(self.history_, meta)
        reach = None
        if self.config.reach is not None:
            # the group evidence as of each state's instant, never after the opening (the same for
            # every state of a training window, and for a campaign not open yet: as of now)
            targets = base.select(*UNIT, "instant").join(
                meta.select(*UNIT, "product_id", "category", "opens_at"), on=UNIT).select(
                *UNIT, "product_id", "category", pl.min_horizontal("instant", "opens_at").alias("cutoff")
            ).unique()
            reach = group_reach(orders, self.groups_, self.products_, targets, self.config.reach)
        return state_frame(base.drop("opens_at", "closes_at", strict=False), meta, priors,
                           self.groups_in_wh_, self.categories_, reach)

    def _with_pickup(self, states: pl.DataFrame) -> pl.DataFrame:
        preds = self.pickup_.predict(states)
        return states.with_columns(
            *[pl.Series(f"{m}_p{q}", preds[m][i]) for m in ("additive", "multiplicative")
              for i, q in enumerate((10, 50, 90))])

    def state_at(self, frames: dict[str, pl.DataFrame], instants: pl.DataFrame) -> pl.DataFrame:
        """Exact booking state of campaigns at their instants (campaign_id, instant), model-ready."""
        campaigns, groups, products = frames["campaigns"], frames["groups"], frames["products"]
        pooled = pool_campaigns_at(frames["orders"], campaigns, groups, products, instants)
        expo = exposure_at(frames.get("posts"), campaigns, groups, instants.select(
            "campaign_id", pl.col("instant").cast(TS)))
        base = pooled.select(
            *UNIT, pl.col("window_elapsed").alias("share"), "instant",
            pl.col("ordered_qty").alias("qty_at"), pl.col("groups_ordering").alias("groups_at"),
            pl.col("members_ordering").alias("members_at"), "first_order_at", "last_order_at",
        ).join(expo, on=UNIT, how="left").with_columns(pl.col("posts_at", "post_groups_at").fill_null(0))
        units = unit_meta(campaigns.join(instants, on="campaign_id", how="semi"), groups, products)
        return self._with_pickup(self._states(base, units, frames["orders"]))

    def predict(self, states: pl.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(p10, p50, p90) per model for model-ready states; production capped by max_qty."""
        out = {m: tuple(states[f"{m}_p{q}"].to_numpy() for q in (10, 50, 90))
               for m in ("additive", "multiplicative")}
        out["production"] = self.model_.predict(states)
        cap = states["max_qty"].cast(pl.Float64).fill_null(np.inf).to_numpy()
        return {m: tuple(np.minimum(v, cap) for v in vals) for m, vals in out.items()}


def window_instants(campaigns: pl.DataFrame, share: float) -> pl.DataFrame:
    """campaign_id, instant at `share` of each campaign's window."""
    span = pl.col("closes_at") - pl.col("opens_at")
    return campaigns.select("campaign_id", (pl.col("opens_at") + span * share).alias("instant"))


def closing_between(campaigns: pl.DataFrame, start: datetime, days: int) -> pl.DataFrame:
    """Campaigns whose cutoff falls in (start, start + days]."""
    end = start + timedelta(days=days)
    closes = pl.col("closes_at")
    return campaigns.filter((closes > pl.lit(start).cast(TS)) & (closes <= pl.lit(end).cast(TS)))

"""Pre-sale forecasting end to end (pure): learn from campaigns closed before the as-of instant, then
nowcast any campaign × warehouse from its booking state at any instant, or forecast it before it
opens (share 0: the bottom-up priors carry it).

Inputs are the contract frames; nothing after the as-of instant enters the fit: training campaigns
closed by the as-of instant, priors only from campaigns closed by then. A state read later than it (the
evaluation's nowcasts of campaigns closing in the week after it) reads its priors and their trend as
of its own instant, like its booking state and group evidence: from campaigns closed by then.

The campaigns held out to calibrate the distribution of the total (and the level of the point
forecast) are those closing on every `calib_every`-th day counting back from the as-of instant: about a
quarter, spread over the four weeks of training and every weekday, so that no single week (a
stock-up, a lull) sets the calibration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from aggregation.booking import UNIT, booking_snapshots, exposure_at
from aggregation.bottom_up import (
    PRIOR_LEVELS,
    TrendConfig,
    history_priors,
    level_trend,
    own_level,
    signal_expectation,
)
from aggregation.event_analog import MIN_HISTORY_DAYS, read_evidence
from aggregation.group_reach import ReachConfig, group_reach
from aggregation.nowcast import NowcastConfig, NowcastModel, level_scale, share_band
from aggregation.pickup import Pickup, PickupConfig
from aggregation.pooling import TS, campaign_units, pool_campaigns_at
from aggregation.presale_analog import (
    BAND_SHARES,
    AnalogCorrection,
    PresaleAnalogConfig,
    band_day_ratios,
    horizon_day,
    to_come,
    usual_weekly_miss,
)
from common.clock import PLATFORM_TZ, TZ, platform_day
from common.definitions import Runner
from common.errors import InsufficientHistoryError
from common.festivals import Analog, NoHistory, analogs_for
from common.settings import DEFAULT_SEED

MODELS = ("additive", "multiplicative", "production")


MIN_TRAIN_WINDOWS = 50  # closed campaign × warehouse windows the nowcast learns from, at least
# ... and the days they span, at least (from the first one's closing day to the as-of day; not the
# count of closing days: a platform closing every campaign on Sundays has four of them in 28 days): a
# platform's first day closed 50 windows in a 40-group world, and the nowcast learnt from them
# published P90s 52x its P50s (677x at most; a week later 2.3x)
MIN_TRAIN_DAYS = 7

@dataclass(frozen=True)
class PresaleConfig:
    train_days: int = 28  # campaigns closed in these days before the as-of instant train the model
    prior_days: int = 56  # campaigns closed in these days feed the history priors
    grid: int = 10  # booking states at shares 0, 0.1, ..., 1
    max_train_units: int = 20_000
    calib_every: int = 4  # campaigns closing on every 4th day back from the as-of instant calibrate
    trend: TrendConfig | None = field(default_factory=TrendConfig)  # None: priors without trend
    reach: ReachConfig | None = field(default_factory=ReachConfig)  # None: no group evidence
    pickup: PickupConfig = field(default_factory=PickupConfig)
    nowcast: NowcastConfig = field(default_factory=NowcastConfig)
    # near an annual event, what is still to come is corrected by last year's miss (presale_analog)
    analog: PresaleAnalogConfig = field(default_factory=PresaleAnalogConfig)
    seed: int = DEFAULT_SEED


def unit_meta(campaigns: pl.DataFrame, groups: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
    """campaign × warehouse with product, supplier, category, prices and window."""
    units = campaign_units(campaigns, groups, products)
    attrs = products.select("product_id", pl.col("category").fill_null("unknown"),
                            pl.col("price").alias("list_price"))
    return units.join(attrs, on="product_id", how="left").with_columns(
        pl.col("category").fill_null("unknown"))


def finals(orders: pl.DataFrame, campaigns: pl.DataFrame, groups: pl.DataFrame, products: pl.DataFrame,
           run: Runner | None = None) -> pl.DataFrame:
    """Pooled total at each campaign's cutoff, per campaign × warehouse (the outcome to forecast);
    pooled by `run` (an engine's; default in-process)."""
    instants = campaigns.select("campaign_id", pl.col("closes_at").alias("instant"))
    pooled = pool_campaigns_at(orders, campaigns, groups, products, instants, detail=False, run=run)
    return pooled.select(*UNIT, pl.col("ordered_qty").alias("final_qty"),
                         pl.col("groups_ordering").alias("final_groups"))


def state_frame(base: pl.DataFrame, meta: pl.DataFrame, priors: pl.DataFrame, groups_in_wh: pl.DataFrame,
                categories: dict[str, int], reach: pl.DataFrame | None = None) -> pl.DataFrame:
    """Join a booking state (UNIT, share, instant, qty_at, groups_at, ...) with everything the model reads.

    priors: UNIT, cutoff (min(instant, opens_at)), prior_* / qpg_* / n_* columns and trend.
    reach (optional): UNIT, cutoff, reach_prod, reach_cat, reach_all as of the same cutoff."""
    # a campaign not yet open is read as at its opening (as in training, share 0 = the opening)
    local = pl.max_horizontal("instant", "opens_at").dt.convert_time_zone(PLATFORM_TZ)
    out = base.join(meta, on=UNIT, how="left").with_columns(
        pl.min_horizontal("instant", "opens_at").alias("as_of")).join(
        priors.drop("product_id", "supplier_id", "category", "price_band", strict=False),
        on=[*UNIT, "as_of"], how="left").drop("as_of").join(groups_in_wh, on="warehouse_id", how="left")
    out = out.with_columns(
        local.dt.hour().cast(pl.Float64).alias("hour"),
        local.dt.weekday().cast(pl.Float64).alias("dow"),
        ((pl.col("closes_at") - pl.col("opens_at")).dt.total_seconds() / 3600.0).alias("window_hours"),
        (pl.col("price") / pl.col("list_price")).alias("price_ratio"),
        pl.col("category").replace_strict(categories, default=None, return_dtype=pl.Float64)
        .alias("category_code"),
    )
    if reach is not None:
        out = out.with_columns(pl.min_horizontal("instant", "opens_at").alias("as_of")).join(
            reach.select(*UNIT, "as_of", "reach_prod", "reach_cat", "reach_all"), on=[*UNIT, "as_of"],
            how="left").drop("as_of")
        out = out.with_columns(signal_expectation(out) * pl.col("trend").fill_null(1.0))
    else:
        out = out.with_columns([pl.lit(None, pl.Float64).alias(c)
                                for c in ("reach_prod", "reach_cat", "reach_all", "signal_total")])
    return out


class PresaleForecaster:
    """Pickup baselines and the production nowcast, fitted as of an as-of instant."""

    def __init__(self, config: PresaleConfig = PresaleConfig()):
        self.config = config

    def fit(self, frames: dict[str, pl.DataFrame], as_of: datetime, run: Runner | None = None
            ) -> PresaleForecaster:
        """Learn from the campaigns closed before `as_of`; `run` pools their final totals and their
        booking states (an engine's, e.g. the warehouse file's; default in-process over `frames`;
        never kept: the fitted model is shipped to Spark's executors)."""
        cfg = self.config
        t = pl.lit(as_of).cast(TS)
        campaigns, groups, products = frames["campaigns"], frames["groups"], frames["products"]
        orders, posts = frames["orders"], frames.get("posts")
        self.as_of_ = as_of
        self.groups_ = groups
        self.products_ = products
        self.categories_ = {c: i for i, c in enumerate(sorted(products["category"].fill_null("unknown")
                                                                .unique().to_list() + ["unknown"]))}
        self.groups_in_wh_ = groups.filter(
            pl.col("created_on") <= as_of.date()).group_by("warehouse_id").agg(
            pl.len().cast(pl.Float64).alias("groups_in_wh"))
        closed = campaigns.filter(pl.col("closes_at") <= t)
        hist = closed.filter(pl.col("closes_at") > t - pl.duration(days=cfg.prior_days))
        # every order of a campaign closed by the as-of instant is placed before it, and pooling reads each
        # one as of the campaign's own cutoff, so nothing after the as-of instant enters (read lazily)
        self.history_ = self._with_levels(self._closed(hist, frames, run))
        train = closed.filter(pl.col("closes_at") > t - pl.duration(days=cfg.train_days))
        units = self.history_.join(train.select("campaign_id"), on="campaign_id", how="semi")
        if units.height < MIN_TRAIN_WINDOWS:
            raise InsufficientHistoryError(
                f"only {units.height} campaign × warehouse windows closed in the {cfg.train_days} days "
                f"before {as_of:%Y-%m-%d}; the pre-sale model needs at least {MIN_TRAIN_WINDOWS}")
        first = units.select(platform_day(pl.col("closes_at")).min()).item()
        days = (as_of.astimezone(TZ).date() - first).days
        if days < MIN_TRAIN_DAYS:
            raise InsufficientHistoryError(
                f"the {units.height} campaign × warehouse windows closed before {as_of:%Y-%m-%d} closed "
                f"over {days} day(s) (the first on {first}); the pre-sale model needs {MIN_TRAIN_DAYS} days "
                "of them")
        units = units.sort("closes_at", "campaign_id", "warehouse_id")
        cal_mask = calibration_days(units["closes_at"], as_of, cfg.calib_every)
        cal_units, fit_units = units.filter(cal_mask), units.filter(~cal_mask)
        rng = np.random.default_rng(cfg.seed)
        if fit_units.height > cfg.max_train_units:
            fit_units = fit_units[np.sort(rng.choice(fit_units.height, cfg.max_train_units, replace=False))]
        if cal_units.height > cfg.max_train_units // 2:
            keep = rng.choice(cal_units.height, cfg.max_train_units // 2, replace=False)
            cal_units = cal_units[np.sort(keep)]
        chosen = pl.concat([fit_units, cal_units]).select("campaign_id").unique()
        # every state's instant is at or before its campaign's cutoff, so at or before the as-of instant
        snaps = booking_snapshots(orders, train.join(chosen, on="campaign_id", how="semi"), groups, products,
                                  posts, grid=cfg.grid, run=run).filter(pl.col("j") < cfg.grid)
        snaps = snaps.drop("final_qty").join(self.history_.select(*UNIT, "final_qty"), on=UNIT)
        states = self._states(snaps.drop("final_qty"), units, orders, self.history_).join(
            snaps.select(*UNIT, "j", "final_qty"), on=[*UNIT, "j"])
        fit_states = states.join(fit_units.select(UNIT), on=UNIT, how="semi")
        cal_states = states.join(cal_units.select(UNIT), on=UNIT, how="semi")
        # the pickup curves too are learned and read in units of the level (see _with_pickup)
        self.pickup_ = Pickup(cfg.pickup).fit(fit_states.with_columns(
            (pl.col(c) / pl.col("trend")).alias(c) for c in ("qty_at", "final_qty")))
        fit_states, cal_states = self._with_pickup(fit_states), self._with_pickup(cal_states)
        self.model_ = NowcastModel(cfg.nowcast).fit(fit_states, cal_states)
        self.calibration_states_ = cal_states
        self.train_units_ = fit_units.height
        self.analog_ = self._fit_analog(frames, as_of, run) if cfg.analog.enabled else None
        return self

    def _fit_analog(self, frames: dict[str, pl.DataFrame], as_of: datetime, run: Runner | None = None
                    ) -> AnalogCorrection | None:
        """The correction of the windows closing in the horizon after `as_of` by last year's miss
        near each annual event (aggregation.presale_analog); None away from every event. Each analog
        is this forecaster's config fitted as of the analog origin, on the campaigns closed by then.
        It is a refinement: whatever stops it (too little history a year back, an engine's error) is
        said in its entry and leaves the nowcast as it is."""
        cfg = self.config.analog
        analogs = analogs_for(as_of.astimezone(TZ).date(), cfg.horizon_days)
        if not analogs:
            return None
        categories = sorted(c for c in self.categories_ if c != "unknown") + ["unknown"]
        correction = AnalogCorrection(as_of, categories,
                                      np.ones((len(BAND_SHARES), len(categories) + 1, cfg.horizon_days)))
        usual = self._usual_miss()
        reads: dict[datetime, tuple | str] = {}  # 双11 and Christmas share last year's origin (365 days)

        def read_at(analog: Analog) -> tuple | str:
            then = as_of - timedelta(days=analog.shift)
            if then not in reads:
                reads[then] = self._analog_read(frames, then, then.astimezone(TZ).date().isoformat(), run)
            return reads[then]

        for near in analogs:
            # a first 双11 reads its 618 instead
            analog, read, skipped = read_evidence(near, frames, read_at, run)
            then = as_of - timedelta(days=analog.shift)
            today = as_of.astimezone(TZ).date()
            days = [(today + timedelta(days=int(h))).isoformat() for h in np.flatnonzero(analog.days)]
            said = {**analog.said(), "analog_origin": then.astimezone(TZ).date().isoformat(),
                    "applied": False, "days": days}
            if skipped:
                said["read_instead"]["because"] = "; ".join(skipped)
            correction.said.append(said)
            if isinstance(read, str):
                said["reason"] = read
                continue
            ratios, read_said = band_day_ratios(*read, near_days=analog.days, usual_miss=usual,
                                                categories=categories, config=cfg, when=analog.when())
            correction.ratios[:, :, analog.days] = ratios[:, :, analog.days]
            said.update(read_said, usual_weekly_miss=[round(math.exp(u), 3) for u in usual])
        return correction

    def _analog_read(self, frames: dict[str, pl.DataFrame], then: datetime, label: str,
                     run: Runner | None = None) -> tuple[np.ndarray, ...] | str:
        """analog_states of this config fitted as of `then`, or why it cannot be read."""
        horizon = self.config.analog.horizon_days
        closed = frames["campaigns"].filter(pl.col("closes_at") <= pl.lit(then).cast(TS))
        first = closed.select(pl.col("closes_at").min()).item()
        need = timedelta(days=MIN_HISTORY_DAYS)
        if first is None or then - first < need:
            held = 0 if first is None else (then - first).days
            return NoHistory(f"the campaigns before {label} span {held} day(s); reading an earlier event "
                             f"needs {MIN_HISTORY_DAYS} days")
        past_config = replace(self.config, analog=replace(self.config.analog, enabled=False))
        try:
            past = PresaleForecaster(past_config).fit(frames, then, run)
            read = past.analog_states(frames, then, horizon, run)
        except Exception as exc:  # a refinement: the nowcast stands without it, and the report says why
            return f"the nowcast cannot be read as of {label}: {type(exc).__name__}: {exc}"
        return read if read is not None else f"no campaign closed in the {horizon} days after {label}"

    def analog_states(self, frames: dict[str, pl.DataFrame], then: datetime, horizon: int,
                      run: Runner | None = None) -> tuple[np.ndarray, ...] | None:
        """(share, category, horizon day from `then`, booked, P50, final) of every window closing in
        the `horizon` days after `then`, read at one share of each calibration band (a window not open
        yet at its opening, as the evaluation reads share 0); None if none closed."""
        target = closing_between(frames["campaigns"], then, horizon)
        if target.height == 0:
            return None
        final = finals(frames["orders"], target, frames["groups"], frames["products"], run)
        parts = []
        for share in BAND_SHARES:
            states = self.state_at(frames, window_instants(target, share)).join(
                final.select(*UNIT, "final_qty"), on=UNIT, how="left")
            if states.height == 0:
                return None
            point = self.predict(states)["production"][1]
            parts.append((np.full(states.height, share), states["category"].fill_null("unknown").to_numpy(),
                          horizon_day(states["closes_at"].to_numpy(), then),
                          states["qty_at"].to_numpy().astype(np.float64), point,
                          states["final_qty"].fill_null(0).to_numpy().astype(np.float64)))
        return tuple(np.concatenate(col) for col in zip(*parts, strict=True))

    def _usual_miss(self) -> np.ndarray:
        """How far a held-out week's growth usually lands from the nowcast's, per band (presale_analog.
        usual_weekly_miss over the calibration states, weeks counted back from the as-of instant)."""
        cal = self.calibration_states_
        if cal.height == 0:
            return np.zeros(len(BAND_SHARES))
        week = (pl.select((pl.lit(self.as_of_).cast(TS) - cal["closes_at"].cast(TS)).dt.total_days() // 7)
                .to_series().to_numpy())
        point = self.model_.predict(cal, self.raw(cal))[1]
        return usual_weekly_miss(share_band(cal["share"].to_numpy()), week,
                                 cal["qty_at"].to_numpy().astype(np.float64), point,
                                 cal["final_qty"].to_numpy().astype(np.float64))

    def _closed(self, campaigns: pl.DataFrame, frames: dict[str, pl.DataFrame], run: Runner | None = None
                ) -> pl.DataFrame:
        """Closed campaign × warehouse windows with their final totals."""
        groups, products = frames["groups"], frames["products"]
        return unit_meta(campaigns, groups, products).join(
            finals(frames["orders"], campaigns, groups, products, run), on=UNIT, how="left").with_columns(
            pl.col("final_qty", "final_groups").fill_null(0))

    def _with_levels(self, history: pl.DataFrame) -> pl.DataFrame:
        """`level` of every history window: what its own priors said as of its opening (the trend
        compares it with the final; null without a trend)."""
        history = history.drop("level", strict=False)
        if self.config.trend is None or history.height == 0:
            return history.with_columns(pl.lit(None, pl.Float64).alias("level"))
        own = history_priors(history, history)
        return history.join(own.select(*UNIT, own_level(own)), on=UNIT, how="left")

    def _states(self, base: pl.DataFrame, units: pl.DataFrame, orders: pl.DataFrame,
                history: pl.DataFrame) -> pl.DataFrame:
        meta = units.select(*UNIT, "product_id", "supplier_id", "category", "price", "list_price",
                            "opens_at", "closes_at", "max_qty")
        # every state reads the evidence as of its cutoff: its instant, never after the opening (the
        # same for every state of a training window, and for a campaign not open yet: as of now)
        targets = base.select(*UNIT, "instant").join(meta, on=UNIT).select(
            *UNIT, "product_id", "supplier_id", "category", "price",
            pl.min_horizontal("instant", "opens_at").alias("as_of")).unique()
        priors = history_priors(history, targets, at="as_of")
        if self.config.trend is not None:
            priors = level_trend(history, priors, self.config.trend).with_columns(
                [pl.col(c) * pl.col("trend") for c in PRIOR_LEVELS])
        else:
            priors = priors.with_columns(pl.lit(1.0).alias("trend"))
        reach = None
        if self.config.reach is not None:
            reach = group_reach(orders, self.groups_, self.products_,
                                targets.select(*UNIT, "product_id", "category", "as_of"), self.config.reach)
        return state_frame(base.drop("opens_at", "closes_at", strict=False), meta, priors,
                           self.groups_in_wh_, self.categories_, reach)

    def _with_pickup(self, states: pl.DataFrame) -> pl.DataFrame:
        """The pickup baselines, in units of the level: what is still to come at this share scales
        with the category's trend (1 without one), as the booked share of the total does not."""
        scale = level_scale(states)
        deflated = states.with_columns(pl.Series("qty_at", states["qty_at"].to_numpy() / scale))
        preds = self.pickup_.predict(deflated)
        return states.with_columns(
            *[pl.Series(f"{m}_p{q}", scale * preds[m][i]) for m in ("additive", "multiplicative")
              for i, q in enumerate((10, 50, 90))])

    def state_at(self, frames: dict[str, pl.DataFrame], instants: pl.DataFrame) -> pl.DataFrame:
        """Exact booking state of campaigns at their instants (campaign_id, instant), model-ready.

        A state after the as-of instant reads the priors of every campaign closed by its cutoff, the ones
        that closed after the as-of instant included (known by then, as its own orders are)."""
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
        history = self._history_at(frames, base, units)
        return self._with_pickup(self._states(base, units, frames["orders"], history))

    def _history_at(self, frames: dict[str, pl.DataFrame], base: pl.DataFrame, units: pl.DataFrame
                    ) -> pl.DataFrame:
        """The fit's history, and the campaigns closed after the as-of instant by the latest state's
        cutoff."""
        cutoffs = base.select(*UNIT, "instant").join(units.select(*UNIT, "opens_at"), on=UNIT).select(
            pl.min_horizontal("instant", "opens_at").max()).item()
        if cutoffs is None or cutoffs <= self.as_of_:
            return self.history_
        closes = pl.col("closes_at")
        later = frames["campaigns"].filter((closes > pl.lit(self.as_of_).cast(TS))
                                           & (closes <= pl.lit(cutoffs).cast(TS)))
        if later.height == 0:
            return self.history_
        return self._with_levels(pl.concat([self.history_.drop("level"), self._closed(later, frames)],
                                           how="vertical_relaxed"))

    def raw(self, states: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The boosters' (lo, mid, hi) in log1p units, continuous in the share of the window: the model
        learned on the grid of shares 0, 0.1, ..., 0.9 (a tree reads 0.25 as 0.2, and expects the growth
        still to come at 0.2 from what is booked at 0.25), so a state between two grid points is read at
        both (its pickup baselines too) and interpolated; at the cutoff nothing is still to come."""
        grid = self.config.grid
        pos = states["share"].to_numpy().astype(np.float64) * grid
        j_lo = np.clip(np.floor(pos + 1e-6), 0, grid)
        w = np.clip(pos - j_lo, 0.0, 1.0)
        w[w < 1e-6] = 0.0
        base = self.model_.base(states)

        def at(j: np.ndarray) -> tuple[np.ndarray, ...]:
            raw = self.model_.raw(self._with_pickup(states.with_columns(pl.Series("share", j / grid))))
            # the boosters never saw share 1: at the cutoff the total is what is booked
            return tuple(np.where(j >= grid, base, v) for v in raw)

        at_lo = at(j_lo)
        if not w.any():
            return at_lo
        at_hi = at(np.minimum(j_lo + 1, grid))
        return tuple((1.0 - w) * a + w * b for a, b in zip(at_lo, at_hi, strict=True))

    def predict(self, states: pl.DataFrame) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(p10, p50, p90) per model for model-ready states; production capped by max_qty."""
        out = {m: tuple(states[f"{m}_p{q}"].to_numpy() for q in (10, 50, 90))
               for m in ("additive", "multiplicative")}
        booked, ratio = self._analog_ratio(states)
        production = self.model_.predict(states, self.raw(states))
        out["production"] = tuple(to_come(v, booked, ratio) for v in production)
        cap = self._cap(states)
        return {m: tuple(np.minimum(v, cap) for v in vals) for m, vals in out.items()}

    def _analog_ratio(self, states: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(booked, ratio of what is still to come) per state: the event analog's (presale_analog)
        near an annual event, 1 elsewhere."""
        booked = states["qty_at"].fill_null(0).to_numpy().astype(np.float64)
        analog = getattr(self, "analog_", None)
        if analog is None or not analog.applied() or states.height == 0:
            return booked, np.ones(states.height)
        return booked, analog.ratio(states["share"].to_numpy().astype(np.float64),
                                    states["category"].fill_null("unknown").to_numpy(),
                                    states["closes_at"].to_numpy())

    def _cap(self, states: pl.DataFrame) -> np.ndarray:
        return states["max_qty"].cast(pl.Float64).fill_null(np.inf).to_numpy()

    def distribution(self, states: pl.DataFrame
                     ) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray]:
        """The calibrated distribution of each state's total, capped by max_qty: a quantile function
        (levels, scalar or per row, as bounds), the (levels, rows) grid of quantiles for integrals and
        the expected total (the point forecast where it is the held-out-unbiased level, else the
        grid's mean: the grid's far tail rests on a few scores, the level on every held-out total)."""
        raw, cap = self.raw(states), self._cap(states)
        booked, ratio = self._analog_ratio(states)
        grid = np.minimum(to_come(self.model_.grid(states, raw), booked, ratio), cap)
        point = np.minimum(to_come(self.model_.predict(states, raw)[1], booked, ratio), cap)
        share = states["share"].to_numpy().astype(np.float64)
        unbiased = share <= self.model_.config.unbiased_until + 1e-9
        mean = np.where(unbiased, point, grid.mean(axis=0))

        def quantile(tau) -> np.ndarray:
            return np.minimum(to_come(self.model_.quantile(states, tau, raw), booked, ratio), cap)

        return quantile, grid, mean


def calibration_days(closes_at: pl.Series, as_of: datetime, every: int) -> np.ndarray:
    """True for windows closing on every `every`-th day counting back from the as-of instant (the last day
    before it included); the most recent quarter when that leaves either side empty."""
    age = (pl.select(pl.lit(as_of).cast(TS) - closes_at.cast(TS)).to_series().dt.total_microseconds()
           .to_numpy() // 86_400_000_000)
    mask = (age % max(every, 1)) == 0
    if 0 < mask.sum() < mask.size:
        return mask
    n_cal = max(int(round(mask.size / max(every, 1))), 1)
    return np.arange(mask.size) >= mask.size - n_cal  # closes_at sorted ascending


def window_instants(campaigns: pl.DataFrame, share: float) -> pl.DataFrame:
    """campaign_id, instant at `share` of each campaign's window."""
    span = pl.col("closes_at") - pl.col("opens_at")
    return campaigns.select("campaign_id", (pl.col("opens_at") + span * share).alias("instant"))


def closing_between(campaigns: pl.DataFrame, start: datetime, days: int) -> pl.DataFrame:
    """Campaigns whose cutoff falls in (start, start + days]."""
    end = start + timedelta(days=days)
    closes = pl.col("closes_at")
    return campaigns.filter((closes > pl.lit(start).cast(TS)) & (closes <= pl.lit(end).cast(TS)))

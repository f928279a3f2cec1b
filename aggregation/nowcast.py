"""Production nowcast of a campaign's total at cutoff from its booking state.

Gradient boosting with quantile loss (P10, P50, P90) on the log growth still to come,
log1p(final) - log1p(so far), from the state (so far, groups, members, posts, share of the window
elapsed, hour, weekday), the product's / category's / supplier's history (scaled by the category's
recent trend, see bottom_up.level_trend), price and the pickup baselines. Quantities (so far, the
outcome, the priors, the pickups) are read in units of that trend, so a surge the trend explains
looks to the boosters like an ordinary campaign, and the forecast is scaled back.

The three boosted quantiles are not the forecast's distribution yet: on held-out campaigns (closing
on days spread over the four training weeks, see presale.calibration_days) each outcome becomes a
normalised score around them, per band of the window (not open / early / middle / late), and the
scores are the distribution of the total (aggregation.calibration.ConformalDistribution): P10 and
P90 are its conformal 10% and 90% bounds, and a supplier's quantity at any critical ratio is its
quantile there (aggregation.decision).

The point forecast (the `p50` column, which WAPE and bias read) is, at each share of the window up to
`unbiased_until`, the quantile at one level between the calibrated median and P90, chosen so that
the point forecasts of the held-out campaigns at that share add up to their outcome (interpolated
between the grid's shares): the total is a skewed count, and the sum of medians of the growth still
to come falls short of the sum of outcomes at every share (about -25% before the window opens, -20%
at a tenth of it, -10% from half of it on on the generated worlds); a supplier adding up the point
forecasts would be short. The level is learned on the held-out campaigns of four weeks, never of one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingRegressor

from aggregation.calibration import ConformalDistribution
from aggregation.ties import TIE_BREAK, break_ties
from common.errors import NotFittedError
from common.settings import DEFAULT_SEED

FEATURES = (  # every input feature_matrix can build
    "share", "log_qty", "log_groups", "log_members", "log_posts", "log_post_groups", "hour", "dow",
    "window_hours", "log_price", "price_ratio", "category_code", "log_groups_in_wh",
    "log_prior_prod_wh", "n_prod_wh", "log_prior_prod", "log_prior_cat_wh", "log_prior_band_wh",
    "log_prior_sup_wh", "log_add", "log_mul", "log_signal", "log_reach_prod", "log_reach_cat",
    "log_reach_all",
)
# The product-level bottom-up expectation (recent buyers of the product × units per ordering group)
# and the raw count of recent buyers lower WAPE before the window opens but widen the quantiles'
# errors at every share (pinball +2..5% on the S world, see BENCHMARKS.md), so production reads the
# category-level and activity evidence only.
PRODUCT_SIGNAL = ("log_signal", "log_reach_prod")
DEFAULT_FEATURES = tuple(f for f in FEATURES if f not in PRODUCT_SIGNAL)
BANDS = (0.0, 0.35, 0.65)  # calibration bands: not open yet, early, middle, late


@dataclass(frozen=True)
class NowcastConfig:
    max_iter: int = 150
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    features: tuple[str, ...] = DEFAULT_FEATURES
    # the point forecast sits at the level with no held-out bias at shares up to this (interpolated
    # between the held-out shares); above it, the calibrated median. < 0: the median everywhere
    unbiased_until: float = 1.0
    min_lift_rows: int = 30  # held-out states needed at a share to learn its level
    min_band_rows: int = 150  # held-out states a band needs for scores of its own
    min_width: float = 0.1  # half-widths (log1p units) below this count as this when scoring
    width_quantile: float = 0.25  # ... and below this quantile of the band's half-widths
    levels: int = 199  # quantile levels of the distribution's grid (fill rate, leftover)
    # units of noise on the boosters' targets, to break ties (aggregation.ties): over half of the
    # training states end with no growth at all, and unbroken, the P10 and P50 of growth were 0 for
    # every state (quantity 0 at a low critical ratio for campaigns that sold hundreds). A whole unit
    # (jittered counts) widened the distribution past the decision's fill-rate test. BENCHMARKS.md:
    # "The pre-sale quantile boosters' ties"
    jitter: float = TIE_BREAK
    seed: int = DEFAULT_SEED


def share_band(share: np.ndarray) -> np.ndarray:
    """0 = not open yet (share 0), 1..3 = early / middle / late in the window."""
    share = np.asarray(share, dtype=np.float64)
    return np.where(share <= 0.0, 0, np.digitize(share, BANDS[1:]) + 1)


def level_scale(state: pl.DataFrame) -> np.ndarray:
    """The level the state's quantities are read in units of: its category's recent trend (the
    `trend` column, see bottom_up.level_trend), 1 without one."""
    if "trend" not in state.columns:
        return np.ones(state.height)
    t = state["trend"].cast(pl.Float64).fill_null(1.0).to_numpy()
    return np.where(np.isfinite(t) & (t > 0), t, 1.0)


def feature_matrix(state: pl.DataFrame, features: tuple[str, ...] = DEFAULT_FEATURES) -> np.ndarray:
    """Model inputs from a state frame (see presale.state_frame for its columns). Quantities (so far,
    the priors, the pickup baselines, the bottom-up expectation) are read in units of the level
    (divided by level_scale), so that the boosters see a surge that the trend explains as an ordinary
    campaign and do not shrink it towards a level they learned in another regime."""
    scale = level_scale(state)
    value = lambda c: np.maximum(state[c].fill_null(0.0).to_numpy().astype(np.float64), 0.0)  # noqa: E731
    log = lambda c: np.log1p(value(c))  # noqa: E731
    units0 = lambda c: np.log1p(value(c) / scale)  # noqa: E731
    raw = lambda c: state[c].fill_null(np.nan).to_numpy().astype(np.float64)  # noqa: E731
    units = lambda c: np.log1p(np.maximum(raw(c), 0.0) / scale)  # noqa: E731  (null stays missing)
    cols = {
        "share": raw("share"), "log_qty": units0("qty_at"), "log_groups": log("groups_at"),
        "log_members": log("members_at"), "log_posts": log("posts_at"),
        "log_post_groups": log("post_groups_at"), "hour": raw("hour"), "dow": raw("dow"),
        "window_hours": raw("window_hours"), "log_price": log("price"), "price_ratio": raw("price_ratio"),
        "category_code": raw("category_code"), "log_groups_in_wh": log("groups_in_wh"),
        "log_prior_prod_wh": units("prior_prod_wh"), "n_prod_wh": raw("n_prod_wh"),
        "log_prior_prod": units("prior_prod"), "log_prior_cat_wh": units("prior_cat_wh"),
        "log_prior_band_wh": units("prior_band_wh"), "log_prior_sup_wh": units("prior_sup_wh"),
        "log_add": units0("additive_p50"), "log_mul": units0("multiplicative_p50"),
        "log_signal": units("signal_total"), "log_reach_prod": np.log1p(raw("reach_prod")),
        "log_reach_cat": np.log1p(raw("reach_cat")), "log_reach_all": np.log1p(raw("reach_all")),
    }
    # a column with no value at all (no posts table, no signal) is constant, not missing
    return np.column_stack([np.zeros(state.height) if np.isnan(cols[f]).all() else cols[f] for f in features])


def unbiased_lift(y: np.ndarray, mid: np.ndarray, hi: np.ndarray, steps: int = 40, scale=1.0) -> float:
    """Level in [0, 1] between the median and P90 (log1p units of `scale`) at which the point
    forecasts scale * expm1(.) add up to the outcomes `y` (0 when the median already does; 1 at
    most). Bisection: the sum rises with it."""
    total = float(np.sum(y))
    point_sum = lambda lam: float(np.sum(scale * np.expm1(mid + lam * (hi - mid))))  # noqa: E731
    if y.size == 0 or point_sum(0.0) >= total:
        return 0.0
    if point_sum(1.0) <= total:
        return 1.0
    a, b = 0.0, 1.0
    for _ in range(steps):
        c = 0.5 * (a + b)
        a, b = (c, b) if point_sum(c) < total else (a, c)
    return 0.5 * (a + b)


class NowcastModel:
    """Quantile gradient boosting on log growth, conformalised per window band."""

    def __init__(self, config: NowcastConfig = NowcastConfig()):
        self.config = config

    def _booster(self, q: float) -> HistGradientBoostingRegressor:
        c = self.config
        cats = [c.features.index("category_code")] if "category_code" in c.features else None
        return HistGradientBoostingRegressor(
            loss="quantile", quantile=q, max_iter=c.max_iter, learning_rate=c.learning_rate,
            max_leaf_nodes=c.max_leaf_nodes, min_samples_leaf=c.min_samples_leaf,
            random_state=c.seed, early_stopping=False,
            categorical_features=cats,
        )

    def fit(self, train: pl.DataFrame, calib: pl.DataFrame) -> NowcastModel:
        """Fit on `train` states and calibrate on `calib` states (both with final_qty): the distribution
        per band, then the point's level per share of the window."""
        x = feature_matrix(train, self.config.features)
        final = train["final_qty"].to_numpy().clip(0).astype(np.float64)
        final = break_ties(final, self.config.seed, self.config.jitter)
        growth = np.log1p(final / level_scale(train)) - self.base(train)
        self.models_ = {q: self._booster(q).fit(x, growth) for q in (0.1, 0.5, 0.9)}
        raw = self.raw(calib)
        scale = level_scale(calib)
        y = np.log1p(calib["final_qty"].to_numpy().clip(0).astype(np.float64) / scale)
        share = np.round(calib["share"].to_numpy().astype(np.float64), 6)
        c = self.config
        self.distribution_ = ConformalDistribution(min_rows=c.min_band_rows, min_width=c.min_width,
                                                   width_quantile=c.width_quantile).fit(
            y, raw[1], raw[0], raw[2], share_band(share))
        self.lifts_ = (np.zeros(0), np.zeros(0))  # (shares, levels), interpolated in between
        if self.config.unbiased_until >= 0:
            med, top = self._median_top(share, raw)
            outcome = calib["final_qty"].to_numpy().clip(0).astype(np.float64)
            learn = [v for v in np.unique(share) if v <= self.config.unbiased_until + 1e-9
                     and (share == v).sum() >= self.config.min_lift_rows]
            points = [(v, unbiased_lift(outcome[m], med[m], top[m], scale=scale[m]))
                      for v in learn for m in [share == v]]
            if points:
                self.lifts_ = (np.array([v for v, _ in points]), np.array([lam for _, lam in points]))
        self.train_rows_ = int(x.shape[0])
        return self

    @staticmethod
    def base(state: pl.DataFrame) -> np.ndarray:
        """log1p of what is booked so far, in units of the level (the boosters' growth starts there)."""
        return np.log1p(state["qty_at"].to_numpy().clip(0).astype(np.float64) / level_scale(state))

    def raw(self, state: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Uncalibrated (lo, mid, hi) in log1p units of the level (level_scale), from the boosters at
        the state's own share."""
        self._check()
        x = feature_matrix(state, self.config.features)
        base = self.base(state)
        lo, mid, hi = (base + self.models_[q].predict(x) for q in (0.1, 0.5, 0.9))
        mid = np.maximum(mid, base)
        return np.minimum(lo, mid), mid, np.maximum(hi, mid)

    def _check(self) -> None:
        if not hasattr(self, "models_"):
            raise NotFittedError("NowcastModel used before fit")

    def _median_top(self, share: np.ndarray, raw) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated median and P90 (log1p units): the ends of the point's level."""
        lo, mid, hi = raw
        bands = share_band(share)
        return (self.distribution_.quantile(0.5, mid, lo, hi, bands, bound=False),
                self.distribution_.quantile(0.9, mid, lo, hi, bands))

    def lift_at(self, share: np.ndarray) -> np.ndarray:
        """Level of the point forecast (0 = the calibrated median, 1 = P90) at each share of the window."""
        shares, levels = getattr(self, "lifts_", (np.zeros(0), np.zeros(0)))
        share = np.asarray(share, dtype=np.float64)
        if shares.size == 0:
            return np.zeros(share.size)
        return np.where(share <= self.config.unbiased_until + 1e-9, np.interp(share, shares, levels), 0.0)

    def quantile(self, state: pl.DataFrame, tau, raw=None) -> np.ndarray:
        """Calibrated quantile (units) of each state's total at level `tau` (scalar or per row), as a
        bound: P(total <= it) >= tau on held-out campaigns of its band. `raw`: precomputed self.raw."""
        lo, mid, hi = raw if raw is not None else self.raw(state)
        q = self.distribution_.quantile(tau, mid, lo, hi, share_band(state["share"].to_numpy()))
        return np.maximum(level_scale(state) * np.expm1(q), 0.0)

    def grid(self, state: pl.DataFrame, raw=None) -> np.ndarray:
        """(levels, rows) calibrated quantiles (units) at the mid-points of `levels` equal slices."""
        lo, mid, hi = raw if raw is not None else self.raw(state)
        g = self.distribution_.grid(mid, lo, hi, share_band(state["share"].to_numpy()), self.config.levels)
        return np.maximum(level_scale(state) * np.expm1(g), 0.0)

    def predict(self, state: pl.DataFrame, raw=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p10, p50, p90) of the total at cutoff, never below zero, ordered; p50 is the point forecast."""
        lo, mid, hi = raw if raw is not None else self.raw(state)
        share = state["share"].to_numpy().astype(np.float64)
        scale = level_scale(state)
        med, top = self._median_top(share, (lo, mid, hi))
        point = np.maximum(scale * np.expm1(med + self.lift_at(share) * (top - med)), 0.0)
        p10 = scale * np.expm1(self.distribution_.quantile(0.1, mid, lo, hi, share_band(share)))
        return np.clip(p10, 0.0, point), point, np.maximum(scale * np.expm1(top), point)

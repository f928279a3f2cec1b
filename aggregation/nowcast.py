"""Production nowcast of a campaign's total at cutoff from its booking state.

Gradient boosting with quantile loss (P10, P50, P90) on the log growth still to come,
log1p(final) - log1p(so far), from the state (so far, groups, members, posts, share of the window
elapsed, hour, weekday), the product's / category's / supplier's history, price and the pickup
baselines. The interval is then conformalised per band of the window on held-out campaigns.

Before the window opens, the point forecast (the `p50` column, which WAPE and bias read) is, as in
the daily model, the quantile at one common level between the fitted median and P90, chosen so that
the point forecasts of the held-out campaigns add up to their outcome: with nothing booked yet the
total is a skewed, uncertain quantity whose median under-forecasts the volume (by ~30% on the S
world), and a supplier preparing for the sum of the medians would be short. Once orders come in, the
median given the booking state is nearly unbiased and the held-out level does not carry over (it
over-corrects and costs WAPE), so it stays the median (`unbiased_until` moves that boundary).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingRegressor

from aggregation.calibration import IntervalCalibrator
from pipelines.errors import NotFittedError

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
    # between the held-out shares); above it, the median. 0: only before the window opens; < 0: never
    unbiased_until: float = 0.0
    min_lift_rows: int = 30  # held-out states needed at a share to learn its level
    seed: int = 7


def share_band(share: np.ndarray) -> np.ndarray:
    """0 = not open yet (share 0), 1..3 = early / middle / late in the window."""
    share = np.asarray(share, dtype=np.float64)
    return np.where(share <= 0.0, 0, np.digitize(share, BANDS[1:]) + 1)


def feature_matrix(state: pl.DataFrame, features: tuple[str, ...] = DEFAULT_FEATURES) -> np.ndarray:
    """Model inputs from a state frame (see presale.state_frame for its columns)."""
    log = lambda c: np.log1p(np.maximum(state[c].fill_null(0.0).to_numpy().astype(np.float64), 0.0))  # noqa: E731
    raw = lambda c: state[c].fill_null(np.nan).to_numpy().astype(np.float64)  # noqa: E731
    cols = {
        "share": raw("share"), "log_qty": log("qty_at"), "log_groups": log("groups_at"),
        "log_members": log("members_at"), "log_posts": log("posts_at"),
        "log_post_groups": log("post_groups_at"), "hour": raw("hour"), "dow": raw("dow"),
        "window_hours": raw("window_hours"), "log_price": log("price"), "price_ratio": raw("price_ratio"),
        "category_code": raw("category_code"), "log_groups_in_wh": log("groups_in_wh"),
        "log_prior_prod_wh": np.log1p(raw("prior_prod_wh")), "n_prod_wh": raw("n_prod_wh"),
        "log_prior_prod": np.log1p(raw("prior_prod")), "log_prior_cat_wh": np.log1p(raw("prior_cat_wh")),
        "log_prior_band_wh": np.log1p(raw("prior_band_wh")),
        "log_prior_sup_wh": np.log1p(raw("prior_sup_wh")),
        "log_add": log("additive_p50"), "log_mul": log("multiplicative_p50"),
        "log_signal": np.log1p(raw("signal_total")), "log_reach_prod": np.log1p(raw("reach_prod")),
        "log_reach_cat": np.log1p(raw("reach_cat")), "log_reach_all": np.log1p(raw("reach_all")),
    }
    # a column with no value at all (no posts table, no signal) is constant, not missing
    return np.column_stack([np.zeros(state.height) if np.isnan(cols[f]).all() else cols[f] for f in features])


def unbiased_lift(y: np.ndarray, mid: np.ndarray, hi: np.ndarray, steps: int = 40) -> float:
    """Level in [0, 1] between the median and P90 (log1p units) at which the point forecasts add up
    to the outcomes `y` (0 when the median already does; 1 at most). Bisection: the sum rises with it."""
    total = float(np.sum(y))
    point_sum = lambda lam: float(np.sum(np.expm1(mid + lam * (hi - mid))))  # noqa: E731
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
        """Fit on `train` states and calibrate the interval on `calib` states (both with final_qty)."""
        x = feature_matrix(train, self.config.features)
        final = train["final_qty"].to_numpy().clip(0)
        growth = np.log1p(final) - np.log1p(train["qty_at"].to_numpy().clip(0))
        self.models_ = {q: self._booster(q).fit(x, growth) for q in (0.1, 0.5, 0.9)}
        self.calibrator_ = None
        p = self._raw(calib)
        y = np.log1p(calib["final_qty"].to_numpy().clip(0).astype(np.float64))
        bands = share_band(calib["share"].to_numpy())
        self.calibrator_ = IntervalCalibrator(min_rows=150).fit(y, p[1], p[0], p[2], bands)
        self.lifts_ = (np.zeros(0), np.zeros(0))  # (shares, levels), interpolated in between
        if self.config.unbiased_until >= 0:
            outcome, share = np.expm1(y), np.round(calib["share"].to_numpy().astype(np.float64), 6)
            learn = [v for v in np.unique(share) if v <= self.config.unbiased_until + 1e-9
                     and (share == v).sum() >= self.config.min_lift_rows]
            points = [(v, unbiased_lift(outcome[share == v], p[1][share == v], p[2][share == v]))
                      for v in learn]
            if points:
                self.lifts_ = (np.array([v for v, _ in points]), np.array([lam for _, lam in points]))
        self.train_rows_ = int(x.shape[0])
        return self

    def _raw(self, state: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Uncalibrated (lo, mid, hi) in log1p units."""
        x = feature_matrix(state, self.config.features)
        base = np.log1p(state["qty_at"].to_numpy().clip(0).astype(np.float64))
        lo, mid, hi = (base + self.models_[q].predict(x) for q in (0.1, 0.5, 0.9))
        mid = np.maximum(mid, base)
        return np.minimum(lo, mid), mid, np.maximum(hi, mid)

    def lift_at(self, share: np.ndarray) -> np.ndarray:
        """Quantile level of the point forecast (0 = median, 1 = P90) at each share of the window."""
        shares, levels = getattr(self, "lifts_", (np.zeros(0), np.zeros(0)))
        share = np.asarray(share, dtype=np.float64)
        if shares.size == 0:
            return np.zeros(share.size)
        return np.where(share <= self.config.unbiased_until + 1e-9, np.interp(share, shares, levels), 0.0)

    def predict(self, state: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p10, p50, p90) of the total at cutoff, never below zero, ordered."""
        if not hasattr(self, "models_"):
            raise NotFittedError("NowcastModel.predict called before fit")
        lo, mid, hi = self._raw(state)
        bands = share_band(state["share"].to_numpy())
        lift = self.lift_at(state["share"].to_numpy())
        point = mid + lift * (hi - mid)
        if self.calibrator_ is not None:
            lo, hi = self.calibrator_.apply(mid, lo, hi, bands)
        p50 = np.maximum(np.expm1(point), 0.0)
        return np.clip(np.expm1(lo), 0.0, p50), p50, np.maximum(np.expm1(hi), p50)

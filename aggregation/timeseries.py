"""Daily product × warehouse forecasts: production and its fallback, seasonal naive (7 days).

The history is a dense series × day matrix (days strictly before the origin). Every model answers
for an origin day T and steps h = 0..H-1 with P10/P50/P90. Production is gradient boosting with
quantile loss (P10, P50, P90) on lags, moving averages, calendar, campaign plans (known ahead),
product / category levels and price. Every model's interval is conformalised on the last horizon
before the origin, per volume band (a series' 28-day mean), and never narrower than a Poisson
count's interval around its point (so P10 < P90 wherever the point is at least one unit).

The point forecast (the `p50` column, which WAPE and bias read) is the quantile at one common level
chosen so that the forecast carries no bias on that held-out horizon: among forecasts whose total
matches the outcome, the one with the least absolute error puts every series at the same quantile
level. On smooth series this is the median; on lumpy, intermittent ones (wholesale orders) the
median is mostly zero and under-forecasts the volume badly, so the level moves up between P50 and
P90 (interpolated between the two fitted quantiles).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
from scipy.stats import poisson
from sklearn.ensemble import HistGradientBoostingRegressor

from aggregation.calibration import IntervalCalibrator
from aggregation.ties import TIE_BREAK, break_ties
from common.errors import InsufficientHistoryError  # noqa: F401  (re-exported: aggregation callers)
from common.settings import DEFAULT_SEED

# The nightly's fallback when the learned model loses to it on the held-out horizon. The baselines a
# supplier's analyst would run (evaluation) are statsforecast's, in aggregation.statistical.
BASELINES = ("seasonal_naive",)


FEATURES = (
    "h", "dow", "sn", "dow_mean4", "ma7", "ma28", "ma56", "nz28", "since_last", "std28", "max28",
    "prod_ma28", "cat_wh_ma28", "wh_share", "open_now", "open_frac28", "rate_open28", "ma7_prev",
    "log_price", "age_days", "dom", "dow_factor",
)
SHARPEN = (1.0, 1.1, 1.2, 1.3, 1.4, 1.5)
# Volume bands (mean units a day over the last 28 days): each band's interval is calibrated on its
# own cells. Pooled over all cells, the zero days of the many sparse series decide the multipliers
# (zero at the 90% level when most cells sell nothing), and every interval collapses onto its point.
VOLUME_BANDS = (0.1, 0.5, 2.0, 8.0)
HEAD_UNITS_28D = 28.0  # a head series sold at least this much in the 28 days before the origin


def volume_band(feats: dict[str, np.ndarray]) -> np.ndarray:
    """Band index (0 = sparsest) of each cell's series, by its 28-day mean."""
    return np.digitize(feats["ma28"], VOLUME_BANDS)


def count_floor(p50: np.ndarray, p10: np.ndarray, p90: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Widen an interval to at least the Poisson one around its point: counts of independent buyers
    cannot be less dispersed than that, so a narrower interval is a calibration artefact. Where the
    point is at least one unit this makes P10 < P90 strictly."""
    mean = np.maximum(p50, 0.0)
    lo = np.where(mean > 0, poisson.ppf(0.1, np.maximum(mean, 1e-12)), 0.0)
    hi = np.where(mean > 0, poisson.ppf(0.9, np.maximum(mean, 1e-12)), 0.0)
    return np.minimum(p10, lo), np.maximum(p90, hi)


@dataclass(frozen=True)
class TimeSeriesConfig:
    horizon_days: int = 7
    active_days: int = 56  # a series is forecast when it sold in this many days before the origin
    train_origins: int = 10  # weekly origins before the calibration horizon
    max_train_rows: int = 150_000  # training cells per model (a random sample where there are more)
    # the ensemble's booster (aggregation.ensemble.PoissonBooster): up to this many models averaged,
    # each trained on its own sample of max_train_rows, one per max_train_rows cells the history holds
    # (one seed's sample moved Online Retail's WAPE by up to 0.025)
    bags: int = 3
    max_iter: int = 150
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    min_samples_leaf: int = 40
    tie_break: float = TIE_BREAK  # units of noise on the quantile boosters' targets (aggregation.ties)
    seed: int = DEFAULT_SEED


@dataclass
class Panel:
    """Dense daily history for a set of series; `open_` may reach beyond the history (plans)."""

    series: pl.DataFrame  # product_id, warehouse_id, category, price, launched_on (row = series index)
    day0: date
    y: np.ndarray  # series × history days (float64)
    open_: np.ndarray  # series × (history + future) days: campaigns open that day
    product_idx: np.ndarray
    catwh_idx: np.ndarray
    log_price: np.ndarray
    launched: np.ndarray  # day index of launch (may be negative)

    def day_index(self, day: date) -> int:
        return (day - self.day0).days


def build_panel(
    daily: pl.DataFrame,
    products: pl.DataFrame,
    *,
    start: date,
    end: date,
    open_days: pl.DataFrame | None = None,
    future_days: int = 0,
    extra_series: pl.DataFrame | None = None,
) -> Panel:
    """Series × day history for days in [start, end) from `daily` (product_id, warehouse_id, day, qty).

    `open_days` (product_id, warehouse_id, day, n_open) fills the campaign plan matrix up to
    `end + future_days`; `extra_series` adds series with no history (e.g. a campaign is planned).
    """
    hist = daily.filter((pl.col("day") >= start) & (pl.col("day") < end))
    keys = [hist.select("product_id", "warehouse_id")]
    if extra_series is not None:
        keys.append(extra_series.select("product_id", "warehouse_id"))
    series = pl.concat(keys).unique().sort("product_id", "warehouse_id")
    attrs = products.select(
        "product_id", pl.col("category").fill_null("unknown"), pl.col("price").cast(pl.Float64),
        pl.col("launched_on"),
    )
    series = series.join(attrs, on="product_id", how="left").with_columns(
        pl.col("category").fill_null("unknown"))
    series = series.with_row_index("s")
    n, days = series.height, (end - start).days
    y = np.zeros((n, days))
    if hist.height:
        h = hist.join(series.select("product_id", "warehouse_id", "s"), on=["product_id", "warehouse_id"])
        d = h.select((pl.col("day") - pl.lit(start)).dt.total_days()).to_series().to_numpy()
        np.add.at(y, (h["s"].to_numpy(), d), h["qty"].to_numpy().astype(np.float64))
    total = days + future_days
    open_ = np.zeros((n, total))
    if open_days is not None and open_days.height:
        o = open_days.filter((pl.col("day") >= start) & (pl.col("day") < start + timedelta(days=total)))
        o = o.join(series.select("product_id", "warehouse_id", "s"), on=["product_id", "warehouse_id"])
        if o.height:
            d = o.select((pl.col("day") - pl.lit(start)).dt.total_days()).to_series().to_numpy()
            np.add.at(open_, (o["s"].to_numpy(), d), o["n_open"].to_numpy().astype(np.float64))
    product_idx = series["product_id"].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    catwh = (series["category"] + "|" + series["warehouse_id"]).cast(pl.Categorical)
    launched = series.select(
        (pl.col("launched_on") - pl.lit(start)).dt.total_days().fill_null(-10_000)
    ).to_series().to_numpy()
    price = series["price"].fill_null(0.0).to_numpy()
    return Panel(
        series=series.drop("s"), day0=start, y=y, open_=open_, product_idx=product_idx,
        catwh_idx=catwh.to_physical().to_numpy().astype(np.int64),
        log_price=np.log1p(np.maximum(price, 0.0)), launched=launched.astype(np.int64),
    )


def _window(c: np.ndarray, a: int, b: int) -> np.ndarray:
    """Mean over days [a, b) from the cumulative sum `c` (clipped to the available history)."""
    a, b = max(a, 0), max(b, 0)
    return (c[:, b] - c[:, a]) / max(b - a, 1)


def _group_mean(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    sums = np.bincount(idx, weights=values)
    counts = np.bincount(idx)
    return (sums / np.maximum(counts, 1))[idx]


def origin_features(panel: Panel, t: int, horizon: int, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Features for series `rows` at origin day index t, steps 0..horizon-1 (series-major order)."""
    y = panel.y[:, :t]
    c = np.concatenate([np.zeros((y.shape[0], 1)), np.cumsum(y, axis=1)], axis=1)
    ma7, ma28, ma56 = _window(c, t - 7, t), _window(c, t - 28, t), _window(c, t - 56, t)
    ma7_prev = _window(c, t - 14, t - 7)
    last28 = y[:, max(t - 28, 0):t]
    nz28 = (last28 > 0).mean(axis=1) if last28.shape[1] else np.zeros(y.shape[0])
    std28 = last28.std(axis=1) if last28.shape[1] else np.zeros(y.shape[0])
    max28 = last28.max(axis=1) if last28.shape[1] else np.zeros(y.shape[0])
    nonzero = y > 0
    last_idx = np.where(nonzero.any(axis=1), t - 1 - np.argmax(nonzero[:, ::-1], axis=1), -10_000)
    since_last = np.minimum(t - last_idx, 400)
    prod_ma28 = np.bincount(panel.product_idx, weights=ma28)[panel.product_idx]
    cat_wh = _group_mean(ma28, panel.catwh_idx)
    open28 = panel.open_[:, max(t - 28, 0):t]
    open_frac = (open28 > 0).mean(axis=1) if open28.shape[1] else np.zeros(y.shape[0])
    open_qty = (last28 * (open28[:, -last28.shape[1]:] > 0)).sum(axis=1) if last28.shape[1] else 0.0
    rate_open = np.where(open_frac > 0, open_qty / np.maximum((open28 > 0).sum(axis=1), 1), 0.0)
    cols: dict[str, list[np.ndarray]] = {f: [] for f in FEATURES}
    day0_dow = panel.day0.weekday()
    profile = weekday_profile(panel, t)
    for h in range(horizon):
        d = t + h
        same = [d - 7 * k for k in range(1, 5) if 0 <= d - 7 * k < t]
        sn_day = d - 7 * ((h // 7) + 1)
        sn = y[:, sn_day] if 0 <= sn_day < t else np.zeros(y.shape[0])
        dow_mean4 = y[:, same].mean(axis=1) if same else np.zeros(y.shape[0])
        open_now = panel.open_[:, d] if d < panel.open_.shape[1] else np.zeros(y.shape[0])
        target_day = panel.day0 + timedelta(days=d)
        block = {
            "h": np.full(y.shape[0], h, dtype=np.float64),
            "dow": np.full(y.shape[0], (day0_dow + d) % 7, dtype=np.float64),
            "sn": sn, "dow_mean4": dow_mean4, "ma7": ma7, "ma28": ma28, "ma56": ma56, "nz28": nz28,
            "since_last": since_last.astype(np.float64), "std28": std28, "max28": max28,
            "prod_ma28": prod_ma28, "cat_wh_ma28": cat_wh,
            "wh_share": np.where(prod_ma28 > 0, ma28 / np.maximum(prod_ma28, 1e-9), 0.0),
            "open_now": open_now, "open_frac28": open_frac, "rate_open28": rate_open,
            "ma7_prev": ma7_prev, "log_price": panel.log_price,
            "age_days": np.clip(d - panel.launched, -1, 400).astype(np.float64),
            "dom": np.full(y.shape[0], target_day.day, dtype=np.float64),
            "dow_factor": profile[:, (day0_dow + d) % 7],
        }
        for f in FEATURES:
            cols[f].append(block[f][rows])
    # series-major: row i*horizon + h
    return {f: np.stack(v, axis=1).reshape(-1) for f, v in cols.items()}


def weekday_profile(panel: Panel, t: int, weeks: int = 8, prior: float = 1.0) -> np.ndarray:
    """Series × weekday factor (mean 1): the warehouse's weekday shares of the last `weeks` weeks,
    shrunk towards the all-warehouse profile (`prior` weeks' worth of weight)."""
    a = max(t - 7 * weeks, 0)
    days = np.arange(a, t)
    dows = (panel.day0.weekday() + days) % 7
    wh = panel.series["warehouse_id"].cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
    per_day = panel.y[:, a:t]
    n_wh = int(wh.max()) + 1 if wh.size else 0
    sums = np.zeros((n_wh, 7))
    for k in range(7):
        cols = dows == k
        if cols.any():
            sums[:, k] = np.bincount(wh, weights=per_day[:, cols].sum(axis=1), minlength=n_wh) / cols.sum()
    overall = sums.sum(axis=0)
    overall = overall / overall.mean() if overall.mean() > 0 else np.ones(7)
    mean_wh = sums.mean(axis=1, keepdims=True)
    prof = (sums + prior * overall[None, :] * mean_wh) / np.maximum(mean_wh * (1.0 + prior), 1e-12)
    prof = np.where(mean_wh > 0, prof, overall[None, :])
    return prof[wh] if wh.size else np.ones((0, 7))


def profile_point(feats: dict[str, np.ndarray], sharpen: float) -> np.ndarray:
    """Smoothed level (moving averages of 7, 28 and 56 days) × weekday factor, sharpened.

    Raising the level to a power > 1 and rescaling to the same total moves volume from sparse
    to frequent series: with lumpy demand that lowers absolute error at no cost in bias."""
    level = 0.3 * feats["ma7"] + 0.4 * feats["ma28"] + 0.3 * feats["ma56"]
    sharp = level ** sharpen
    total = sharp.sum()
    sharp = sharp * (level.sum() / total) if total > 0 else sharp
    return sharp * feats["dow_factor"]


def active_rows(panel: Panel, t: int, horizon: int, active_days: int) -> np.ndarray:
    """Series that sold in the `active_days` before t, or have a campaign planned in [t, t+horizon)."""
    sold = panel.y[:, max(t - active_days, 0):t].sum(axis=1) > 0
    planned = panel.open_[:, t:t + horizon].sum(axis=1) > 0 if t < panel.open_.shape[1] else False
    return np.flatnonzero(sold | planned)


def baseline_p50(name: str, feats: dict[str, np.ndarray]) -> np.ndarray:
    if name == "seasonal_naive":
        return feats["sn"]
    raise KeyError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")


def baseline_interval(name: str, feats: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Uncalibrated (center, lo, hi) of a baseline: its point ± the series' 28-day spread."""
    p50 = baseline_p50(name, feats)
    spread = feats["std28"]
    return p50, p50 - spread, p50 + spread


def fit_band_calibrator(y: np.ndarray, center: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                        feats: dict[str, np.ndarray]) -> IntervalCalibrator:
    """The interval's side multipliers per volume band, on held-out cells (`feats` are theirs)."""
    return IntervalCalibrator(min_width=0.5).fit(y, center, lo, hi, groups=volume_band(feats))


def banded_quantiles(calibrator: IntervalCalibrator, center: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                     feats: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p10, p50, p90) of the cells of `feats`: the calibrated interval, at least a Poisson count's
    around the point, clipped at zero and ordered."""
    lo, hi = calibrator.apply(center, lo, hi, groups=volume_band(feats))
    p50 = np.maximum(center, 0.0)
    lo, hi = count_floor(p50, lo, hi)
    return np.clip(lo, 0.0, p50), p50, np.maximum(hi, p50)


def forecast_frame(panel: Panel, rows: np.ndarray, origin: int, p10: np.ndarray, p50: np.ndarray,
                   p90: np.ndarray) -> pl.DataFrame:
    """product_id, warehouse_id, day, p10, p50, p90 from rows × horizon matrices (series-major)."""
    horizon = p50.shape[1]
    keys = panel.series[rows].select("product_id", "warehouse_id")
    keys = keys.select(pl.all().repeat_by(horizon).explode(empty_as_null=True))
    days = [panel.day0 + timedelta(days=origin + h) for h in range(horizon)]
    return keys.with_columns(pl.Series("day", days * rows.size, dtype=pl.Date),
                             *(pl.Series(n, v.ravel().astype(np.float64))
                               for n, v in (("p10", p10), ("p50", p50), ("p90", p90))))


def sample_rows(n: int, size: int, seed: int) -> np.ndarray:
    """Indices of a random `size` of n rows (all of them, in order, when there are no more)."""
    if n <= size:
        return np.arange(n)
    return np.random.default_rng(seed).choice(n, size, replace=False)


def horizon_totals(xs: list[np.ndarray], ys: list[np.ndarray], horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """One row per series and training origin from series-major daily cells: the features of the
    horizon's first day, and the horizon's total (for models of the week a supplier plans on)."""
    return (np.concatenate([x.reshape(-1, horizon, x.shape[1])[:, 0, :] for x in xs]),
            np.concatenate([y.reshape(-1, horizon).sum(axis=1) for y in ys]))


def _matrix(feats: dict[str, np.ndarray]) -> np.ndarray:
    return np.column_stack([feats[f] for f in FEATURES])


def _targets(panel: Panel, t: int, horizon: int, rows: np.ndarray) -> np.ndarray:
    return panel.y[rows, t:t + horizon].reshape(-1)


class DailyForecaster:
    """Production daily model plus baselines, calibrated on the last horizon before the origin."""

    def __init__(self, config: TimeSeriesConfig = TimeSeriesConfig()):
        self.config = config

    def _totals(self, xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows for a model of the horizon's total (none here; see aggregation.ensemble)."""
        return None

    def _pool_rows(self) -> int:
        """Training cells kept (a random sample where the origins hold more)."""
        return self.config.max_train_rows

    def _fit_models(self, x: np.ndarray, y: np.ndarray) -> None:
        cfg = self.config
        common = dict(max_iter=cfg.max_iter, learning_rate=cfg.learning_rate,
                      max_leaf_nodes=cfg.max_leaf_nodes, min_samples_leaf=cfg.min_samples_leaf,
                      random_state=cfg.seed, early_stopping=False)
        y = break_ties(y, cfg.seed, cfg.tie_break)  # most days sell nothing (aggregation.ties)
        self.mid_ = HistGradientBoostingRegressor(loss="quantile", quantile=0.5, **common).fit(x, y)
        self.lo_ = HistGradientBoostingRegressor(loss="quantile", quantile=0.1, **common).fit(x, y)
        self.hi_ = HistGradientBoostingRegressor(loss="quantile", quantile=0.9, **common).fit(x, y)
        self.lift_ = 0.0

    def _raw(self, name: str, feats: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Uncalibrated (center, lo, hi) of one model."""
        if name == "production":
            name = self.production_
        if name == "gbm":
            x = _matrix(feats)
            mid = np.maximum(self.mid_.predict(x), 0.0)
            hi = np.maximum(self.hi_.predict(x), mid)
            point = mid + self.lift_ * (hi - mid)
            lo = np.minimum(self.lo_.predict(x), point)
            return point, lo, np.maximum(hi, point)
        if name == "profile":
            p50 = profile_point(feats, self.sharpen_)
            spread = feats["std28"] * feats["dow_factor"]
            return p50, p50 - spread, p50 + spread
        return baseline_interval(name, feats)

    def fit(self, panel: Panel, origin: int) -> DailyForecaster:
        """Train on weekly origins whose targets end before the calibration horizon, then calibrate."""
        cfg, horizon = self.config, self.config.horizon_days
        calib_t = origin - horizon
        xs, ys, fs = [], [], []
        for j in range(cfg.train_origins):
            t = calib_t - horizon - 7 * j
            if t < 14:
                break
            rows = active_rows(panel, t, horizon, cfg.active_days)
            if rows.size == 0:
                continue
            feats_t = origin_features(panel, t, horizon, rows)
            xs.append(_matrix(feats_t))
            ys.append(_targets(panel, t, horizon, rows))
            fs.append(feats_t)
        if not xs:
            raise InsufficientHistoryError("not enough history to train the daily model: need at least "
                             f"{2 * horizon + 14} days before the forecast origin")
        # the profile model's one parameter: the sharpening with the least error on training origins
        errors = {p: sum(np.abs(yy - profile_point(ff, p)).sum() for ff, yy in zip(fs, ys, strict=True))
                  for p in SHARPEN}
        self.sharpen_ = min(errors, key=errors.get)
        self.origins_ = len(xs)  # weekly origins trained on (fewer than asked where the history ends)
        self.total_train_ = self._totals(xs, ys)
        x, y = np.concatenate(xs), np.concatenate(ys)
        if x.shape[0] > self._pool_rows():
            keep = sample_rows(x.shape[0], self._pool_rows(), cfg.seed)
            x, y = x[keep], y[keep]
        self.train_rows_ = int(x.shape[0])
        self._fit_models(x, y)
        rows = active_rows(panel, calib_t, horizon, cfg.active_days)
        feats = origin_features(panel, calib_t, horizon, rows)
        y_cal = _targets(panel, calib_t, horizon, rows)
        x_cal = _matrix(feats)
        mid = np.maximum(self.mid_.predict(x_cal), 0.0)
        hi = np.maximum(self.hi_.predict(x_cal), mid)
        gap = (hi - mid).sum()
        self.lift_ = float(np.clip((y_cal.sum() - mid.sum()) / gap, 0.0, 1.0)) if gap > 0 else 0.0
        self.calibrators_ = {}
        self.calibration_ = {}
        self.calibration_head_ = feats["ma28"] * 28 >= HEAD_UNITS_28D  # cells of head series
        for name in ("gbm", "profile", *BASELINES):
            center, lo, hi = self._raw(name, feats)
            self.calibrators_[name] = fit_band_calibrator(y_cal, center, lo, hi, feats)
            self.calibration_[name] = (y_cal, center)
        # production: the candidate with the lower error on the held-out horizon
        err = {n: np.abs(y_cal - self.calibration_[n][1]).sum() for n in ("gbm", "profile")}
        self.production_ = min(err, key=err.get)
        self.calibrators_["production"] = self.calibrators_[self.production_]
        self.calibration_["production"] = self.calibration_[self.production_]
        return self

    def quantiles(self, panel: Panel, t: int, rows: np.ndarray | None = None,
                  names: tuple[str, ...] = ("production", *BASELINES)
                  ) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """(rows, {model: (p10, p50, p90)}), each rows × horizon, from day index t; `rows` defaults to
        the series active at t."""
        horizon = self.config.horizon_days
        if rows is None:
            rows = active_rows(panel, t, horizon, self.config.active_days)
        feats = origin_features(panel, t, horizon, rows)
        out = {}
        for name in names:
            center, lo, hi = self._raw(name, feats)
            q = banded_quantiles(self.calibrators_[name], center, lo, hi, feats)
            out[name] = tuple(v.reshape(rows.size, horizon) for v in q)
        return rows, out

    def predict(self, panel: Panel, t: int, rows: np.ndarray | None = None) -> dict[str, pl.DataFrame]:
        """Per model: product_id, warehouse_id, day, p10, p50, p90 for the active series at day index t."""
        rows, out = self.quantiles(panel, t, rows)
        return {name: forecast_frame(panel, rows, t, *q) for name, q in out.items()}

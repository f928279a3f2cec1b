"""The production daily forecast: a validated ensemble of the statistical models and the booster,
weighted and calibrated on several rolling folds, never on one week.

Members (point forecasts per series × day): the statsforecast models an analyst would run
(aggregation.statistical, without AutoETS: 80x the cost of the others together), the
weekday-profiled level, and the boosters of aggregation.timeseries' features: the daily mean, median
and 90% quantile, and the median of the horizon's total (learned on totals, spread over the days as
the daily mean spreads: a total's absolute error is least at its median, which on lumpy demand sits
well below the sum of the daily means, and the daily medians sum far below it). The booster is
trained once on origins that end before the earliest fold, so no fold's outcome is in its training
(it is as stale at the forecast origin as at the folds). On a history too short for that (seven
weeks, say), the oldest folds give way, down to `min_folds`, until the booster has one week to learn
from: without it the ensemble is the statistical models alone (measured on the festival world's
normal week: head-series WAPE 0.384 with six-fold weights and no booster, 0.329 with three folds and
the booster).

Folds: the `folds` weekly origins before the forecast origin whose horizon has been seen. On each,
every member forecasts the series that were active, and the outcome is known.

Weights: per volume band (the series' 28-day mean), non-negative weights that minimise the
absolute error of the horizon *totals* (what a supplier prepares for the week) over all folds, under
the constraint that the weighted forecast carries no bias over the folds pooled (a festival week
moves the weights only as one fold of several). A linear programme (HiGHS). The daily forecast is
the same weights on the members' daily forecasts, so daily cells add up to the total.

Quantiles: the folds' daily cells, binned by the ensemble's P50; in each bin the 10% and 90%
quantiles of outcome / P50 (of the outcome itself where P50 is zero) are the bin's P10 and P90
factors. Where P10 sits on zero nothing can miss below it, so the upper side takes those misses
(about 20% out in all). Where P50 >= 1 the interval is at least one unit wide. A bin whose outcomes
are nearly all zero cannot leave 20% out (its interval holds the zero most days sell, and P90 >= P50
> 0), so the other bins leave up to 15% out a side until the cells pooled are covered at 80%
(QuantileBins.fit_covering: the head cells pooled had covered 0.85-0.93).

Honest scores: the figures reported per fold are leave-one-fold-out (weights fitted on the other
folds, calibration included), so the gate against seasonal naive reads the mean over folds of
forecasts whose weights never saw the fold.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from datetime import date

import numpy as np
from scipy.optimize import linprog

from aggregation.closed_days import close, closed_days
from aggregation.metrics import coverage
from aggregation.statistical import statistical_forecasts
from aggregation.ties import break_ties
from aggregation.timeseries import (
    DailyForecaster,
    InsufficientHistoryError,
    Panel,
    TimeSeriesConfig,
    active_rows,
    horizon_totals,
    origin_features,
    profile_point,
    sample_rows,
)
from common.settings import DEFAULT_SEED

STAT_MEMBERS = ("seasonal_naive", "window_average_28", "historic_average", "adida", "imapa", "tsb",
                "croston_optimized")
BAND_EDGES = (0.25, 1.0, 4.0)  # mean units a day over the last 28 days
HEAD_UNITS_28D = 28.0
# the statistical members read a series of the sparsest band over at least this many days, the days
# before its first sale counting as no sales: read from its first sale, as the analyst's baselines
# are, a product first sold yesterday is forecast its first day's sales every day (Online Retail
# 2011-09-05: 213 such series forecast 1,589 units for the week, 155 sold)
SPARSE_MIN_HISTORY = 28


class TooFewFoldsError(ValueError):
    """The history holds fewer weekly folds than the ensemble needs (callers fall back to a single
    model); any other error in fitting it is a fault, not a short history."""


@dataclass(frozen=True)
class EnsembleConfig:
    folds: int = 6  # weekly origins whose horizon is known (the last one ends at the origin)
    min_folds: int = 3
    max_fit_rows: int = 40_000  # per band, sampled
    min_band_rows: int = 300  # a band with fewer rows uses the pooled weights
    cell_bins: int = 12  # P50 bins for the quantile factors
    min_bin_cells: int = 400
    # the booster's weekly training origins, each tried in turn while the history has room for them;
    # the one whose cross-validated fold mean is lowest is kept (fit_ensemble)
    booster_origins: tuple[int, ...] = (10, 20)
    seed: int = DEFAULT_SEED


@dataclass
class Members:
    """Every member's daily point forecasts for `rows` from origin `t` (name -> rows × horizon)."""

    rows: np.ndarray
    band: np.ndarray
    head: np.ndarray
    points: dict[str, np.ndarray]
    closed: np.ndarray  # per horizon day: the platform is closed (aggregation.closed_days)


def members_at(panel: Panel, t: int, horizon: int, rows: np.ndarray, booster: DailyForecaster | None,
               stats_cache: dict | None = None) -> Members:
    """Point forecasts of every member for `rows` from day index t (history strictly before t).
    `stats_cache` (day index -> the statistical members' forecasts) spares refitting them for a fold
    whose rows are the same (the folds' active rows depend on t alone)."""
    feats = origin_features(panel, t, horizon, rows)
    ma28 = feats["ma28"].reshape(rows.size, horizon)[:, 0]
    if stats_cache is not None and t in stats_cache:
        stats = stats_cache[t]
    else:
        sparse = ma28 < BAND_EDGES[0]
        stats = statistical_forecasts(panel.y[rows, :t], horizon, models=STAT_MEMBERS, intervals=False,
                                      min_history=np.where(sparse, SPARSE_MIN_HISTORY, 0))
        if stats_cache is not None:
            stats_cache[t] = stats
    points = {name: q[1] for name, q in stats.items()}
    if booster is not None:
        points["profile"] = profile_point(feats, booster.sharpen_).reshape(rows.size, horizon)
        x = np.column_stack([feats[f] for f in booster.features_])
        shape = (rows.size, horizon)
        cap = booster.cap_
        points["gbm"] = _bounded(booster.mean_.predict(x), cap).reshape(shape)
        mid = _bounded(booster.mid_.predict(x), cap)
        points["gbm_p50"] = mid.reshape(shape)
        # the upper quantile: with the median, convex weights place the point at the quantile level
        # that the folds' outcomes support (on lumpy demand the median is mostly zero)
        points["gbm_p90"] = np.maximum(_bounded(booster.hi_.predict(x), cap), mid).reshape(shape)
        total = booster.total_mid_.predict(x.reshape(*shape, -1)[:, 0, :])
        points["gbm_total_p50"] = _spread_total(_bounded(total, booster.total_cap_), points["gbm"])
    shut = closed_days(panel.y, t, horizon)
    points = {name: close(p, shut) for name, p in points.items()}
    return Members(rows, np.digitize(ma28, BAND_EDGES), ma28 * 28 >= HEAD_UNITS_28D, points, shut)


def _bounded(prediction: np.ndarray, cap: float) -> np.ndarray:
    """A booster's prediction as a quantity: finite, at least 0, at most `cap` (the most it saw in
    training). Poisson boosting can overflow to inf on a leaf of rare huge orders (Online Retail with
    every training row: one inf took the whole ensemble down)."""
    return np.clip(np.nan_to_num(prediction, nan=0.0, posinf=cap, neginf=0.0), 0.0, cap)


def _spread_total(total: np.ndarray, daily: np.ndarray) -> np.ndarray:
    """rows × horizon: each row's forecast total over its horizon, spread over the days as `daily`
    spreads its own (evenly where that is all zero)."""
    sums = daily.sum(axis=1, keepdims=True)
    share = np.where(sums > 0, daily / np.where(sums > 0, sums, 1.0), 1.0 / daily.shape[1])
    return np.maximum(total, 0.0)[:, None] * share


BIAS_BAND = 0.05  # the weighted forecast's total over the folds stays within ±5% of the outcome's


def fit_weights(x: np.ndarray, y: np.ndarray, bias_band: float = BIAS_BAND) -> np.ndarray:
    """Non-negative w minimising sum |y - x w|, with sum(x w) within ±bias_band of sum(y).

    Absolute error alone is least at the median of each row's outcome, which on lumpy, skewed
    weekly totals is well below the mean: a supplier would be short every week. The band keeps the
    total honest while leaving the weights free to trade a little bias for a lot of error."""
    from scipy.sparse import csr_matrix, eye, hstack

    n, m = x.shape
    if n == 0 or m == 0:
        return np.full(m, 1.0 / max(m, 1))
    # variables: w (m), over (n), under (n); x w - over + under = y
    cost = np.concatenate([np.zeros(m), np.ones(2 * n)])
    a_eq = hstack([csr_matrix(x), -eye(n), eye(n)]).tocsr()
    total = np.concatenate([x.sum(axis=0), np.zeros(2 * n)])[None, :]
    a_ub = csr_matrix(np.vstack([total, -total]))
    b_ub = np.array([(1 + bias_band) * y.sum(), -(1 - bias_band) * y.sum()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = linprog(cost, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=y, bounds=(0, None), method="highs")
    if not res.success:  # e.g. every member forecasts zero: the plain mean of the members
        return np.full(m, 1.0 / m)
    return res.x[:m]


@dataclass
class BandWeights:
    names: tuple[str, ...]
    pooled: np.ndarray
    bands: dict[int, np.ndarray] = field(default_factory=dict)

    def combine(self, members: Members) -> np.ndarray:
        """rows × horizon ensemble forecast."""
        stack = np.stack([members.points[n] for n in self.names], axis=2)  # rows × h × m
        w = np.stack([self.bands.get(int(b), self.pooled) for b in members.band])  # rows × m
        return np.einsum("rhm,rm->rh", stack, w)


def _weights(folds: list[Members], outcomes: list[np.ndarray], names: tuple[str, ...], cfg: EnsembleConfig,
             rng: np.random.Generator) -> BandWeights:
    x = np.concatenate([np.stack([f.points[n].sum(axis=1) for n in names], axis=1) for f in folds])
    y = np.concatenate([o.sum(axis=1) for o in outcomes])
    band = np.concatenate([f.band for f in folds])

    def sample(idx: np.ndarray) -> np.ndarray:
        return idx if idx.size <= cfg.max_fit_rows else rng.choice(idx, cfg.max_fit_rows, replace=False)

    pooled = fit_weights(*(v[sample(np.arange(y.size))] for v in (x, y)))
    out = BandWeights(names, pooled)
    for b in np.unique(band):
        idx = np.flatnonzero(band == b)
        if idx.size >= cfg.min_band_rows and y[idx].sum() > 0:
            keep = sample(idx)
            out.bands[int(b)] = fit_weights(x[keep], y[keep])
    return out


def _sides(values: np.ndarray, miss: float = 0.1) -> tuple[float, float]:
    """Lower and upper factors leaving about `miss` of `values` out on each side; where the lower
    one sits on zero nothing can fall below it (quantities are never negative), so the upper side
    takes the misses the lower cannot (about 2 × miss out in all, as for the 80% interval)."""
    lo = float(np.quantile(values, miss))
    below = float(np.mean(values < lo))
    upper_miss = max(2 * miss - below, 1e-3)
    return lo, float(np.quantile(values, 1.0 - upper_miss))


COVERAGE_TARGET = 0.80  # P10-P90 of the cells the bins are fitted on, pooled
MAX_MISS = 0.15  # the most each bin may leave out on each side to get there (a 70% central interval)


@dataclass
class QuantileBins:
    """P10 / P90 factors per bin of the P50 (of the outcome itself in the zero bin)."""

    edges: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    zero_lo: float
    zero_hi: float

    @classmethod
    def fit(cls, p50: np.ndarray, y: np.ndarray, cfg: EnsembleConfig, miss: float = 0.1) -> QuantileBins:
        zero = p50 <= 1e-9
        zl, zh = _sides(y[zero], miss) if zero.any() else (0.0, 0.0)
        pos = ~zero
        ratio = y[pos] / p50[pos] if pos.any() else np.array([1.0])
        if pos.sum() < cfg.min_bin_cells:
            lo, hi = _sides(ratio, miss)
            return cls(np.array([]), np.array([lo]), np.array([hi]), zl, zh)
        n_bins = int(min(cfg.cell_bins, max(pos.sum() // cfg.min_bin_cells, 1)))
        edges = np.unique(np.quantile(p50[pos], np.linspace(0, 1, n_bins + 1)[1:-1]))
        which = np.digitize(p50[pos], edges)
        sides = [_sides(ratio[which == b], miss) if (which == b).any() else (1.0, 1.0)
                 for b in range(edges.size + 1)]
        return cls(edges, np.array([a for a, _ in sides]), np.array([b for _, b in sides]), zl, zh)

    @classmethod
    def fit_covering(cls, p50: np.ndarray, y: np.ndarray, cfg: EnsembleConfig,
                     target: float = COVERAGE_TARGET) -> QuantileBins:
        """Bins whose intervals cover `target` of the cells they are fitted on, pooled over the bins.
        Each bin leaves `miss` out on each side; where an interval must hold zero (a bin whose outcomes
        are mostly zero) it covers more than 1 - 2 miss, so `miss` grows (up to MAX_MISS) until the
        cells pooled are covered at `target`."""
        def covered(miss: float) -> tuple[QuantileBins, float]:
            bins = cls.fit(p50, y, cfg, miss)
            lo, _, hi = bins.apply(p50)
            return bins, coverage(y, lo, hi)

        bins, cov = covered((1 - target) / 2)
        if not cov > target:
            return bins
        low, high = (1 - target) / 2, MAX_MISS
        best, cov_high = covered(high)
        if cov_high > target:
            return best
        for _ in range(12):
            mid = (low + high) / 2
            mid_bins, mid_cov = covered(mid)
            if mid_cov > target:
                low = mid
            else:
                high, best = mid, mid_bins
        return best

    def apply(self, p50: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        which = np.digitize(p50, self.edges)
        zero = p50 <= 1e-9
        p10 = np.where(zero, self.zero_lo, p50 * self.lo[which])
        p90 = np.where(zero, self.zero_hi, p50 * self.hi[which])
        p10, p90 = np.clip(np.minimum(p10, p50), 0.0, None), np.maximum(p90, p50)
        # never a point interval where a unit or more is expected (a bin whose outcomes all matched
        # its forecast says little about the next week)
        p90 = np.where((p50 >= 1.0) & (p90 - p10 < 1.0), p10 + 1.0, p90)
        return p10, p50, p90


@dataclass
class HeadBins:
    """Quantile bins fitted apart for the cells of head series and of the rest: pooled, the lumpy
    sparse series widen the head series' intervals far beyond 80%."""

    head: QuantileBins
    rest: QuantileBins

    @classmethod
    def fit(cls, folds: list[Members], outcomes: list[np.ndarray], weights: BandWeights,
            cfg: EnsembleConfig) -> HeadBins:
        """Fitted on the folds' trading days: not on a closed day (its forecast and outcome are both
        zero), nor on a day none of the fold's series sold anything (a holiday, a shutdown: the
        Christmas week of Online Retail narrowed the next weeks' intervals to 0.74 coverage)."""
        p = np.concatenate([weights.combine(f).ravel() for f in folds])
        y = np.concatenate([o.ravel() for o in outcomes])
        head = np.concatenate([np.repeat(f.head, o.shape[1]) for f, o in zip(folds, outcomes, strict=True)])
        open_ = np.concatenate([np.tile(~f.closed & (o.sum(axis=0) > 0), f.rows.size)
                                for f, o in zip(folds, outcomes, strict=True)])
        p, y, head = p[open_], y[open_], head[open_]
        fit = QuantileBins.fit_covering
        rest = fit(p[~head], y[~head], cfg) if (~head).any() else fit(p, y, cfg)
        return cls(fit(p[head], y[head], cfg) if head.any() else rest, rest)

    def apply(self, p50: np.ndarray, members: Members) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Flattened (p10, p50, p90) of a rows × horizon P50 matrix of `members`' rows; zero on
        closed days."""
        flat = p50.ravel()
        cells = np.repeat(members.head, p50.shape[1])
        a = self.head.apply(flat)
        b = self.rest.apply(flat)
        shut = np.tile(members.closed, p50.shape[0])
        return tuple(np.where(shut, 0.0, np.where(cells, x, z)) for x, z in zip(a, b, strict=True))


def _head_or_all(head: np.ndarray) -> np.ndarray:
    """The fold's head series, or every series where it has none."""
    return head if head.any() else np.ones(head.shape[0], dtype=bool)


def _head_total_wape(y: np.ndarray, p: np.ndarray, head: np.ndarray) -> float | None:
    head = _head_or_all(head)
    total = y[head].sum()
    return float(np.abs(y[head].sum(axis=1) - p[head].sum(axis=1)).sum() / total) if total > 0 else None


def _head_totals(y: np.ndarray, p: np.ndarray, head: np.ndarray) -> tuple[float, float]:
    """(sold, forecast) of a fold's head series over its horizon (every series without any)."""
    head = _head_or_all(head)
    return float(y[head].sum()), float(p[head].sum())


def _bias(sold: float, forecast: float) -> float | None:
    return (forecast - sold) / sold if sold > 0 else None


def _log_sold_over_forecast(fold: dict) -> float | None:
    """log((sold + 1) / (forecast + 1)) of a fold's head series: symmetric in a fall and a rise, and
    finite where nothing sold (a shutdown) or nothing was forecast."""
    sold, forecast = fold.get("head_sold"), fold.get("head_forecast")
    if sold is None or forecast is None or not (math.isfinite(sold) and math.isfinite(forecast)):
        return None
    return math.log((sold + 1.0) / (forecast + 1.0))


# the newest fold's log(sold / forecast) at least this far from zero, and this far beyond every
# older fold's: the level moved (EnsembleForecaster.level_shift). 0.25 is sold 0.78x or 1.28x the
# forecast; Online Retail's ordinary weeks range from 0.62x to 1.66x (head series, leave-one-fold-out),
# so the bar is the folds' own range, not a fixed one.
LEVEL_SHIFT = 0.25


class EnsembleForecaster:
    """Fit on rolling folds before `origin`; predict P10/P50/P90 from `origin`."""

    def __init__(self, ts_config: TimeSeriesConfig = TimeSeriesConfig(),
                 config: EnsembleConfig = EnsembleConfig()):
        self.ts_config, self.config = ts_config, config

    def fold_origins(self, origin: int) -> list[int]:
        h = self.ts_config.horizon_days
        return [origin - h - 7 * j for j in range(self.config.folds) if origin - h - 7 * j >= 14]

    def fit(self, panel: Panel, origin: int, stats_cache: dict | None = None) -> EnsembleForecaster:
        """Raises TooFewFoldsError when fewer than `min_folds` folds fit in the history. `stats_cache` is
        shared by fits on the same panel and origin (fit_ensemble)."""
        h, cfg = self.ts_config.horizon_days, self.config
        # a fold with no active series (nothing sold in the days before it: a platform that was
        # closed for months) has nothing to score
        origins = [t for t in self.fold_origins(origin)
                   if active_rows(panel, t, h, self.ts_config.active_days).size]
        if len(origins) < cfg.min_folds:
            raise TooFewFoldsError(f"the ensemble needs {cfg.min_folds} weekly folds of {h} days before "
                                   f"the origin, each with a sale in the {self.ts_config.active_days} days "
                                   f"before it; the history holds {len(origins)}")
        rng = np.random.default_rng(cfg.seed)
        # the booster learns on origins ending before the earliest fold (none of the folds' outcomes)
        # on a short history, the oldest folds give way (down to `min_folds`) until it has a week
        self.booster_, self.booster_skipped_ = None, None
        while self.booster_ is None:
            try:
                self.booster_ = PoissonBooster(self.ts_config).fit(panel, min(origins))
                self.booster_.features_ = _booster_features()
            except InsufficientHistoryError:
                if len(origins) <= cfg.min_folds:
                    break
                origins = origins[:-1]
            except ValueError as exc:  # said in the report (describe), not silently
                self.booster_skipped_ = str(exc)
                break
        folds, outcomes = [], []
        for t in origins:
            rows = active_rows(panel, t, h, self.ts_config.active_days)
            folds.append(members_at(panel, t, h, rows, self.booster_, stats_cache))
            outcomes.append(panel.y[rows, t:t + h])
        self.names_ = tuple(folds[0].points)
        self.newest_fold_day_ = panel.day0.toordinal() + origin - h  # the fold that ends at the origin
        self.weights_ = _weights(folds, outcomes, self.names_, cfg, rng)
        self.bins_ = HeadBins.fit(folds, outcomes, self.weights_, cfg)
        self.folds_ = self._cross_validated(folds, outcomes, origins, panel, rng)
        return self

    def _cross_validated(self, folds, outcomes, origins, panel, rng) -> list[dict]:
        """Per fold: head-series total WAPE of the ensemble with weights and bins fitted on the other
        folds, of each member, and the ensemble's daily P10-P90 coverage of head cells."""
        out = []
        for k, (f, y) in enumerate(zip(folds, outcomes, strict=True)):
            others = [j for j in range(len(folds)) if j != k]
            w = _weights([folds[j] for j in others], [outcomes[j] for j in others], self.names_,
                         self.config, rng)
            bins = HeadBins.fit([folds[j] for j in others], [outcomes[j] for j in others], w, self.config)
            p10, p50, p90 = bins.apply(w.combine(f), f)
            head_cells = np.repeat(f.head, y.shape[1])
            yc = y.ravel()
            inside = (yc >= p10) & (yc <= p90)
            informative = ~((yc == 0) & (p10 == 0) & (p90 == 0))
            sel = head_cells & informative
            day = panel.day0.toordinal() + origins[k]
            point = p50.reshape(y.shape)
            sold, forecast = _head_totals(y, point, f.head)
            out.append({
                "origin_day": day,
                "head_series": int(f.head.sum()),
                "ensemble": _head_total_wape(y, point, f.head),
                "ensemble_bias": _bias(sold, forecast), "head_sold": sold, "head_forecast": forecast,
                "coverage_p10_p90": float(inside[sel].mean()) if sel.any() else None,
                **{n: _head_total_wape(y, f.points[n], f.head) for n in self.names_},
            })
        return out

    def level_shift(self) -> dict | None:
        """The newest fold's days broke from the forecast as no older fold's did: the head series sold
        at least 1.28x or at most 0.78x what the ensemble (weights fitted without those days) forecast,
        and that far beyond the older folds' range (a festival, a shutdown, a promotion; the festival
        world's lull: 0.36x against 0.94x-1.84x). None otherwise, or when the newest fold is not the
        one that ends at the origin. Said in the run's report, not acted on: scaling the forecast by
        the last week's miss won that week and lost the weeks after a festival (BENCHMARKS, "Regime
        shifts and short histories")."""
        if not self.folds_ or self.folds_[0]["origin_day"] != self.newest_fold_day_:
            return None
        logs = [_log_sold_over_forecast(f) for f in self.folds_]
        newest, older = logs[0], [v for v in logs[1:] if v is not None]
        if newest is None or len(older) < 2 or abs(newest) < LEVEL_SHIFT:
            return None
        if min(older) - LEVEL_SHIFT < newest < max(older) + LEVEL_SHIFT:
            return None
        fold = self.folds_[0]
        return {"days_from": date.fromordinal(fold["origin_day"]).isoformat(),
                "days": self.ts_config.horizon_days,
                "head_sold": round(fold["head_sold"], 1), "head_forecast": round(fold["head_forecast"], 1),
                "sold_over_forecast": round(math.exp(newest), 4),
                "older_folds_sold_over_forecast": [round(math.exp(min(older)), 4),
                                                   round(math.exp(max(older)), 4)]}

    def usual_miss(self) -> float:
        """The median over the folds of |log((sold + 1) / (forecast + 1))| of the head series' totals:
        how far a week usually lands from this forecast (0 without folds)."""
        logs = [abs(v) for v in map(_log_sold_over_forecast, self.folds_) if v is not None]
        return float(np.median(logs)) if logs else 0.0

    def fold_mean(self, name: str) -> float | None:
        values = [f[name] for f in self.folds_ if f.get(name) is not None]
        return float(np.mean(values)) if values else None

    def predict(self, panel: Panel, origin: int, rows: np.ndarray | None = None
                ) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        """(rows, {"ensemble": (p10, p50, p90), "seasonal_naive": ...}) each rows × horizon; the
        fallback seasonal naive gets the same kind of binned calibration on its own fold cells."""
        h = self.ts_config.horizon_days
        if rows is None:
            rows = active_rows(panel, origin, h, self.ts_config.active_days)
        m = members_at(panel, origin, h, rows, self.booster_)
        shape = (rows.size, h)
        p10, p50, p90 = self.bins_.apply(self.weights_.combine(m), m)
        s10, s50, s90 = self.bins_.apply(m.points["seasonal_naive"], m)
        return rows, {"ensemble": (p10.reshape(shape), p50.reshape(shape), p90.reshape(shape)),
                      "seasonal_naive": (s10.reshape(shape), s50.reshape(shape), s90.reshape(shape))}

    def describe(self) -> dict:
        """Weights, per-fold cross-validated scores and their means (for the run report)."""
        def rounded(w: np.ndarray) -> dict:
            return {n: round(float(v), 4) for n, v in zip(self.names_, w, strict=True) if v > 1e-6}
        return {
            "members": list(self.names_),
            "weights": {"pooled": rounded(self.weights_.pooled),
                        **{f"band_{b}": rounded(w) for b, w in sorted(self.weights_.bands.items())}},
            "folds": [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in f.items()}
                      for f in self.folds_],
            "level_shift": self.level_shift(),
            "booster_origins": getattr(self.booster_, "origins_", None),
            "booster_skipped": getattr(self, "booster_skipped_", None),
            "booster_origins_tried": {n: (round(v, 4) if v is not None else None)
                                      for n, v in getattr(self, "origins_tried_", {}).items()},
            "fold_mean_head_total_wape": {n: (round(v, 4) if v is not None else None)
                                          for n in ("ensemble", *self.names_)
                                          for v in [self.fold_mean(n)]},
        }


def fit_ensemble(panel: Panel, origin: int, ts_config: TimeSeriesConfig, config: EnsembleConfig
                 ) -> EnsembleForecaster:
    """The ensemble whose booster learned on the number of weekly origins (config.booster_origins)
    that the folds' cross-validated head-series WAPE prefers. A longer choice is tried only while the
    history had room for the shorter one (else it would train the same booster); ties keep the
    shorter. Raises TooFewFoldsError as EnsembleForecaster.fit."""
    best, best_score, tried, stats_cache = None, np.inf, {}, {}
    for n in config.booster_origins:
        model = EnsembleForecaster(replace(ts_config, train_origins=n), config)
        model.fit(panel, origin, stats_cache)
        score = tried[n] = model.fold_mean("ensemble")
        if best is None or (score is not None and score < best_score):
            best, best_score = model, np.inf if score is None else score
        if model.booster_ is None or model.booster_.origins_ < n:
            break
    best.origins_tried_ = tried
    return best


@dataclass
class Averaged:
    """The mean prediction of models trained on different samples (bagging: one sample's luck is
    averaged out)."""

    models: list

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.mean([m.predict(x) for m in self.models], axis=0)


class PoissonBooster(DailyForecaster):
    """The daily model's features and training origins, with gradient-boosted models of the
    expected quantity (Poisson loss: a median of lumpy daily demand is mostly zero, a mean adds up
    to the week) and of its median and 90% quantile, each the average of `bags` models trained on their
    own samples of the training cells; and of the median of the horizon's total."""

    def _pool_rows(self) -> int:
        return self.config.max_train_rows * max(self.config.bags, 1)

    def _totals(self, xs: list[np.ndarray], ys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        x, y = horizon_totals(xs, ys, self.config.horizon_days)
        keep = sample_rows(y.size, self.config.max_train_rows, self.config.seed)
        return x[keep], y[keep]

    def _fit_models(self, x: np.ndarray, y: np.ndarray) -> None:
        from sklearn.ensemble import HistGradientBoostingRegressor

        cfg = self.config
        common = dict(max_iter=cfg.max_iter, learning_rate=cfg.learning_rate,
                      max_leaf_nodes=cfg.max_leaf_nodes, min_samples_leaf=cfg.min_samples_leaf,
                      early_stopping=False)

        def model(seed: int, **loss) -> HistGradientBoostingRegressor:
            return HistGradientBoostingRegressor(random_state=seed, **loss, **common)

        means, mids, highs = [], [], []
        # one bag per max_train_rows cells: below that every bag would see the same cells
        for bag in range(min(max(cfg.bags, 1), math.ceil(x.shape[0] / cfg.max_train_rows))):
            seed = cfg.seed + bag
            keep = sample_rows(x.shape[0], cfg.max_train_rows, seed)
            xb, yb = x[keep], y[keep]
            if not yb.any():  # a sample of sparse history that sold nothing has nothing to learn
                continue
            means.append(model(seed, loss="poisson").fit(xb, yb))
            yq = break_ties(yb, seed, cfg.tie_break)  # most days sell nothing (aggregation.ties)
            mids.append(model(seed, loss="quantile", quantile=0.5).fit(xb, yq))
            highs.append(model(seed, loss="quantile", quantile=0.9).fit(xb, yq))
        if not means:
            raise ValueError("no training cell sold anything: the booster has nothing to learn")
        self.mean_, self.mid_, self.hi_ = Averaged(means), Averaged(mids), Averaged(highs)
        # the median of the horizon's total, learned on the totals themselves: on lumpy demand it is
        # well below the sum of the daily means, and a total's absolute error is least at its median
        (xt, yt), self.total_train_ = self.total_train_, None
        self.cap_, self.total_cap_ = float(y.max(initial=0.0)), float(yt.max(initial=0.0))
        self.total_mid_ = model(cfg.seed, loss="quantile", quantile=0.5).fit(
            xt, break_ties(yt, cfg.seed, cfg.tie_break))
        self.lo_ = self.mid_
        self.lift_ = 0.0


def _booster_features() -> tuple[str, ...]:
    from aggregation.timeseries import FEATURES

    return FEATURES

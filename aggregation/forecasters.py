"""The daily forecasters behind one interface, chosen by name.

Every forecaster takes the dense panel of aggregation.timeseries and a forecast origin (a day index):
`fit(panel, origin) -> self` learns from the days before the origin only; `predict(panel, origin,
rows)` answers a `DailyQuantiles` (P10 <= P50 <= P90, rows × horizon, never negative) for the days
origin..origin + horizon - 1, reading no day at or after the origin (campaign plans, known ahead,
excepted). `__init__` only stores parameters; learned state ends in `_`; `predict` before `fit`
raises NotFittedError. `FORECASTERS` maps each name to its class, `make_forecaster` builds one.
`intervals` says whether a forecaster promises P10 < P90 wherever P50 >= 1 (a real interval where a
unit or more is expected); `independent_rows` whether a series' forecast is the same whichever other
rows are asked for with it (not so for those that read the weekday profile: its sharpened levels are
rescaled to the total of the rows asked for). tests/aggregation/test_forecaster_contract.py holds
every one to this.

The classes are thin: the work stays where it was (timeseries, ensemble, statistical,
short_history), and each engine's own state (fold scores, the held-out calibration the gates read)
is its `model_`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import polars as pl

from aggregation.ensemble import EnsembleConfig, fit_ensemble
from aggregation.short_history import fit_short_history, forecast_rows, short_history_quantiles
from aggregation.statistical import STAT_MODELS, statistical_forecasts
from aggregation.timeseries import (
    DailyForecaster,
    Panel,
    TimeSeriesConfig,
    active_rows,
    banded_quantiles,
    baseline_interval,
    fit_band_calibrator,
    forecast_frame,
    origin_features,
)
from common.errors import InsufficientHistoryError, NotFittedError, UsageError


@dataclass(frozen=True)
class DailyQuantiles:
    """A forecaster's answer: panel rows and their P10 / P50 / P90, each rows × horizon."""

    rows: np.ndarray
    p10: np.ndarray
    p50: np.ndarray
    p90: np.ndarray

    def frame(self, panel: Panel, origin: int) -> pl.DataFrame:
        """product_id, warehouse_id, day, p10, p50, p90 (series-major), as the demand table reads."""
        return forecast_frame(panel, self.rows, origin, self.p10, self.p50, self.p90)


FORECASTERS: dict[str, type[Forecaster]] = {}


def register(cls: type[Forecaster]) -> type[Forecaster]:
    """Class decorator: make a forecaster available by its `name`."""
    FORECASTERS[cls.name] = cls
    return cls


def make_forecaster(name: str, config: TimeSeriesConfig | None = None, **params: object) -> Forecaster:
    """Build a registered forecaster by name; unknown names fail with the list of known ones."""
    if name not in FORECASTERS:
        raise UsageError(f"unknown forecaster {name!r}; known forecasters: {', '.join(sorted(FORECASTERS))}")
    return FORECASTERS[name](config or TimeSeriesConfig(), **params)


class Forecaster(ABC):
    """A daily product × warehouse forecaster over a Panel (see the module's docstring)."""

    name: ClassVar[str] = "base"
    intervals: ClassVar[bool] = False  # promises P10 < P90 wherever P50 >= 1
    independent_rows: ClassVar[bool] = True  # a series' forecast does not depend on the other rows

    def __init__(self, config: TimeSeriesConfig = TimeSeriesConfig()) -> None:
        self.config = config

    @property
    def horizon(self) -> int:
        return self.config.horizon_days

    def fit(self, panel: Panel, origin: int) -> Self:
        """Learn from the days before `origin`; returns self."""
        self._fit(panel, origin)
        self.origin_ = origin
        return self

    def predict(self, panel: Panel, origin: int, rows: np.ndarray | None = None) -> DailyQuantiles:
        """P10/P50/P90 of `rows` (default: the series this forecaster covers at `origin`)."""
        return self._predict(panel, origin, self._rows(panel, origin, rows))

    def candidates(self, panel: Panel, origin: int, rows: np.ndarray | None = None
                   ) -> dict[str, DailyQuantiles]:
        """This forecast (under `own`) and any fallback calibrated beside it, for a gate to choose."""
        return self._candidates(panel, origin, self._rows(panel, origin, rows))

    def default_rows(self, panel: Panel, origin: int) -> np.ndarray:
        """The series forecast when no rows are given: those that sold in the `active_days` before
        the origin or have a campaign planned in the horizon."""
        return active_rows(panel, origin, self.horizon, self.config.active_days)

    @property
    def own(self) -> str:
        """The key of this forecaster's own forecast among its candidates."""
        return self.name

    def _rows(self, panel: Panel, origin: int, rows: np.ndarray | None) -> np.ndarray:
        """The rows asked for (default_rows without), once the forecaster is known to be fitted."""
        if not hasattr(self, "origin_"):
            raise NotFittedError(f"forecaster {self.name!r} used before fit(); call fit(panel, origin) first")
        return self.default_rows(panel, origin) if rows is None else np.asarray(rows, dtype=np.int64)

    # -- for subclasses ------------------------------------------------------------------------
    @abstractmethod
    def _fit(self, panel: Panel, origin: int) -> None: ...

    @abstractmethod
    def _candidates(self, panel: Panel, origin: int, rows: np.ndarray) -> dict[str, DailyQuantiles]: ...

    def _predict(self, panel: Panel, origin: int, rows: np.ndarray) -> DailyQuantiles:
        return self._candidates(panel, origin, rows)[self.own]


def _quantiles(rows: np.ndarray, named: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
               ) -> dict[str, DailyQuantiles]:
    return {n: DailyQuantiles(rows, *q) for n, q in named.items()}


@register
class Booster(Forecaster):
    """The single learned model (timeseries.DailyForecaster): gradient-boosted quantiles or the
    weekday profile, whichever won the last horizon before the origin, its interval calibrated there
    per volume band and never narrower than a Poisson count's. Candidates: `production` and the
    `seasonal_naive` it calibrated beside it (the gate's fallback)."""

    name = "booster"
    intervals = True
    independent_rows = False  # the profile model (timeseries.profile_point)

    @property
    def own(self) -> str:
        return "production"

    def _fit(self, panel: Panel, origin: int) -> None:
        self.model_ = DailyForecaster(self.config).fit(panel, origin)

    def _predict(self, panel: Panel, origin: int, rows: np.ndarray) -> DailyQuantiles:
        return _quantiles(*self.model_.quantiles(panel, origin, rows, names=(self.own,)))[self.own]

    def _candidates(self, panel: Panel, origin: int, rows: np.ndarray) -> dict[str, DailyQuantiles]:
        return _quantiles(*self.model_.quantiles(panel, origin, rows))


@register
class Ensemble(Forecaster):
    """The production ensemble (ensemble.EnsembleForecaster): statistical members, the profile and
    the booster weighted and calibrated on rolling folds. Candidates: `ensemble` and the
    `seasonal_naive` binned on the same folds. `ensemble` defaults to EnsembleConfig(seed=config.seed).
    Raises ensemble.TooFewFoldsError when fewer than `min_folds` folds fit in the history."""

    name = "ensemble"
    intervals = True
    independent_rows = False  # the profile member (timeseries.profile_point)

    def __init__(self, config: TimeSeriesConfig = TimeSeriesConfig(), ensemble: EnsembleConfig | None = None
                 ) -> None:
        super().__init__(config)
        self.ensemble = ensemble

    def _fit(self, panel: Panel, origin: int) -> None:
        config = self.ensemble or EnsembleConfig(seed=self.config.seed)
        self.model_ = fit_ensemble(panel, origin, self.config, config)

    def _candidates(self, panel: Panel, origin: int, rows: np.ndarray) -> dict[str, DailyQuantiles]:
        return _quantiles(*self.model_.predict(panel, origin, rows))


@register
class SeasonalNaiveBanded(Forecaster):
    """Seasonal naive (the same weekday one week earlier, timeseries.baseline_p50) with the booster's
    interval: ± the 28-day spread, calibrated per volume band on the last horizon before the origin,
    at least a Poisson count's. The same numbers as the booster's `seasonal_naive` candidate, without
    training the booster."""

    name = "seasonal_naive_banded"
    intervals = True
    baseline: ClassVar[str] = "seasonal_naive"

    def _fit(self, panel: Panel, origin: int) -> None:
        h = self.horizon
        t = origin - h  # the calibration origin: its horizon ends the day before the forecast origin
        if t < 7:
            raise InsufficientHistoryError(f"seasonal naive with a calibrated interval needs {h + 7} days "
                                           f"before the origin (a week, then the {h}-day calibration "
                                           f"horizon); got {max(origin, 0)}")
        rows = active_rows(panel, t, h, self.config.active_days)
        feats = origin_features(panel, t, h, rows)
        y = panel.y[rows, t:t + h].reshape(-1)
        self.calibrator_ = fit_band_calibrator(y, *baseline_interval(self.baseline, feats), feats)

    def _candidates(self, panel: Panel, origin: int, rows: np.ndarray) -> dict[str, DailyQuantiles]:
        feats = origin_features(panel, origin, self.horizon, rows)
        q = banded_quantiles(self.calibrator_, *baseline_interval(self.baseline, feats), feats)
        return _quantiles(rows, {self.name: tuple(v.reshape(rows.size, self.horizon) for v in q)})


@register
class ShortHistory(Forecaster):
    """The fallback for too little history (short_history): seasonal naive, the mean of the days
    there are or the last value, by the days before the origin, its interval calibrated on the last
    of them where they allow it. Covers every series that sold before the origin. `info_` says what
    was chosen. Raises NoHistoryError when nothing sold."""

    name = "short_history"

    def default_rows(self, panel: Panel, origin: int) -> np.ndarray:
        return forecast_rows(panel, origin)

    def _fit(self, panel: Panel, origin: int) -> None:
        self.model_ = fit_short_history(panel, origin, self.horizon)
        self.info_ = self.model_.info

    def _candidates(self, panel: Panel, origin: int, rows: np.ndarray) -> dict[str, DailyQuantiles]:
        q = short_history_quantiles(self.model_, panel, origin, self.horizon, rows)
        return _quantiles(rows, {self.name: q})


class Statistical(Forecaster):
    """A statsforecast model as a supplier's analyst would run it (statistical.statistical_forecasts,
    conformal P10/P90). The models are local: `fit` checks nothing and learns nothing, `predict` fits
    each series on its own days before the origin. `n_jobs`: statsforecast's processes."""

    model: ClassVar[str]

    def __init__(self, config: TimeSeriesConfig = TimeSeriesConfig(), n_jobs: int = 1) -> None:
        super().__init__(config)
        self.n_jobs = n_jobs

    def _fit(self, panel: Panel, origin: int) -> None:
        """Nothing to learn ahead: each series is fitted on its own days before the origin in predict."""

    def _candidates(self, panel: Panel, origin: int, rows: np.ndarray) -> dict[str, DailyQuantiles]:
        q = statistical_forecasts(panel.y[rows, :origin], self.horizon, models=(self.model,),
                                  n_jobs=self.n_jobs)[self.model]
        return _quantiles(rows, {self.name: q})


for _model in STAT_MODELS:  # one class per statsforecast model, registered under the model's name
    register(type(f"Statistical_{_model}", (Statistical,), {
        "name": _model, "model": _model, "__module__": __name__,
        "__doc__": f"statsforecast's `{_model}` (see Statistical and aggregation.statistical)."}))

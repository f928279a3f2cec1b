"""The contract every daily forecaster keeps (aggregation.forecasters): rows × horizon quantiles,
finite, non-negative and ordered, a real interval where one is promised, a named error before fit,
nothing read at or after the origin, the same numbers for the same seed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from aggregation.ensemble import EnsembleConfig
from aggregation.forecasters import FORECASTERS, DailyQuantiles, Forecaster, make_forecaster
from aggregation.statistical import STAT_MODELS
from aggregation.timeseries import Panel, TimeSeriesConfig, active_rows
from common.errors import NotFittedError, UsageError
from tests.aggregation.synth import panel_from

ORIGIN = 70  # ten weeks before the origin, the forecast week after it (in the panel: see the leak test)
H = 7
# training rows above max_train_rows / max_fit_rows, so that the seed decides a sample
CONFIG = TimeSeriesConfig(horizon_days=H, max_iter=20, train_origins=3, max_train_rows=300,
                          min_samples_leaf=20, seed=11)
PARAMS = {"ensemble": {"ensemble": EnsembleConfig(max_fit_rows=80, seed=CONFIG.seed)}}
NAMES = sorted(FORECASTERS)
WITH_INTERVALS = [n for n in NAMES if FORECASTERS[n].intervals]


def history(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(sales, campaign plans) over the ten weeks before the origin and its week: 12 intermittent
    series, and 8 that sell with a weekly cycle on the days a campaign is open (planned ahead)."""
    rng = np.random.default_rng(seed)
    days = ORIGIN + H
    sparse = np.where(rng.random((12, days)) < 0.15, rng.geometric(0.4, (12, days)), 0)
    plans = np.zeros((20, days))
    plans[12:] = rng.random((8, days)) < 0.6
    weekly = 1.0 + 0.4 * (np.arange(days) % 7 >= 5)
    steady = rng.poisson(rng.uniform(2.0, 8.0, (8, 1)) * weekly[None, :]) * plans[12:]
    return np.vstack([sparse, steady]).astype(float), plans


def make(name: str) -> Forecaster:
    return make_forecaster(name, CONFIG, **PARAMS.get(name, {}))


@pytest.fixture(scope="module")
def panel() -> Panel:
    y, plans = history()
    return replace(panel_from(y, future=0), open_=plans)


@pytest.fixture(scope="module")
def fitted(panel):
    """name -> (forecaster fitted at ORIGIN, its forecast), each fitted once for the module."""
    cache: dict[str, tuple[Forecaster, DailyQuantiles]] = {}

    def get(name: str) -> tuple[Forecaster, DailyQuantiles]:
        if name not in cache:
            forecaster = make(name).fit(panel, ORIGIN)
            cache[name] = forecaster, forecaster.predict(panel, ORIGIN)
        return cache[name]

    return get


def test_registry_knows_every_forecaster_and_rejects_unknown_names():
    assert set(FORECASTERS) == {"booster", "ensemble", "seasonal_naive_banded", "short_history", *STAT_MODELS}
    for name in NAMES:
        forecaster = make_forecaster(name)
        assert isinstance(forecaster, Forecaster) and forecaster.name == name
    assert set(WITH_INTERVALS) == {"booster", "ensemble", "seasonal_naive_banded"}
    with pytest.raises(UsageError, match="unknown forecaster 'prophet'; known forecasters: .*booster"):
        make_forecaster("prophet")


def test_the_panel_exercises_what_the_seed_decides(panel, fitted):
    """Else the determinism test would hold whatever the seed: the booster's learned model is
    published and trained on a sample, the ensemble's weights are fitted on a sample of its folds."""
    booster, _ = fitted("booster")
    assert booster.model_.production_ == "gbm" and booster.model_.train_rows_ == CONFIG.max_train_rows
    ensemble, _ = fitted("ensemble")
    assert ensemble.model_.booster_ is not None
    fold_rows = sum(active_rows(panel, t, H, CONFIG.active_days).size
                    for t in ensemble.model_.fold_origins(ORIGIN))
    assert fold_rows > PARAMS["ensemble"]["ensemble"].max_fit_rows


@pytest.mark.parametrize("name", NAMES)
def test_fit_returns_self_and_predict_answers_rows_by_horizon(name, panel, fitted):
    forecaster, q = fitted(name)
    assert isinstance(forecaster, FORECASTERS[name])
    assert q.rows.size > 0
    np.testing.assert_array_equal(q.rows, forecaster.default_rows(panel, ORIGIN))
    for values in (q.p10, q.p50, q.p90):
        assert values.shape == (q.rows.size, H)
    frame = q.frame(panel, ORIGIN)
    assert frame.columns == ["product_id", "warehouse_id", "day", "p10", "p50", "p90"]
    assert frame.height == q.rows.size * H
    assert (frame["day"].min() - panel.day0).days == ORIGIN and frame["day"].n_unique() == H


@pytest.mark.parametrize("name", NAMES)
def test_quantiles_are_finite_non_negative_and_ordered(name, fitted):
    _, q = fitted(name)
    for values in (q.p10, q.p50, q.p90):
        assert np.all(np.isfinite(values))
    assert np.all(q.p10 >= 0)
    assert np.all(q.p10 <= q.p50) and np.all(q.p50 <= q.p90)


@pytest.mark.parametrize("name", WITH_INTERVALS)
def test_a_promised_interval_is_never_a_point_where_a_unit_is_expected(name, fitted):
    _, q = fitted(name)
    big = q.p50 >= 1.0
    assert big.any()  # the steady series: otherwise the check below would hold vacuously
    assert np.all(q.p90[big] > q.p10[big])


@pytest.mark.parametrize("name", NAMES)
def test_predict_before_fit_is_a_named_error(name, panel):
    forecaster = make(name)
    with pytest.raises(NotFittedError, match=f"forecaster '{name}' used before fit"):
        forecaster.predict(panel, ORIGIN)
    with pytest.raises(NotFittedError):
        forecaster.candidates(panel, ORIGIN)


@pytest.mark.parametrize("name", NAMES)
def test_no_day_at_or_after_the_origin_is_read(name, panel, fitted):
    _, q = fitted(name)
    y = panel.y.copy()
    y[:, ORIGIN:] = np.random.default_rng(5).poisson(40.0, y[:, ORIGIN:].shape)
    changed = replace(panel, y=y)
    again = make(name).fit(changed, ORIGIN).predict(changed, ORIGIN)
    np.testing.assert_array_equal(again.rows, q.rows)
    for a, b in zip((again.p10, again.p50, again.p90), (q.p10, q.p50, q.p90), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_deterministic_with_a_seed(name, panel, fitted):
    _, q = fitted(name)
    again = make(name).fit(panel, ORIGIN).predict(panel, ORIGIN)
    for a, b in zip((again.p10, again.p50, again.p90), (q.p10, q.p50, q.p90), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_rows_asked_for_are_the_rows_answered_and_predict_is_the_own_candidate(name, panel, fitted):
    forecaster, q = fitted(name)
    some = q.rows[::3]
    part = forecaster.predict(panel, ORIGIN, some)
    np.testing.assert_array_equal(part.rows, some)
    assert part.p50.shape == (some.size, H)
    if forecaster.independent_rows:
        for a, b in zip((part.p10, part.p50, part.p90), (q.p10, q.p50, q.p90), strict=True):
            np.testing.assert_array_equal(a, b[::3])
    own = forecaster.candidates(panel, ORIGIN)[forecaster.own]
    for a, b in zip((own.p10, own.p50, own.p90), (q.p10, q.p50, q.p90), strict=True):
        np.testing.assert_array_equal(a, b)


def test_seasonal_naive_banded_is_the_boosters_fallback(panel, fitted):
    """One definition: the booster's calibrated seasonal naive, without training the booster."""
    booster, _ = fitted("booster")
    _, q = fitted("seasonal_naive_banded")
    fallback = booster.candidates(panel, ORIGIN, q.rows)["seasonal_naive"]
    for a, b in zip((fallback.p10, fallback.p50, fallback.p90), (q.p10, q.p50, q.p90), strict=True):
        np.testing.assert_array_equal(a, b)

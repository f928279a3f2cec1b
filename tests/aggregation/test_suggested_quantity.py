"""A suggested quantity a supplier can trust: at a service level of 0.9 it covers the final total of
about 90% of held-out campaigns of a festival world, in the Chinese New Year stock-up, by a model
fitted before them.

Definitions (as in the README, "Decision"):
- realised in-stock rate = share of campaign × warehouse windows whose final paid total at cutoff is
  at most the suggested quantity: the chance of not running out, what the critical ratio (here the
  service level) targets;
- realised fill rate = sum of min(final, quantity) / sum of final: the share of the demand served
  (quantity-weighted, E[min(D, q)] / E[D]), reported next to the expected fill rate of the decision.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
import pytest

from aggregation.calibration import ConformalDistribution
from aggregation.decision import DecisionConfig, suggest
from aggregation.nowcast import NowcastConfig
from aggregation.presale import PresaleConfig, PresaleForecaster, closing_between, finals, window_instants
from common.contract import TABLES
from pipelines.generate import run_generate

TZ = ZoneInfo("Asia/Shanghai")
# CNY 2026 is Feb 17: the stock-up runs Feb 3-16 (fresh and snacks x2.5, more posts)
WORLD = {"groups": 300, "start": date(2026, 1, 5), "end": date(2026, 2, 13), "seed": 5}
AS_OF = datetime(2026, 2, 6, tzinfo=TZ)  # three days into the stock-up
HELD_OUT_DAYS = 7
SERVICE = 0.9
CONFIG = PresaleConfig(max_train_units=2500, nowcast=NowcastConfig(max_iter=60), seed=3)


@pytest.fixture(scope="module")
def festival(tmp_path_factory) -> dict[str, pl.DataFrame]:
    out = tmp_path_factory.mktemp("festival")
    run_generate(out, progress=False, **WORLD)
    return {t: pl.read_parquet(out / f"{t}.parquet") for t in TABLES if (out / f"{t}.parquet").exists()}


@pytest.fixture(scope="module")
def held_out(festival):
    """The model fitted before AS_OF; every window closing in the week after it, with its final."""
    model = PresaleForecaster(CONFIG).fit(festival, AS_OF)
    target = closing_between(festival["campaigns"], AS_OF, HELD_OUT_DAYS)
    final = finals(festival["orders"], target, festival["groups"], festival["products"])
    return model, target, final


def decide(model, frames, target, final, share: float) -> tuple[pl.DataFrame, dict]:
    states = model.state_at(frames, window_instants(target, share)).join(
        final, on=["campaign_id", "warehouse_id"], how="left", maintain_order="left")
    quantile, grid, mean = model.distribution(states)
    n = states.height
    out = suggest(*model.predict(states)["production"], price=np.full(n, np.nan), cost=np.full(n, np.nan),
                  max_qty=states["max_qty"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
                  ordered_qty=states["qty_at"].to_numpy(), config=DecisionConfig(service_level=SERVICE),
                  quantile=quantile, grid=grid, mean=mean)
    return states.with_columns(pl.col("final_qty").fill_null(0)), out


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_service_level_09_keeps_90pct_of_held_out_festival_campaigns_in_stock(festival, held_out, share):
    model, target, final = held_out
    states, out = decide(model, festival, target, final, share)
    y = states["final_qty"].to_numpy().astype(np.float64)
    q = out["suggested_qty"].astype(np.float64)
    assert states.height >= 1000 and y.sum() > 0
    assert np.all(out["critical_ratio"] == SERVICE)
    in_stock = float(np.mean(y <= q))
    fill = float(np.minimum(y, q).sum() / y.sum())
    print(f"share {share}: {states.height} windows, in-stock {in_stock:.3f}, fill {fill:.3f}, "
          f"expected fill {float(np.mean(out['expected_fill_rate'])):.3f}")
    assert in_stock == pytest.approx(SERVICE, abs=0.05)
    # the served share of the demand is at least what the quantity promises per campaign
    assert fill >= SERVICE - 0.05
    # the windows a supplier plans on (a forecast of at least a few units) are covered as promised too
    busy = model.predict(states)["production"][1] >= 3
    assert busy.sum() >= 200
    assert float(np.mean(y[busy] <= q[busy])) == pytest.approx(SERVICE, abs=0.07)


def test_expected_fill_rate_and_leftover_agree_with_what_happened(festival, held_out):
    """The decision's own integrals over the calibrated distribution, over the held-out windows: the
    share of the demand served (sum of E[min(D, q)] / sum of E[D]) is about the realised fill rate,
    and the leftover expected is about the leftover there was."""
    model, target, final = held_out
    states, out = decide(model, festival, target, final, 0.5)
    y = states["final_qty"].to_numpy().astype(np.float64)
    q = out["suggested_qty"].astype(np.float64)
    mean = np.maximum(model.distribution(states)[2], states["qty_at"].to_numpy().astype(np.float64))
    expected_fill = float((out["expected_fill_rate"] * mean).sum() / mean.sum())
    realised_fill = float(np.minimum(y, q).sum() / y.sum())
    print(f"expected fill {expected_fill:.3f}, realised {realised_fill:.3f}; leftover expected "
          f"{out['expected_leftover'].sum():.0f}, realised {np.maximum(q - y, 0).sum():.0f}; "
          f"mean {mean.sum():.0f} vs total {y.sum():.0f}")
    # the units served agree closely; the fill rate's denominator, the expected total, carries the
    # nowcast's bias at half the window (under 5%, the target), and no more
    served_expected = float((out["expected_fill_rate"] * mean).sum())
    assert served_expected == pytest.approx(float(np.minimum(y, q).sum()), rel=0.03)
    assert mean.sum() == pytest.approx(y.sum(), rel=0.05)
    assert expected_fill == pytest.approx(realised_fill, abs=0.05)
    assert float(out["expected_leftover"].sum()) == pytest.approx(float(np.maximum(q - y, 0).sum()), rel=0.2)


def test_cost_and_price_set_the_ratio_and_the_quantity_follows(festival, held_out):
    model, target, final = held_out
    states = model.state_at(festival, window_instants(target, 0.0))
    quantile, grid, mean = model.distribution(states)
    n = states.height
    p = model.predict(states)["production"]
    common = {"price": np.full(n, 10.0), "max_qty": np.full(n, np.nan), "ordered_qty": np.zeros(n),
              "quantile": quantile, "grid": grid, "mean": mean}
    cheap, dear = suggest(*p, cost=np.full(n, 2.0), **common), suggest(*p, cost=np.full(n, 8.0), **common)
    assert cheap["critical_ratio"] == pytest.approx(np.full(n, 0.8))
    assert dear["critical_ratio"] == pytest.approx(np.full(n, 0.2))
    assert np.all(cheap["suggested_qty"] >= dear["suggested_qty"])
    assert cheap["suggested_qty"].sum() > dear["suggested_qty"].sum()
    assert np.all(cheap["expected_fill_rate"] >= dear["expected_fill_rate"] - 1e-12)


def test_conformal_distribution_quantiles_hold_on_fresh_rows():
    """Heteroscedastic skewed outcomes around a biased model: every level tau covers about tau of
    new rows, monotone in tau, never below the floor; small groups read the pooled scores."""
    rng = np.random.default_rng(0)

    def rows(n):
        center = rng.uniform(0, 4, n)
        width = rng.uniform(0.2, 1.0, n)
        y = np.maximum(center + 0.2 + width * rng.gamma(2.0, 0.6, n) - width, 0.0)
        return y, center, center - width, center + width, rng.integers(0, 3, n)

    y, c, lo, hi, g = rows(6000)
    dist = ConformalDistribution(min_rows=1500).fit(y, c, lo, hi, groups=g)
    assert set(dist.scores_) == {None, 0, 1, 2}
    y2, c2, lo2, hi2, g2 = rows(20000)
    for tau in (0.1, 0.5, 0.75, 0.9, 0.95):
        q = dist.quantile(tau, c2, lo2, hi2, groups=g2)
        assert np.mean(y2 <= q) == pytest.approx(tau, abs=0.02)
    grid = dist.grid(c2, lo2, hi2, groups=g2, levels=49)
    assert grid.shape == (49, y2.size) and np.all(np.diff(grid, axis=0) >= -1e-12) and grid.min() >= 0.0
    assert np.mean(grid, axis=0).sum() == pytest.approx(y2.sum(), rel=0.03)
    unseen = dist.quantile(0.9, c2[:5], lo2[:5], hi2[:5], groups=np.full(5, 7))
    np.testing.assert_allclose(unseen, ConformalDistribution(min_rows=10**9).fit(y, c, lo, hi, g).quantile(
        0.9, c2[:5], lo2[:5], hi2[:5]))


def test_without_a_distribution_the_two_piece_normal_is_used():
    base = suggest([80.0], [100.0], [130.0], price=[20.0], cost=[10.0], max_qty=[np.nan], ordered_qty=[0])
    same = suggest([80.0], [100.0], [130.0], price=[20.0], cost=[10.0], max_qty=[np.nan], ordered_qty=[0],
                   quantile=lambda tau: np.full(np.shape(np.asarray(tau) + np.zeros(1)), 100.0))
    assert base["suggested_qty"][0] == 100 and same["suggested_qty"][0] == 100
    assert same["expected_fill_rate"][0] == pytest.approx(1.0) and same["expected_leftover"][0] == 0.0



def test_large_campaigns_get_a_quantity_before_their_window_opens(festival, held_out):
    """Before a window opens, most states of the training campaigns end with no growth at all: a
    quantile booster fed those ties as they are learns nothing (P10 and P50 of growth 0 for every
    state), and the quantity at a low critical ratio came out 0 for every campaign, those that then
    sold tens of units included. For the largest third of the held-out windows (by P50): a P10 above
    0, a quantity above 0 at a ratio of 0.25, and in stock about half the time at 0.5. (This world is
    three days into the stock-up, where demand outruns a model fitted before it: at 0.25 they are in
    stock 0.12 of the time, 0.04 without the fix.)"""
    model, target, final = held_out
    states = model.state_at(festival, window_instants(target, 0.0)).join(
        final, on=["campaign_id", "warehouse_id"], how="left", maintain_order="left")
    y = states["final_qty"].fill_null(0).to_numpy().astype(np.float64)
    p10, p50, p90 = model.predict(states)["production"]
    quantile, grid, mean = model.distribution(states)
    n = states.height
    large = p50 >= np.quantile(p50, 2 / 3)
    assert large.sum() >= 300
    assert float(np.mean(p10[large] > 0)) >= 0.9
    for service in (0.25, 0.5):
        out = suggest(p10, p50, p90, price=np.full(n, np.nan), cost=np.full(n, np.nan),
                      max_qty=states["max_qty"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
                      ordered_qty=states["qty_at"].to_numpy(), config=DecisionConfig(service_level=service),
                      quantile=quantile, grid=grid, mean=mean)
        q = out["suggested_qty"].astype(np.float64)
        in_stock = float(np.mean(y[large] <= q[large]))
        print(f"service {service}: largest third ({large.sum()} windows, median P50 "
              f"{np.median(p50[large]):.1f}): in stock {in_stock:.3f}, "
              f"quantity 0 in {np.mean(q[large] == 0):.2f}")
        assert float(np.mean(q[large] == 0)) <= 0.05
        if service == 0.5:
            assert in_stock == pytest.approx(service, abs=0.1)

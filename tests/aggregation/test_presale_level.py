"""The level the pre-sale nowcast and the bottom-up forecast read: priors as of each state's cutoff,
scaled by the category's recent trend (the last days' closed campaigns against what their own priors
said), and the boosters reading quantities in units of that level, so that a surge the trend explains
is forecast at its level instead of being shrunk towards the regime the model learned in."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from aggregation.bottom_up import PRIOR_LEVELS, TrendConfig, history_priors, level_trend
from aggregation.pooling import TS
from aggregation.presale import PresaleForecaster, calibration_days
from tests.aggregation.synth import TZ, fitted_presale

DAY0 = datetime(2026, 3, 1, tzinfo=TZ)


def closed(category: str, wh: str, day: int, final: float, level: float | None) -> dict:
    return {"category": category, "warehouse_id": wh, "closes_at": DAY0 + timedelta(days=day, hours=23),
            "final_qty": final, "level": level}


def history_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"category": pl.String, "warehouse_id": pl.String, "closes_at": TS,
                                      "final_qty": pl.Float64, "level": pl.Float64})


def brute_trend(hist: pl.DataFrame, category: str, wh: str | None, cutoff: datetime, cfg: TrendConfig):
    """sum(w * final), sum(w * level) over the category (and warehouse) closed in the window."""
    f = p = 0.0
    for r in hist.iter_rows(named=True):
        age = (cutoff - r["closes_at"]).total_seconds() / 86400
        if r["category"] != category or (wh is not None and r["warehouse_id"] != wh) or r["level"] is None:
            continue
        if 0 <= age < cfg.days:
            w = 0.5 ** (age / cfg.half_life_days)
            f, p = f + w * r["final_qty"], p + w * r["level"]
    return f, p


def test_trend_is_the_recent_ratio_of_finals_to_their_own_priors():
    rows = [closed("a", "W1", d, 10.0 if d < 7 else 25.0, 10.0) for d in range(10)]  # a surge from day 7
    rows += [closed("a", "W2", d, 12.0, 10.0) for d in range(10)]
    rows += [closed("b", "W1", d, 8.0, 8.0) for d in range(10)]  # steady
    rows += [closed("a", "W1", 10, 1000.0, 10.0)]  # closes after the cutoff: never read
    hist = history_frame(rows)
    cutoff = DAY0 + timedelta(days=10, hours=8)
    targets = pl.DataFrame({"category": ["a", "a", "b", "a", "c"],
                            "warehouse_id": ["W1", "W2", "W1", "W3", "W1"],
                            "as_of": [cutoff] * 5, "campaign_id": list("vwxyz")},
                           schema_overrides={"as_of": TS})
    cfg = TrendConfig(credibility=0.0, bounds=(0.01, 100.0))
    got = dict(zip(level_trend(hist, targets, cfg)["campaign_id"], level_trend(hist, targets, cfg)["trend"],
                   strict=True))
    f, p = brute_trend(hist, "a", "W1", cutoff, cfg)
    assert got["v"] == pytest.approx(f / p) and got["v"] > 1.7  # the surge shows within three days
    assert got["w"] == pytest.approx(1.2)
    assert got["x"] == pytest.approx(1.0)
    f_all, p_all = brute_trend(hist, "a", None, cutoff, cfg)
    assert got["y"] == pytest.approx(f_all / p_all)  # no history in the warehouse: the category's
    assert got["z"] == 1.0  # nothing at all: no trend
    # credibility shrinks a thin warehouse towards the category, the category towards 1; bounds hold
    k = 50.0
    shrunk = level_trend(hist, targets, TrendConfig(credibility=k))
    all_ratio = (f_all + k) / (p_all + k)
    assert shrunk["trend"][0] == pytest.approx((f + k * all_ratio) / (p + k))
    assert level_trend(hist, targets, TrendConfig(bounds=(0.5, 1.5)))["trend"].max() <= 1.5


def test_priors_read_only_campaigns_closed_by_the_cutoff():
    hist = pl.DataFrame({
        "campaign_id": ["h1", "h2", "h3"], "warehouse_id": ["W1"] * 3, "product_id": ["P1"] * 3,
        "supplier_id": ["S1"] * 3, "category": ["a"] * 3, "price": [10.0] * 3,
        "closes_at": [DAY0 + timedelta(days=d, hours=23) for d in range(3)],
        "final_qty": [10, 20, 60], "final_groups": [1, 2, 3]}, schema_overrides={"closes_at": TS})
    targets = pl.DataFrame({
        "campaign_id": ["t"] * 3, "warehouse_id": ["W1"] * 3, "product_id": ["P1"] * 3,
        "supplier_id": ["S1"] * 3, "category": ["a"] * 3, "price": [10.0] * 3,
        "as_of": [DAY0 + timedelta(days=d, hours=23) for d in (0, 1, 1.5)]}, schema_overrides={"as_of": TS})
    got = history_priors(hist, targets, at="as_of").sort("as_of")
    assert got["prior_prod_wh"].to_list() == [10.0, 15.0, 15.0]  # closing exactly at the cutoff counts
    assert got["n_prod_wh"].to_list() == [1, 2, 2]


def test_calibration_days_spread_over_the_weeks_and_every_weekday():
    origin = DAY0 + timedelta(days=28)
    closes = pl.Series([DAY0 + timedelta(days=d, hours=23) for d in range(28) for _ in range(3)]).cast(TS)
    mask = calibration_days(closes, origin, 4)
    days = sorted({(origin - c).days for c, m in zip(closes.to_list(), mask, strict=True) if m})
    assert days == [0, 4, 8, 12, 16, 20, 24]  # the last day before the origin and one in every four
    weekdays = {c.weekday() for c, m in zip(closes.to_list(), mask, strict=True) if m}
    assert len(weekdays) == 7
    # one day of campaigns only: the most recent quarter instead of nothing
    one_day = pl.Series([DAY0 + timedelta(hours=23)] * 8).cast(TS)
    assert calibration_days(one_day, DAY0 + timedelta(days=1), 4).sum() == 2


@pytest.fixture(scope="module")
def fitted():
    return fitted_presale()


def test_training_and_live_states_read_the_same_level(fitted):
    frames, _, model = fitted
    cal = model.calibration_states_.filter(pl.col("share") == 0.0).sort("campaign_id", "warehouse_id").head(6)
    live = model.state_at(frames, cal.select("campaign_id", "instant").unique()).join(
        cal.select("campaign_id", "warehouse_id"), on=["campaign_id", "warehouse_id"], how="semi"
    ).sort("campaign_id", "warehouse_id")
    for col in (*PRIOR_LEVELS, "trend"):
        np.testing.assert_allclose(live[col].fill_null(-1).to_numpy(), cal[col].fill_null(-1).to_numpy())
    assert cal["trend"].is_not_null().all() and (cal["trend"] > 0).all()


def test_a_state_after_the_origin_reads_the_campaigns_closed_since(fitted):
    """Evaluating a frozen model on a campaign three days later: its priors count the campaigns that
    closed in between (known by its opening, as its own orders are), and nothing closing later."""
    frames, origin, model = fitted
    camps = frames["campaigns"]
    later = camps.filter(pl.col("opens_at").dt.date() == (origin + timedelta(days=3)).date()).head(4)
    at_open = model.state_at(frames, later.select("campaign_id", pl.col("opens_at").alias("instant")))
    at_origin = model.state_at(frames, later.select("campaign_id", pl.lit(origin).cast(TS).alias("instant")))
    key = ["campaign_id", "warehouse_id"]
    both = at_open.select(*key, "n_prod_wh").join(at_origin.select(*key, "n_prod_wh"), on=key, suffix="_0")
    assert (both["n_prod_wh"] > both["n_prod_wh_0"]).all()
    # a state read before its campaign opens (at the origin) sees nothing closed after the origin
    assert at_origin["share"].max() == 0.0


def test_a_surge_the_trend_explains_is_forecast_at_its_level(fitted):
    """Every quantity twice as large and a trend of 2: the boosters read the same inputs, so every
    quantile of the forecast is twice as large (no shrinking towards the level they learned)."""
    _, _, model = fitted
    states = model.calibration_states_.filter(pl.col("share").is_in([0.0, 0.3, 0.6])).with_columns(
        pl.lit(None, pl.Int64).alias("max_qty"))
    quantities = ["qty_at", *PRIOR_LEVELS, "additive_p50", "multiplicative_p50", "signal_total", "trend"]
    surged = states.with_columns([pl.col(c).cast(pl.Float64) * 2.0 for c in quantities])
    p, q = model.predict(states)["production"], model.predict(surged)["production"]
    for a, b in zip(p, q, strict=True):
        np.testing.assert_allclose(b, 2.0 * a, rtol=1e-9, atol=1e-9)
    assert p[1].sum() > 0


def test_without_trend_the_priors_are_the_plain_means(fitted):
    frames, origin, model = fitted
    plain = PresaleForecaster(replace(model.config, trend=None)).fit(frames, origin)
    cal = plain.calibration_states_
    assert (cal["trend"] == 1.0).all()
    scaled = model.calibration_states_.join(cal.select("campaign_id", "warehouse_id", "j", "prior_cat_wh"),
                                            on=["campaign_id", "warehouse_id", "j"], suffix="_plain")
    np.testing.assert_allclose(scaled["prior_cat_wh"].to_numpy(),
                               (scaled["prior_cat_wh_plain"] * scaled["trend"]).to_numpy())

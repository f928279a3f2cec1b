"""Near an annual event, correct the daily forecast by how it missed the same days a year before.

A festival moves demand in ways the weeks before it do not show: the week after 春节 sells half of
a normal one, right after two weeks of stocking up that sold more than double. Every model that
reads the recent weeks forecasts the stock-up's level into the lull (the festival world: bias +1.70
the week from the day before CNY). The folds cannot teach it either: none of them holds a lull.

What can: the event's previous occurrence, where the history reaches back that far. The forecaster
that is published now is run on the history as it stood at the *analog origin* — the same number of
days before last year's event as the origin is before this year's — and its forecast for those 7 days
is set against what they sold. The ratio sold / forecast, per category and horizon day (shrunk toward
the ratio of all series for a category with little volume, clipped to 0.2-5), multiplies this year's
P10, P50 and P90 on the days near the event. It is the classic intercept correction (Clements &
Hendry), with last year's same days as the evidence instead of last week's — which, in a festival,
says the opposite of what is coming (BENCHMARKS, "Regime shifts and short histories", item 1).

Only days within `WINDOW_DAYS` of the event are corrected, only where the history holds at least
`MIN_HISTORY_DAYS` before the analog origin, and only when last year's days near the event broke from
the forecast as a level shift does (`moved`: the best-selling products sold at most 0.78x or at least
1.28x what it said, and more than its usual weekly miss on the folds) — a week the forecast got about
right last year is no evidence of an event, and correcting by its noise would only add error (a UK
retailer's "双11"). Elsewhere the forecast is unchanged. The events and their days are
common.festivals'.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta

import numpy as np
import polars as pl

from aggregation.ensemble import LEVEL_SHIFT
from common import definitions
from common.clock import day_start
from common.definitions import Runner, in_process
from common.festivals import WINDOW_DAYS, Analog, NoHistory, Occurrence, analogs_for, read_first  # noqa: F401  (the analog's days are the calendar's)

MIN_HISTORY_DAYS = 56  # history needed before the analog origin (the members' longest window)
PROMOTION_DAYS = 10  # a shopping festival's promotion: the days up to and including its day
PROMOTION_BASE_DAYS = 28  # the days before the promotion it is set against
RATIO_BOUNDS = (0.2, 5.0)
SHRINK_UNITS = 50.0  # a category's ratio leans on the platform's until its forecast has this many units


def readable(sold: float, forecast: float) -> bool:
    """Whether last year's sold / forecast can be read as the event's ratio at all: inside
    RATIO_BOUNDS. Outside it the forecast then was near nothing (a reopening after a shutdown: the
    members had read the closed weeks) or sales were, and the ratio says more about that than about
    the event."""
    lo, hi = RATIO_BOUNDS
    return forecast > 0 and lo < sold / forecast < hi


def moved(sold: float, forecast: float, usual_miss: float) -> bool:
    """Whether last year's days near the event sold far enough from the forecast to be the event's doing:
    |log((sold + 1) / (forecast + 1))| at least LEVEL_SHIFT (0.78x / 1.28x, the rule that names a
    level shift) and at least `usual_miss` (the same measure's typical size on the folds)."""
    return abs(math.log((sold + 1.0) / (forecast + 1.0))) >= max(LEVEL_SHIFT, usual_miss)


def analog_ratios(category: np.ndarray, forecast: np.ndarray, sold: np.ndarray,
                  shrink: float = SHRINK_UNITS) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Sold over forecast per horizon day, for each category (rows × horizon arrays of the analog's
    series; `category` per row) and for all series together: ({category: ratios}, ratios). A
    category's ratio is (sold + shrink × all-series ratio) / (forecast + shrink), so one with a
    handful of units reads almost the platform's; every ratio is clipped to RATIO_BOUNDS, and a day
    nothing was forecast on reads 1 in every category."""
    lo, hi = RATIO_BOUNDS
    f_all, s_all = forecast.sum(axis=0), sold.sum(axis=0)
    forecast_any = f_all > 0
    overall = np.where(forecast_any, np.clip(s_all / np.where(forecast_any, f_all, 1.0), lo, hi), 1.0)
    by_category = {}
    for c in np.unique(category):
        rows = category == c
        f, s = forecast[rows].sum(axis=0), sold[rows].sum(axis=0)
        ratio = np.clip((s + shrink * overall) / (f + shrink), lo, hi)
        by_category[str(c)] = np.where(forecast_any, ratio, 1.0)
    return by_category, overall


def ratio_frame(by_category: dict[str, np.ndarray], overall: np.ndarray, origin_day: date,
                near_days: np.ndarray) -> pl.DataFrame:
    """category (null: any category last year did not have), day, ratio: the multipliers of the
    days near the event (a day not listed keeps its forecast)."""
    rows = [(c, origin_day + timedelta(days=int(h)), float(r[h]))
            for c, r in [*by_category.items(), (None, overall)] for h in np.flatnonzero(near_days)]
    return pl.DataFrame(rows, schema={"category": pl.String, "day": pl.Date, "ratio": pl.Float64},
                        orient="row")


def corrected(forecasts: pl.DataFrame, products: pl.DataFrame, ratios: pl.DataFrame) -> pl.DataFrame:
    """`forecasts` (product_id, warehouse_id, day, p10, p50, p90, …) with the quantiles of each
    product's category multiplied by `ratios` (ratio_frame) on its days; rows and columns kept."""
    category = products.select("product_id", pl.col("category").fill_null("unknown"))
    known = ratios.filter(pl.col("category").is_not_null())
    default = ratios.filter(pl.col("category").is_null()).select("day", pl.col("ratio").alias("_all"))
    out = (forecasts.join(category, on="product_id", how="left")
           .join(known, on=["category", "day"], how="left")
           .join(default, on="day", how="left")
           .with_columns(pl.coalesce("ratio", "_all", pl.lit(1.0)).alias("_r")))
    return out.with_columns(pl.col(q) * pl.col("_r") for q in ("p10", "p50", "p90")).select(forecasts.columns)


def promotion_lift(frames: Mapping[str, pl.DataFrame], occurrence: Occurrence,
                   run: Runner | None = None) -> float | None:
    """Units sold a day, all products, in the PROMOTION_DAYS up to and including a shopping festival's
    day over those of the PROMOTION_BASE_DAYS before them (as the history stood at the day's end);
    None where the days before sold nothing."""
    daily = (run or in_process(frames))(definitions.history(day_start(occurrence.day + timedelta(days=1))),
                                        "daily")
    first = occurrence.day - timedelta(days=PROMOTION_DAYS + PROMOTION_BASE_DAYS - 1)
    promo_from = occurrence.day - timedelta(days=PROMOTION_DAYS - 1)
    days = daily.filter(pl.col("day") >= first).group_by("day").agg(pl.col("qty").sum())
    base = float(days.filter(pl.col("day") < promo_from)["qty"].sum()) / PROMOTION_BASE_DAYS
    promo = float(days.filter(pl.col("day") >= promo_from)["qty"].sum()) / PROMOTION_DAYS
    return None if base <= 0 else promo / base


def not_a_promotion(frames: Mapping[str, pl.DataFrame], occurrence: Occurrence,
                    run: Runner | None = None) -> str | None:
    """Why another shopping festival is no evidence for this one on this platform, or None where it is:
    its last PROMOTION_DAYS must have sold at least a level shift (1.28x) above the weeks before them.
    A retailer that holds no 618 (Online Retail, in the UK) would otherwise have its late-November
    forecast corrected by whatever July week stood as far from 618, noise and all (2011-11-28: WAPE
    0.623 -> 0.733)."""
    lift = promotion_lift(frames, occurrence, run)
    if lift is not None and lift >= math.exp(LEVEL_SHIFT):  # (a lift of 0: nothing sold in those days)
        return None
    said = "nothing" if lift is None else f"{lift:.2f}x"
    return (f"in the {PROMOTION_DAYS} days up to {occurrence.day} this platform sold {said} a day of the "
            f"{PROMOTION_BASE_DAYS} days before them: no sign that it holds {occurrence.event.label}")


def read_evidence(near: Analog, frames: Mapping[str, pl.DataFrame], read, run: Runner | None = None):
    """read_first over the analog's alternatives, where another festival stands in only if this
    platform's sales rose into it (not_a_promotion): the one rule for the daily forecast and the
    pre-sale nowcast. `read(analog)` gives what it read, or a str (a NoHistory) saying why not."""
    def guarded(analog: Analog):
        if not analog.is_last_year and (why := not_a_promotion(frames, analog.previous, run)):
            return why
        return read(analog)

    return read_first(near, guarded)

"""Near an annual event, correct the pre-sale nowcast by how it missed the same days a year before.

The daily forecast's correction (aggregation.event_analog), for the campaigns' totals. The nowcast
learns from the four weeks before the as-of instant: the day before 春节 it has seen only the
stock-up and expects it to go on into the lull (the 16.5-month festival world: bias +51% before the
windows open, +18% a quarter into them), and a week later it has seen only the lull and expects too
little of the Lantern sale (−35%). No rolling fold holds the turn either; last year's event does.

The nowcast fitted as of the *analog origin* (the same number of days before last year's event as
the as-of instant is before this year's, common.festivals.analogs_for) reads every campaign ×
warehouse window that closed in the week after it, at one share of the window in each calibration
band (not open, early, middle, late: nowcast.BANDS), and what came after each state (final − booked)
is set against what it forecast still to come (P50 − booked). The ratio per band and closing day
(shrunk toward the band's week ratio where a day has few units) multiplies what this year's nowcast
expects still to come for a window closing on the same day of this year's week, read in the same
band: Q → booked + ratio × (Q − booked) for every quantile, the supplier's distribution and the
expected total. What is booked is never scaled: late in a window the correction fades by itself.

The event is read on last year's windows not open yet (band 0), and only where they got a readable
ratio of the forecast (event_analog.readable) that broke from it as a level shift does
(event_analog.moved: at most 0.78x or at least 1.28x, and more than the nowcast's usual weekly miss on
its held-out campaigns) — the daily forecast's rule: a week the nowcast got about right last year is
no evidence of the event, and correcting by its noise only adds error (a world without events, read
with a bar of 1.1x, was corrected by 0.90 and lost WAPE 0.517 → 0.550). Then every band is corrected,
or none. Pure: arrays in, arrays out; presale.PresaleForecaster runs the analog fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from aggregation.event_analog import LEVEL_SHIFT, RATIO_BOUNDS, SHRINK_UNITS, moved, readable
from aggregation.nowcast import BANDS, share_band

BAND_SHARES = (0.0, 0.2, 0.5, 0.8)  # the share each band is read at on last year's windows
assert len(BAND_SHARES) == len(BANDS) + 1 and all(  # one per band, in band order
    share_band(np.array(BAND_SHARES)) == np.arange(len(BAND_SHARES)))


@dataclass(frozen=True)
class PresaleAnalogConfig:
    enabled: bool = True
    horizon_days: int = 7  # windows closing in these days after the as-of instant are corrected
    shrink: float = SHRINK_UNITS  # units of forecast growth a category's day needs to lean on itself


def horizon_day(closes_at: np.ndarray, origin: datetime) -> np.ndarray:
    """The horizon day of each window's cutoff (numpy datetime64, UTC, as polars gives a zoned column):
    0 for a cutoff in the first 24 hours after `origin`, 1 in the next, …; -1 at or before `origin`
    (closed already). The same count this year from the as-of instant and last year from the analog
    origin, whatever the hour of either."""
    start = np.datetime64(origin.astimezone(UTC).replace(tzinfo=None), "us")
    elapsed = (np.asarray(closes_at, dtype="datetime64[us]") - start).astype(np.int64)
    return np.where(elapsed > 0, -(-elapsed // 86_400_000_000) - 1, -1)


@dataclass
class AnalogCorrection:
    """Ratios of what is still to come per band × category × horizon day from `origin` (1 =
    unchanged); the last category row is for a category last year did not have."""

    origin: datetime
    categories: list[str]
    ratios: np.ndarray  # (bands, categories + 1, horizon_days)
    said: list[dict] = field(default_factory=list)

    def ratio(self, share: np.ndarray, category: np.ndarray, closes_at: np.ndarray) -> np.ndarray:
        """The ratio of each state (its share of the window, its product's category and its window's
        cutoff, numpy datetime64 UTC); 1 outside the corrected days (and for a window closed already)."""
        h = horizon_day(closes_at, self.origin)
        horizon = self.ratios.shape[2]
        inside = (h >= 0) & (h < horizon)
        index = {c: k for k, c in enumerate(self.categories)}
        c = np.array([index.get(v, len(self.categories)) for v in np.asarray(category, dtype=object)],
                     dtype=np.int64)
        return np.where(inside, self.ratios[share_band(share), c, np.clip(h, 0, horizon - 1)], 1.0)

    def applied(self) -> bool:
        return bool(np.any(self.ratios != 1.0))


def to_come(values: np.ndarray, booked: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """`values` (units, rows or levels × rows) with what they expect beyond `booked` scaled by
    `ratio`: booked + ratio × (values − booked) where they are above it; a quantile below what is
    booked (cancellations to come) is left where it is; never below zero."""
    gap = values - booked
    return np.maximum(booked + ratio * np.maximum(gap, 0.0) + np.minimum(gap, 0.0), 0.0)


def _log_miss(came: float, said: float) -> float:
    return math.log((max(came, 0.0) + 1.0) / (max(said, 0.0) + 1.0))


def usual_weekly_miss(band: np.ndarray, week: np.ndarray, booked: np.ndarray, point: np.ndarray,
                      final: np.ndarray) -> np.ndarray:
    """Per band (nowcast.share_band), the median over weeks (`week`: a label per held-out state) of
    |log((to come + 1) / (forecast to come + 1))|: how far a week usually lands from the nowcast
    (0 for a band without held-out states)."""
    out = np.zeros(len(BAND_SHARES))
    for b in range(len(BAND_SHARES)):
        logs = [abs(_log_miss(float((final[m] - booked[m]).sum()), float((point[m] - booked[m]).sum())))
                for w in np.unique(week[band == b]) for m in [(band == b) & (week == w)]]
        out[b] = float(np.median(logs)) if logs else 0.0
    return out


def band_day_ratios(share: np.ndarray, category: np.ndarray, day: np.ndarray, booked: np.ndarray,
                    point: np.ndarray, final: np.ndarray, near_days: np.ndarray, usual_miss: np.ndarray,
                    categories: list[str], config: PresaleAnalogConfig = PresaleAnalogConfig(),
                    when: str = "last year") -> tuple[np.ndarray, dict]:
    """(ratios, said): per band × category (+ one for any other) × horizon day, what came after last
    year's states over what the nowcast said was still to come (`day`: each state's closing day,
    0..horizon-1 from the analog origin; `near_days`: the horizon days this event corrects; `when`:
    the evidence as the reasons say it, "last year" or "at 618 (2025-06-18)").

    The event is read where it shows first and purest, on the windows not open yet (band 0: nothing
    booked, the whole total still to come): unreadable (event_analog.readable), or not moved as a
    level shift (event_analog.moved, with band 0's usual weekly miss), every ratio stays 1. Else every
    band is corrected by its own ratios (the same windows read later; one decision per event, so a
    window does not switch from corrected to not as its share grows): a cell leans on the level above
    it where it forecast few units (the category's day on the band's day, the band's day on the band's
    week: (came + shrink × above) / (forecast + shrink)), clipped to RATIO_BOUNDS. `said` tells what
    was read per band."""
    lo, hi = RATIO_BOUNDS
    bands = share_band(share)
    came_all, said_all = final - booked, point - booked
    k = config.shrink
    ratios = np.ones((len(BAND_SHARES), len(categories) + 1, config.horizon_days))
    weeks = [(float(came_all[bands == b].sum()), float(said_all[bands == b].sum()))
             for b in range(len(BAND_SHARES))]
    said = {"bands": [{"band": b, "share": BAND_SHARES[b], "windows": int((bands == b).sum()),
                       "came": round(came, 1), "forecast_to_come": round(fc, 1)}
                      for b, (came, fc) in enumerate(weeks)],
            "bar": round(math.exp(max(LEVEL_SHIFT, float(usual_miss[0]))), 3), "applied": False}
    came, fc = weeks[0]
    if not readable(max(came, 0.0), fc):
        said["reason"] = (f"{when} the windows not open yet got {came:,.0f} units against "
                          f"{fc:,.0f} forecast: too far apart to read as the event's doing")
        return ratios, said
    if not moved(max(came, 0.0), max(fc, 0.0), float(usual_miss[0])):
        said["reason"] = (f"{when} the windows not open yet got {came:,.0f} units against {fc:,.0f} "
                          f"forecast: within the bar of {said['bar']:.2f}x, no sign of the event")
        return ratios, said

    def lean(on: np.ndarray, above: float) -> float:
        said_on = max(float(said_all[on].sum()), 0.0)
        if said_on + k <= 0.0:  # nothing forecast to come here (and no shrinkage): the level above
            return above
        return (max(float(came_all[on].sum()), 0.0) + k * above) / (said_on + k)

    for b, entry in enumerate(said["bands"]):
        rows = bands == b
        week = lean(rows, 1.0)
        for h in np.flatnonzero(near_days):
            on_day = rows & (day == h)
            band_day = lean(on_day, week)
            cells = [lean(on_day & (category == c), band_day) for c in categories] + [band_day]
            ratios[b, :, h] = np.clip(cells, lo, hi)
        entry.update(week_ratio=round(week, 3),
                     day_ratios=[round(float(np.clip(lean(rows & (day == h), week), lo, hi)), 3)
                                 for h in np.flatnonzero(near_days)])
    said["applied"] = True
    return ratios, said

"""Days the whole platform is closed, and forecasts that sell nothing on them.

A retailer that never takes orders on one weekday (Online Retail: no Saturday in two years) has
zero outcomes there for every series. Models that forecast a flat daily rate (ADIDA, TSB, the
28-day average) put a seventh of each week on that day: the weekly total is right, but every
series gets a non-zero P50 and P90 on a day that cannot sell, which reads as a covered interval
where nothing could happen (on the Online Retail head series a seventh of the daily cells).

A horizon day is closed when the platform sold nothing on the same weekday in each of the last
`weeks` weeks, every one of them inside the history and in a week that sold something. A festival
closure of a week or two (Online Retail's Christmas) never reaches four same weekdays, so it is not
taken for a weekly closing day. On a closed day a forecast is zero, and what the model had put there
goes to the open days of the same horizon in proportion to their forecasts (evenly where those are
zero), so that each series' horizon total is unchanged.
"""

from __future__ import annotations

import numpy as np

CLOSED_WEEKS = 4


def closed_days(y: np.ndarray, t: int, horizon: int, weeks: int = CLOSED_WEEKS) -> np.ndarray:
    """Boolean per horizon day from day index `t`: the platform sold nothing on that weekday in each
    of the last `weeks` weeks of `y` (series × days; only days before `t` are read)."""
    daily = np.asarray(y[:, :t], dtype=np.float64).sum(axis=0)
    closed = np.zeros(horizon, dtype=bool)
    for h in range(horizon):
        same = [d for d in range(t + h - 7, -1, -7) if d < t][:weeks]
        if len(same) < weeks:
            continue
        trading = all(daily[max(d - 3, 0):min(d + 4, t)].sum() > 0 for d in same)
        closed[h] = trading and all(daily[d] == 0 for d in same)
    return closed


def close(points: np.ndarray, closed: np.ndarray) -> np.ndarray:
    """rows × horizon forecasts with closed days at zero and each row's total kept on its open days."""
    if not closed.any() or closed.all():
        return points
    open_ = ~closed
    total = points.sum(axis=1, keepdims=True)
    kept = np.where(open_[None, :], points, 0.0)
    open_sum = kept.sum(axis=1, keepdims=True)
    even = np.broadcast_to(open_[None, :] / open_.sum(), points.shape)
    share = np.divide(kept, open_sum, out=even.copy(), where=open_sum > 0)
    return share * total

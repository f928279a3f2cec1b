"""Ties in the targets of a quantile booster, broken before it learns.

Demand is counted in units, and most of it is zero: a product-warehouse's day sells nothing nine times
in ten, a campaign's booking state ends with no more orders half the time. scikit-learn's quantile
booster starts every row at the targets' tau-quantile, which is then 0, and its pinball gradient is
-tau wherever y >= prediction: on a target equal to its start value over the tau share of the rows,
every row has the same gradient, no tree finds a split, and the model predicts 0 for every row, busy
series and large campaigns included. A hundredth of a unit of noise breaks the ties, and moves no
quantile that matters.
"""

from __future__ import annotations

import numpy as np

TIE_BREAK = 0.01  # units of demand


def break_ties(y: np.ndarray, seed: int, amount: float = TIE_BREAK) -> np.ndarray:
    """`y` plus U(0, amount), reproducible with `seed`; `y` itself when amount is 0."""
    y = np.asarray(y, dtype=np.float64)
    if amount <= 0:
        return y
    return y + np.random.default_rng(seed).uniform(0.0, amount, y.size).reshape(y.shape)

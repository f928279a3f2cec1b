"""The group's own history: what it bought, decayed by recency (re-orders are the main signal)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from common.settings import DEFAULT_SEED
from recsys.models.base import Recommender, register
from recsys.signal import Signal


@register
class Reorder(Recommender):
    """Score = decayed `value` of the group's own paid orders, minus a penalty per ignored post."""

    name = "reorder"

    def __init__(
        self,
        half_life: float | None = 14.0,
        value: str = "days",
        exposure_penalty: float = 0.0,
        seed: int = DEFAULT_SEED,
    ) -> None:
        super().__init__(seed)
        self.half_life = half_life
        self.value = value
        self.exposure_penalty = exposure_penalty

    def _fit(self, signal: Signal) -> None:
        m = signal.matrix(self.half_life, self.value).tocsr().astype(np.float32)
        if self.exposure_penalty and signal.exposures.height:
            e = signal.exposures
            ignored = (e["posts"] - e["responded"]).to_numpy().astype(np.float32)
            pen = sp.csr_matrix((ignored, (e["g"].to_numpy(), e["i"].to_numpy())), shape=m.shape)
            m = _penalise(m, pen, self.exposure_penalty)
        self.matrix_ = m

    def _score_known(self, g_rows: np.ndarray) -> np.ndarray:
        return self.matrix_[g_rows].toarray()

    def _score_sparse(self, g_rows: np.ndarray) -> sp.csr_matrix:
        return self.matrix_[g_rows]


def _penalise(m: sp.spmatrix, pen: sp.csr_matrix, strength: float) -> sp.csr_matrix:
    """Shrink each stored confidence by 1 / (1 + strength x ignored posts of that pair)."""
    m = m.tocoo()
    p = pen.tocsr()
    ignored = np.asarray(p[m.row, m.col]).ravel()
    m.data = (m.data / (1.0 + strength * ignored)).astype(np.float32)
    return m.tocsr()

"""What a group's members buy in their other groups says something about this one."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Recommender, register
from recsys.signal import Signal


@register
class MembersElsewhere(Recommender):
    """Score = decayed orders of this group's members placed in their other groups."""

    name = "members"

    def _fit(self, signal: Signal) -> None:
        self.matrix_ = signal.cross_matrix()

    def _score_known(self, g_rows: np.ndarray) -> np.ndarray:
        return self.matrix_[g_rows].toarray()

    def _score_sparse(self, g_rows: np.ndarray) -> sp.csr_matrix:
        return self.matrix_[g_rows]

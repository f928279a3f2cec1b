"""Item-kNN from implicit.nearest_neighbours: cosine and BM25 item-item similarity."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, ItemItemRecommender
from implicit.utils import ParameterWarning
from threadpoolctl import threadpool_limits

from common.settings import DEFAULT_SEED
from recsys.models.base import Recommender, register
from recsys.signal import Signal


class _ItemKNN(Recommender):
    """Score = the group's decayed history times an item-item similarity (top-K per item)."""

    def __init__(
        self, K: int = 50, half_life: float | None = 14.0, value: str = "days", seed: int = DEFAULT_SEED
    ) -> None:
        super().__init__(seed)
        self.K = K
        self.half_life = half_life
        self.value = value

    _make: Callable[[], ItemItemRecommender]  # each subclass builds its implicit model

    def _fit(self, signal: Signal) -> None:
        self.history_ = signal.matrix(self.half_life, self.value).tocsr().astype(np.float32)
        n_items = self.history_.shape[1]
        if self.history_.nnz == 0:  # nothing bought yet (a fold at the very start): no similarity
            self.similarity_ = sp.csr_matrix((n_items, n_items), dtype=np.float32)  # (BM25 would divide 0/0)
            return
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            # implicit's own weighting hands itself COO and warns about it; nothing to act on
            warnings.simplefilter("ignore", ParameterWarning)
            model = self._make()
            model.fit(self.history_, show_progress=False)
        self.similarity_ = model.similarity.tocsr().astype(np.float32)

    def _score_known(self, g_rows: np.ndarray) -> np.ndarray:
        return self._score_sparse(g_rows).toarray()

    def _score_sparse(self, g_rows: np.ndarray) -> sp.csr_matrix:
        return (self.history_[g_rows] @ self.similarity_).tocsr()


@register
class CosineKNN(_ItemKNN):
    name = "itemknn_cosine"

    def _make(self) -> CosineRecommender:
        return CosineRecommender(K=self.K, num_threads=1)


@register
class BM25KNN(_ItemKNN):
    name = "itemknn_bm25"

    def __init__(
        self,
        K: int = 50,
        K1: float = 1.2,
        B: float = 0.75,
        half_life: float | None = 14.0,
        value: str = "days",
        seed: int = DEFAULT_SEED,
    ) -> None:
        super().__init__(K=K, half_life=half_life, value=value, seed=seed)
        self.K1 = K1
        self.B = B

    def _make(self) -> BM25Recommender:
        return BM25Recommender(K=self.K, K1=self.K1, B=self.B, num_threads=1)

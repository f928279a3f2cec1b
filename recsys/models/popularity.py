"""Recent, decayed popularity: platform-wide and per city (the cold-start backbone)."""

from __future__ import annotations

import numpy as np

from common.settings import DEFAULT_SEED
from recsys.models.base import Recommender, register
from recsys.signal import Signal


@register
class Popularity(Recommender):
    """Score = decayed count of group order-days over the last `window_days`, same for every group."""

    name = "popularity"

    def __init__(
        self, half_life: float | None = 7.0, window_days: int | None = 28, value: str = "days",
        seed: int = DEFAULT_SEED,
    ) -> None:
        super().__init__(seed)
        self.half_life = half_life
        self.window_days = window_days
        self.value = value

    def _fit(self, signal: Signal) -> None:
        m = signal.matrix(self.half_life, self.value, self.window_days)
        self.item_scores_ = np.asarray(m.sum(axis=0)).ravel().astype(np.float32)

    def _score_known(self, g_rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(g_rows), len(self.item_scores_))).copy()

    def _profiles(self) -> tuple[np.ndarray, np.ndarray]:
        return self.item_scores_[None, :], np.zeros(len(self.signal_.groups), dtype=np.int64)

    def _cold_scores(self) -> np.ndarray:
        return self.item_scores_


@register
class CityPopularity(Recommender):
    """Score = share of the group's city ordering it (decayed), plus a little of the platform's."""

    name = "city_popularity"

    def __init__(
        self,
        half_life: float | None = 7.0,
        window_days: int | None = 28,
        value: str = "days",
        global_weight: float = 0.1,
        seed: int = DEFAULT_SEED,
    ) -> None:
        super().__init__(seed)
        self.half_life = half_life
        self.window_days = window_days
        self.value = value
        self.global_weight = global_weight

    def _fit(self, signal: Signal) -> None:
        m = signal.matrix(self.half_life, self.value, self.window_days)
        cities = signal.group_meta["city"].fill_null("").to_numpy()
        names, city_of_group = np.unique(cities, return_inverse=True)
        import scipy.sparse as sp

        onehot = sp.csr_matrix(
            (np.ones(len(cities), dtype=np.float32), (city_of_group, np.arange(len(cities)))),
            shape=(len(names), len(cities)),
        )
        sizes = np.maximum(np.asarray(onehot.sum(axis=1)).ravel(), 1.0)
        city_scores = np.asarray((onehot @ m).todense(), dtype=np.float32) / sizes[:, None].astype(np.float32)
        glob = np.asarray(m.sum(axis=0)).ravel().astype(np.float32) / max(len(cities), 1)
        self.global_scores_ = glob
        self.city_scores_ = city_scores + self.global_weight * glob[None, :]
        self.city_of_group_ = city_of_group

    def _score_known(self, g_rows: np.ndarray) -> np.ndarray:
        return self.city_scores_[self.city_of_group_[g_rows]]

    def _profiles(self) -> tuple[np.ndarray, np.ndarray]:
        return self.city_scores_, self.city_of_group_

    def _cold_scores(self) -> np.ndarray:
        return self.global_scores_

    def scores_for_city(self, city: str | None) -> np.ndarray:
        """Scores for a group known only by its city (cold start); unknown city -> platform-wide."""
        self._check_fitted()
        cities = self.signal_.group_meta["city"].fill_null("").to_numpy()
        hit = np.flatnonzero(cities == (city or ""))
        return self.city_scores_[self.city_of_group_[hit[0]]] if len(hit) else self.global_scores_

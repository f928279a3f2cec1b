"""Top-n that follows the stored scores, not the catalogue: the sparse and shared-vector paths give
exactly the dense answer (same items, ranks, scores and tie-breaks), with masks and unknown groups,
for every generator; and pairs are scored without a dense block."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.models import MODELS, make_model
from recsys.models.base import Recommender
from recsys.models.topn import dense_top_n, profile_top_n, sparse_top_n
from recsys.signal import build_signal, day_start
from tests.recsys.world import block_world

CUTOFF = date(2024, 3, 31)
SMALL = {"als": {"factors": 4, "iterations": 10}, "bpr": {"factors": 4, "iterations": 50},
         "itemknn_cosine": {"K": 5}, "itemknn_bm25": {"K": 5}}


def same(got, want) -> None:
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("seed", range(30))
def test_sparse_top_n_is_the_dense_top_n(seed):
    rng = np.random.default_rng(seed)
    r, m, n = int(rng.integers(1, 12)), int(rng.integers(1, 60)), int(rng.integers(1, 15))
    dense = rng.integers(0, 4, (r, m)).astype(np.float32) * (rng.random((r, m)) < 0.3)  # ties, zeros
    pop = rng.integers(0, 3, m).astype(np.float32)
    stored = sp.csr_matrix(dense)
    if seed % 3 == 0:  # explicitly stored zeros read as zeros
        stored = sp.csr_matrix((np.where(dense.ravel() > 0, dense.ravel(), 0.0),
                                (np.repeat(np.arange(r), m), np.tile(np.arange(m), r))), shape=(r, m))
    same(sparse_top_n(stored, pop, n, 5), dense_top_n(dense, pop, n, 5))
    mask = rng.random(m) < 0.6
    same(sparse_top_n(stored, pop, n, 5, mask), dense_top_n(np.where(mask, dense, -np.inf), pop, n, 5))


def test_profile_top_n_is_the_dense_top_n_of_each_rows_vector():
    rng = np.random.default_rng(1)
    profiles = rng.integers(0, 3, (3, 25)).astype(np.float32)
    of_row = rng.integers(0, 3, 17)
    pop = rng.integers(0, 3, 25).astype(np.float32)
    mask = rng.random(25) < 0.7
    same(profile_top_n(profiles, of_row, pop, 6, 2), dense_top_n(profiles[of_row], pop, 6, 2))
    same(profile_top_n(profiles, of_row, pop, 6, 2, mask),
         dense_top_n(np.where(mask, profiles[of_row], -np.inf), pop, 6, 2))


@pytest.fixture(scope="module")
def signal():
    return build_signal(block_world(CUTOFF), day_start(CUTOFF))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_generator_recommends_what_its_dense_scores_say(name, signal):
    model = make_model(name, seed=3, **SMALL.get(name, {})).fit(signal)
    groups = [*signal.groups.decode(np.arange(len(signal.groups))).to_list(), "never-seen"]
    rows = signal.groups.encode(groups)
    mask = np.arange(len(signal.items)) % 3 != 0
    for allowed in (None, mask):
        got = model.recommend(groups, 4, allowed)
        block = model.score_rows(rows)
        if allowed is not None:
            block = np.where(allowed, block, -np.inf)
        g, i, rank, score = dense_top_n(block, model.popularity_, 4, 0)
        assert got["group_id"].to_list() == [groups[x] for x in g]
        assert got["product_id"].to_list() == signal.items.decode(i).to_list()
        assert got["rank"].to_list() == rank.tolist()
        np.testing.assert_allclose(got["score"].to_numpy(), score, rtol=1e-6)
    # pairs, unknown groups and items included, agree with the dense block
    pairs_g = np.repeat(rows, 3)
    pairs_i = np.tile([0, len(signal.items) - 1, -1], len(rows))
    scores = model.score_pairs(pairs_g, pairs_i)
    dense = model.score_rows(rows)
    want = np.where(pairs_i >= 0, dense[np.repeat(np.arange(len(rows)), 3), np.maximum(pairs_i, 0)], np.nan)
    np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-6)


def test_sparse_and_shared_generators_never_build_a_dense_block(signal, monkeypatch):
    """The catalogue-size cost: recommending and scoring pairs reads stored scores only."""
    def refuse(self, g_rows):
        raise AssertionError(f"{self.name} built a dense group x catalogue block")

    monkeypatch.setattr(Recommender, "score_rows", refuse)
    groups = signal.groups.decode(np.arange(len(signal.groups))).to_list() + ["never-seen"]
    for name in ("popularity", "city_popularity", "reorder", "members", "itemknn_cosine", "tifu_knn",
                 "repeat_cycle"):
        model = make_model(name, **SMALL.get(name, {})).fit(signal)
        assert model.recommend(groups, 5).height > 0
        model.score_pairs(np.array([0, 1, -1]), np.array([0, 1, 2]))

"""Contract tests every generator passes: a known answer on a tiny block world, an unknown group,
empty candidates, determinism with a seed, the registry and the not-fitted error."""

from datetime import date

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from common.errors import NotFittedError, UsageError
from recsys.models import MODELS, make_model
from recsys.signal import build_signal, day_start
from tests.recsys.world import block_world

CUTOFF = date(2024, 3, 31)
SMALL = {
    "als": {"factors": 4, "iterations": 20, "regularization": 0.1, "alpha": 5.0},
    "bpr": {"factors": 4, "iterations": 300, "learning_rate": 0.05},
    "itemknn_cosine": {"K": 5},
    "itemknn_bm25": {"K": 5},
}
PERSONAL = ["reorder", "itemknn_cosine", "itemknn_bm25", "als", "bpr", "city_popularity"]


@pytest.fixture(scope="module")
def signal():
    return build_signal(block_world(CUTOFF), day_start(CUTOFF))


def fitted(name, signal, seed=7):
    return make_model(name, seed=seed, **SMALL.get(name, {})).fit(signal)


def test_registry_knows_every_generator_and_rejects_unknown_names():
    assert {
        "popularity",
        "city_popularity",
        "reorder",
        "itemknn_cosine",
        "itemknn_bm25",
        "als",
        "bpr",
        "members",
    } <= set(MODELS)
    with pytest.raises(UsageError, match="unknown model 'nope'; known models: als, bpr"):
        make_model("nope")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_not_fitted_is_a_named_error(name):
    with pytest.raises(NotFittedError):
        make_model(name).recommend(["a1"], 3)


@pytest.mark.parametrize("name", PERSONAL)
def test_known_answer_a_group_gets_its_own_block(name, signal):
    recs = fitted(name, signal).recommend(["a1", "b2"], 4)
    for g, block in (("a1", "A"), ("b2", "B")):
        top = recs.filter(pl.col("group_id") == g)["product_id"].to_list()
        assert len(top) == 4 and all(p.startswith(block) for p in top), (name, g, top)


def test_known_answer_popularity_and_reorder_order(signal):
    pop = fitted("popularity", signal).recommend(["a1"], 2)["product_id"].to_list()
    assert set(pop) == {"A0", "B0"}  # the two staples, bought every day by five groups each
    own = fitted("reorder", signal).recommend(["a0"], 1)["product_id"].to_list()
    assert own == ["A0"]


@pytest.mark.parametrize("name", ["itemknn_cosine", "itemknn_bm25", "als"])
def test_known_answer_neighbours_fill_in_what_peers_buy(name, signal):
    """a0 only ever bought A0; its peers who buy A0 also buy A1..A3, never B*: those come next."""
    top = fitted(name, signal).recommend(["a0"], 4)["product_id"].to_list()
    assert top[0] == "A0" and set(top[1:]) == {"A1", "A2", "A3"}, top


def test_members_elsewhere_carry_what_they_buy(signal):
    s = fitted("members", signal).score(pl.DataFrame({"group_id": ["a0", "a0"], "product_id": ["A2", "B1"]}))
    a2, b1 = s["score"].to_list()  # member ma10 of a1 (also in a0) buys A0 and A2 in a1
    assert a2 > 0 and b1 == 0


def test_cancelled_orders_are_not_evidence(signal):
    s = fitted("reorder", signal).score(pl.DataFrame({"group_id": ["a1"], "product_id": ["Z0"]}))
    assert s["score"][0] == 0


@pytest.mark.parametrize("name", sorted(MODELS))
def test_unknown_group_gets_the_cold_start_row(name, signal):
    m = fitted(name, signal)
    recs = m.recommend(["never-seen", "a1"], 3)
    cold = recs.filter(pl.col("group_id") == "never-seen")
    assert cold.height == 3 and cold["rank"].to_list() == [1, 2, 3]
    assert set(cold["product_id"][:2]) == {"A0", "B0"}  # recent popularity backs an unknown group
    scored = m.score(
        pl.DataFrame({"group_id": ["never-seen", "a1"], "product_id": ["A0", "no-such-product"]})
    )
    assert scored["score"][0] is not None and scored["score"][1] is None


@pytest.mark.parametrize("name", sorted(MODELS))
def test_empty_candidates_and_no_groups(name, signal):
    m = fitted(name, signal)
    empty = pl.DataFrame(schema={"group_id": pl.String, "product_id": pl.String})
    out = m.score(empty)
    assert out.height == 0 and "score" in out.columns
    recs = m.recommend([], 5)
    assert recs.height == 0 and recs.columns == ["group_id", "rank", "product_id", "score"]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_deterministic_with_a_seed(name, signal):
    groups = ["a0", "a1", "b3"]
    assert_frame_equal(
        fitted(name, signal, 3).recommend(groups, 5), fitted(name, signal, 3).recommend(groups, 5)
    )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_allowed_mask_restricts_the_list(name, signal):
    m = fitted(name, signal)
    allowed = signal.items.encode(["A1", "B2", "Z0"])
    mask = pl.Series([False] * len(signal.items)).to_numpy().copy()
    mask[allowed] = True
    recs = m.recommend(["a1"], 5, mask)
    assert set(recs["product_id"]) <= {"A1", "B2", "Z0"} and recs.height == 3


def test_bpr_caps_its_epochs_by_the_sample_budget(signal):
    nnz = signal.matrix(None, "days").nnz
    full = make_model("bpr", iterations=50, seed=7).fit(signal)
    capped = make_model("bpr", iterations=50, max_samples=3 * nnz, seed=7).fit(signal)
    assert full.iterations_ == 50
    assert capped.iterations_ == 3
    assert make_model("bpr", iterations=50, max_samples=1, seed=7).fit(signal).iterations_ == 1


def test_top_n_by_partition_equals_a_full_stable_sort_with_ties_and_non_finite_scores():
    import numpy as np

    from recsys.models.base import _top_n

    def full_sort(block, pop, n, offset):
        perm = np.lexsort((np.arange(len(pop)), -pop))
        key = np.where(np.isfinite(block), block, -np.inf)[:, perm]
        order = np.argsort(-key, axis=1, kind="stable")[:, :n]
        scores = np.take_along_axis(key, order, axis=1)
        keep = np.isfinite(scores)
        rows = np.broadcast_to(np.arange(block.shape[0])[:, None] + offset, order.shape)
        return rows[keep], perm[order][keep], np.cumsum(keep, axis=1)[keep], scores[keep]

    rng = np.random.default_rng(0)
    for _ in range(100):
        r, m, n = int(rng.integers(1, 12)), int(rng.integers(1, 40)), int(rng.integers(1, 12))
        block = rng.integers(0, 4, (r, m)).astype(np.float32)  # many ties
        block[rng.random((r, m)) < 0.2] = -np.inf
        block[rng.random((r, m)) < 0.1] = np.nan
        pop = rng.integers(0, 3, m).astype(np.float32)
        for got, want in zip(_top_n(block, pop, n, 3), full_sort(block, pop, min(n, m), 3), strict=True):
            assert np.array_equal(got, want)


@pytest.mark.parametrize("name", ["itemknn_cosine", "itemknn_bm25"])
def test_item_knn_before_any_order_scores_zero_without_dividing_by_zero(name):
    """A fold at the very start of the history has products and groups but no order yet: BM25's
    average row length is then 0 (implicit divided 0/0 and warned); the model is empty, not NaN."""
    import warnings

    world = block_world(CUTOFF)
    first = world["orders"]["ordered_at"].min()
    early = build_signal(world, first)  # strictly before the first order: nothing bought
    assert early.daily.height == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        m = fitted(name, early)
    scores = m.score(pl.DataFrame({"group_id": ["a0"], "product_id": ["A1"]}))
    assert scores["score"].to_list() == [0.0]

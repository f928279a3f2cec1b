"""ALS's L2 weight relative to a group's confidence mass: large groups (a hundred-odd that each
order a thousand products on dozens of days) are ranked by how much they buy, not by "ever bought"."""

import numpy as np
import pytest

from recsys.models import make_model
from recsys.signal import build_signal, day_start
from recsys.tuning import GRIDS
from tests.recsys.test_recsys_models import CUTOFF
from tests.recsys.test_recsys_repeat_models import signal_of, top
from tests.recsys.world import block_world

GROUPS, STAPLES, OTHERS = 12, 10, 150


def large_groups() -> dict[str, dict[str, list[int]]]:
    """Two tastes of six groups each: a group re-orders its taste's 10 staples every two to four days
    for 90 days, and has bought 150 other products of a 400-product catalogue on one or two days."""
    rng = np.random.default_rng(0)
    purchases = {}
    for g in range(GROUPS):
        bought = {}
        for s in range(STAPLES):
            gap = 2 + (s + g) % 3
            bought[f"staple-{g % 2}-{s}"] = list(range(1 + (s + g) % gap, 90, gap))
        for p in rng.choice(400, OTHERS, replace=False):
            bought[f"p{p:03d}"] = sorted({int(a) for a in rng.integers(1, 90, rng.integers(1, 3))})
        purchases[f"g{g}"] = bought
    return purchases


@pytest.fixture(scope="module")
def large():
    return signal_of(large_groups())


def staples_in_top(model, group: int) -> int:
    return sum(p.startswith(f"staple-{group % 2}-") for p in top(model, f"g{group}", STAPLES))


def test_the_tuned_points_rank_a_large_groups_staples_first(large):
    """Every point of the grid finds several of each group's staples (the most regularised point,
    alpha 5 / rho 0.3, finds 5 of 10 on this small world; the old weight 0), and the grid's best
    (what the folds would choose) all of them."""
    found = {
        str(p): [staples_in_top(make_model("als", **p).fit(large), g) for g in range(GROUPS)]
        for p in GRIDS["als"]
    }
    assert min(min(f) for f in found.values()) >= 4, found
    assert max(sum(f) for f in found.values()) == GROUPS * STAPLES, found


def test_a_fixed_small_weight_ranks_them_by_ever_bought(large):
    """What the grid held before: 0.05 beside confidences of alpha x dozens of order days."""
    model = make_model("als", factors=64, alpha=20.0, regularization=0.05, half_life=21.0).fit(large)
    found = [staples_in_top(model, g) for g in range(GROUPS)]
    assert np.mean(found) < 2, found


def test_the_weight_is_rho_alpha_and_the_mean_mass_of_a_group_that_ordered(large):
    model = make_model("als", factors=8, alpha=5.0, relative_regularization=0.1, half_life=21.0).fit(large)
    x = large.matrix(21.0, "days")
    mass = np.asarray(x.sum(axis=1)).ravel()
    assert model.regularization_ == pytest.approx(0.1 * 5.0 * mass[mass > 0].mean(), rel=1e-5)
    absolute = make_model("als", factors=8, regularization=0.5).fit(large)
    assert absolute.regularization_ == 0.5


def test_households_keep_their_known_answer_with_the_relative_weight():
    signal = build_signal(block_world(CUTOFF), day_start(CUTOFF))
    model = make_model("als", factors=4, iterations=20, alpha=5.0, relative_regularization=0.1).fit(signal)
    recs = model.recommend(["a1", "b2"], 4)
    for g, block in (("a1", "A"), ("b2", "B")):
        got = recs.filter(recs["group_id"] == g)["product_id"].to_list()
        assert all(p.startswith(block) for p in got), (g, got)

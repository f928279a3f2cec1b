"""The time-aware repeat generators (tifu_knn, repeat_cycle): known answers on tiny hand-made
histories, the Recommender contract (unknown group, empty input, a group without history, a group
with one week of history, determinism), chunked neighbours, and their way to the ranker."""

from datetime import date, datetime, time, timedelta

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp
from polars.testing import assert_frame_equal

from common.contract import TABLES
from common.errors import NotFittedError
from recsys.features import candidates
from recsys.models import MODELS, make_model
from recsys.models.tifu import decayed_basket_mean, top_k_neighbours
from recsys.signal import build_signal, day_start
from recsys.tuning import GRIDS
from tests.recsys.world import TZ, _frame, block_world

END = date(2024, 3, 31)  # the cutoff: ages are whole days before it
NEW = ["tifu_knn", "repeat_cycle"]


def history_world(purchases: dict[str, dict[str, list[int]]], extra_groups=(), extra_products=()):
    """Contract frames where group g bought product p on each of the days `ages` before END
    ({g: {p: ages}}); `extra_groups` exist without any order, `extra_products` are never bought."""
    groups = sorted(set(purchases) | set(extra_groups))
    products = sorted({p for bought in purchases.values() for p in bought} | set(extra_products))
    rows = []
    for g, bought in purchases.items():
        for p, ages in bought.items():
            for a in ages:
                at = datetime.combine(END - timedelta(days=a), time(10), tzinfo=TZ)
                rows.append((f"o-{g}-{p}-{a}", f"m-{g}", g, p, 1, 10.0, at, "paid"))
    cols = ["order_id", "member_id", "group_id", "product_id", "quantity", "unit_price", "ordered_at"]
    cols.append("status")
    start = END - timedelta(days=400)
    members = sorted({(r[1], r[2]) for r in rows})
    return {
        "suppliers": _frame("suppliers", {"supplier_id": ["s"], "name": ["S"]}),
        "products": _frame(
            "products",
            {
                "product_id": products,
                "supplier_id": ["s"] * len(products),
                "name": products,
                "category": ["fresh"] * len(products),
                "price": [10.0] * len(products),
                "is_standard": [True] * len(products),
                "launched_on": [start] * len(products),
            },
        ),
        "groups": _frame(
            "groups",
            {
                "group_id": groups,
                "shopkeeper_id": groups,
                "city": ["x"] * len(groups),
                "warehouse_id": ["w"] * len(groups),
                "kind": ["other"] * len(groups),
                "created_on": [start] * len(groups),
            },
        ),
        "memberships": _frame(
            "memberships",
            {
                "member_id": [m for m, _ in members],
                "group_id": [g for _, g in members],
                "joined_on": [start] * len(members),
            },
        ),
        "orders": _frame("orders", dict(zip(cols, map(list, zip(*rows, strict=True)), strict=True))),
        **{
            t: pl.DataFrame(schema=TABLES[t].polars_schema())
            for t in ("shopkeepers", "campaigns", "posts", "feedback")
        },
    }


def signal_of(purchases, **kw):
    return build_signal(history_world(purchases, **kw), day_start(END))


def scores(model, group, products):
    frame = pl.DataFrame({"group_id": [group] * len(products), "product_id": products})
    return dict(zip(products, model.score(frame)["score"].to_list(), strict=True))


def top(model, group, n):
    return model.recommend([group], n)["product_id"].to_list()


# -- repeat_cycle: known answers ---------------------------------------------------------------------
CYCLES = {
    # every 7 days, last bought 7 days ago: due now
    "weekly": {"A": [7, 14, 21, 28, 35, 42], "B": [1, 31, 61], "C": [29, 59, 89]},
    # the same weekly habit, but stopped 60 days ago: lapsed
    "lapsed": {"A": [60, 67, 74, 81, 88, 95]},
    # bought A once, 7 days ago: borrows A's weekly cycle from the others
    "once": {"A": [7]},
    "other": {"D": [3, 10, 17]},
}


@pytest.fixture(scope="module")
def cycles():
    return signal_of(CYCLES, extra_groups=["silent"], extra_products=["Z"])


def test_repeat_cycle_due_item_first_and_just_bought_slow_item_not_due(cycles):
    m = make_model("repeat_cycle").fit(cycles)
    s = scores(m, "weekly", ["A", "B", "C", "D", "Z"])
    assert top(m, "weekly", 1) == ["A"]
    # B: every 30 days, bought yesterday, so not due this week; C: every 30 days, last 29 days ago: due
    assert s["B"] < 0.01 and s["C"] > 0.2 and s["A"] > s["C"]
    assert s["D"] == 0 and s["Z"] == 0  # never bought by this group: a repeat-only generator


def test_repeat_cycle_lapsed_habit_fades_and_one_purchase_borrows_the_items_cycle(cycles):
    m = make_model("repeat_cycle").fit(cycles)
    a = {g: scores(m, g, ["A"])["A"] for g in ("weekly", "lapsed", "once")}
    assert a["lapsed"] < a["weekly"] / 10
    assert 0 < a["once"] < a["weekly"]  # due by A's cycle, but less sure it re-buys at all
    g, i = cycles.groups.encode(["once", "weekly"]), cycles.items.encode(["A", "A"])
    cyc = np.asarray(m.cycle_days_[g, i]).ravel()
    assert cyc[0] == pytest.approx(7.0, rel=0.01) and cyc[1] == pytest.approx(7.0, rel=0.01)


def test_repeat_cycle_shrinkage_pulls_few_repeats_towards_the_items_cycle():
    """'few' re-bought A once after 20 days; everyone else buys A every 5 days."""
    hist = {f"g{j}": {"A": list(range(2, 60, 5))} for j in range(4)} | {"few": {"A": [2, 22]}}
    sig = signal_of(hist)
    g, i = sig.groups.encode(["few"]), sig.items.encode(["A"])
    weak = make_model("repeat_cycle", shrinkage=0.01).fit(sig).cycle_days_[g[0], i[0]]
    strong = make_model("repeat_cycle", shrinkage=50.0).fit(sig).cycle_days_[g[0], i[0]]
    assert weak == pytest.approx(20.0, rel=0.02) and strong == pytest.approx(5.3, rel=0.05)


def test_repeat_cycle_horizon_and_spread_are_parameters(cycles):
    short = make_model("repeat_cycle", horizon_days=1, spread=0.5).fit(cycles)
    long = make_model("repeat_cycle", horizon_days=28, spread=0.5).fit(cycles)
    assert short.sigma_ == 0.5
    for p in ("A", "C"):
        assert scores(short, "weekly", [p])[p] < scores(long, "weekly", [p])[p]


# -- tifu_knn: known answers -------------------------------------------------------------------------
def test_tifu_alpha_one_is_the_decayed_own_history():
    # X on five old days, Y on two recent days: recency (short half-life) puts Y first, frequency X
    sig = signal_of({"u": {"X": [20, 21, 22, 23, 24], "Y": [1, 2]}, "v": {"Z": [1]}})
    recent = make_model("tifu_knn", alpha=1.0, half_life=3.0).fit(sig)
    frequent = make_model("tifu_knn", alpha=1.0, half_life=None).fit(sig)
    assert top(recent, "u", 2) == ["Y", "X"] and top(frequent, "u", 2) == ["X", "Y"]
    s = scores(frequent, "u", ["X", "Y", "Z"])
    assert s == pytest.approx({"X": 5 / 7, "Y": 2 / 7, "Z": 0.0})  # share of its order days
    w = 0.5 ** (np.array([20, 21, 22, 23, 24, 1, 2]) / 3.0)
    assert scores(recent, "u", ["Y"])["Y"] == pytest.approx(w[5:].sum() / w.sum(), rel=1e-5)


NEIGHBOURS = {
    "u": {"P": [1, 8], "Q": [2, 9]},
    "v": {"P": [1, 8], "Q": [2, 9], "R": [3, 10]},  # the most similar to u
    "w": {"P": [5], "S": [1, 2, 3, 4, 6, 7, 8, 9, 10, 11]},  # shares only P with u
    "x": {"T": [1]},  # shares nothing
}


def test_tifu_alpha_zero_is_the_mean_of_the_nearest_neighbours():
    sig = signal_of(NEIGHBOURS)
    m = make_model("tifu_knn", alpha=0.0, k_neighbors=1, half_life=None).fit(sig)
    assert m.neighbours_[sig.groups.encode(["u"])[0]].indices.tolist() == sig.groups.encode(["v"]).tolist()
    s = scores(m, "u", ["P", "Q", "R", "S", "T"])
    assert s == pytest.approx({"P": 1 / 3, "Q": 1 / 3, "R": 1 / 3, "S": 0.0, "T": 0.0})  # v's vector
    two = make_model("tifu_knn", alpha=0.0, k_neighbors=2, half_life=None).fit(sig)
    s2 = scores(two, "u", ["P", "Q", "R", "S", "T"])
    # v and w; x has similarity 0 and is never a neighbour
    assert s2 == pytest.approx({"P": (1 / 3 + 1 / 11) / 2, "Q": 1 / 6, "R": 1 / 6, "S": 5 / 11, "T": 0.0})
    three = make_model("tifu_knn", alpha=0.0, k_neighbors=3, half_life=None).fit(sig)
    assert scores(three, "u", ["T"])["T"] == 0.0 and three.neighbours_[0].nnz == 2


def test_tifu_blend_is_alpha_own_plus_one_minus_alpha_neighbours():
    sig = signal_of(NEIGHBOURS)
    own = make_model("tifu_knn", alpha=1.0, k_neighbors=1, half_life=7.0).fit(sig)
    nb = make_model("tifu_knn", alpha=0.0, k_neighbors=1, half_life=7.0).fit(sig)
    mix = make_model("tifu_knn", alpha=0.3, k_neighbors=1, half_life=7.0).fit(sig)
    rows = sig.groups.encode(["u", "v", "w", "x"])
    np.testing.assert_allclose(
        mix.score_rows(rows), 0.3 * own.score_rows(rows) + 0.7 * nb.score_rows(rows), rtol=1e-5, atol=1e-7
    )
    assert top(mix, "u", 3) == ["P", "Q", "R"]  # own items first, then what the neighbour adds


def test_tifu_neighbours_are_the_same_whatever_the_chunk_size():
    rng = np.random.default_rng(1)
    x = sp.random(300, 40, density=0.1, format="csr", random_state=rng, dtype=np.float32)
    silent = (np.arange(300) % 7 == 0).astype(np.float32)  # rows without history: no neighbours
    x = sp.csr_matrix(sp.diags(1.0 - silent) @ x)
    x.eliminate_zeros()
    big = top_k_neighbours(x, 5)
    for budget in (1, 300, 4096):  # one row per chunk, one row's worth, several rows
        small = top_k_neighbours(x, 5, budget=budget)
        assert (abs(big - small) > 0).nnz == 0
    counts = np.diff(big.indptr)
    assert counts.max() == 5 and (counts[::7] == 0).all() and big.diagonal().sum() == 0
    np.testing.assert_allclose(np.asarray(big.sum(axis=1)).ravel()[counts > 0], 1.0, rtol=1e-6)


def test_tifu_basket_mean_is_a_share_of_days():
    sig = signal_of({"u": {"X": [1, 2, 3], "Y": [3]}})
    m = decayed_basket_mean(sig, None).toarray()[sig.groups.encode(["u"])[0]]
    assert m[sig.items.encode(["X"])[0]] == pytest.approx(1.0) and m[sig.items.encode(["Y"])[0]] == 1 / 3


# -- the contract, for both ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def block():
    return build_signal(block_world(END), day_start(END))


@pytest.mark.parametrize("name", NEW)
def test_registered_with_a_small_grid(name):
    assert name in MODELS and 1 <= len(GRIDS[name]) <= 4
    for p in GRIDS[name]:
        params = make_model(name, seed=3, **p).get_params()
        assert params["seed"] == 3 and {k: params[k] for k in p} == p


@pytest.mark.parametrize("name", NEW)
def test_not_fitted_is_a_named_error(name):
    with pytest.raises(NotFittedError):
        make_model(name).recommend(["a1"], 3)


@pytest.mark.parametrize("name", NEW)
def test_a_group_gets_its_own_block(name, block):
    recs = make_model(name).fit(block).recommend(["a1", "b2"], 4)
    for g, letter in (("a1", "A"), ("b2", "B")):
        got = recs.filter(pl.col("group_id") == g)["product_id"].to_list()
        assert len(got) == 4 and all(p.startswith(letter) for p in got), (name, g, got)


@pytest.mark.parametrize("name", NEW)
def test_unknown_group_gets_the_cold_start_row_and_unknown_product_null(name, block):
    m = make_model(name).fit(block)
    recs = m.recommend(["never-seen", "a1"], 3)
    cold = recs.filter(pl.col("group_id") == "never-seen")
    pop = make_model("popularity").fit(block).recommend(["never-seen"], 3)
    assert cold["rank"].to_list() == [1, 2, 3] and cold["product_id"].to_list() == pop["product_id"].to_list()
    s = m.score(pl.DataFrame({"group_id": ["never-seen", "a1"], "product_id": ["A0", "no-such-product"]}))
    assert s["score"][0] is not None and s["score"][1] is None


@pytest.mark.parametrize("name", NEW)
def test_empty_candidates_and_no_groups(name, block):
    m = make_model(name).fit(block)
    out = m.score(pl.DataFrame(schema={"group_id": pl.String, "product_id": pl.String}))
    assert out.height == 0 and "score" in out.columns
    recs = m.recommend([], 5)
    assert recs.height == 0 and recs.columns == ["group_id", "rank", "product_id", "score"]


@pytest.mark.parametrize("name", NEW)
def test_a_group_without_history_scores_zero_and_falls_back_to_popularity(name, cycles):
    m = make_model(name).fit(cycles)
    s = scores(m, "silent", ["A", "B", "Z"])
    assert s == {"A": 0.0, "B": 0.0, "Z": 0.0}
    recs = m.recommend(["silent"], 3)
    assert recs["rank"].to_list() == [1, 2, 3]
    assert recs["product_id"].to_list() == make_model("reorder").fit(cycles).recommend(["silent"], 3)[
        "product_id"
    ].to_list()


@pytest.mark.parametrize("name", NEW)
def test_a_group_with_one_week_of_history(name):
    # "new" joined a week ago: M daily, N twice; the others have months of history
    hist = {"new": {"M": [1, 2, 3, 4, 5, 6, 7], "N": [2, 6]}} | {
        f"old{j}": {"M": list(range(1, 90, 3)), "N": list(range(2, 90, 9)), "O": list(range(1, 90, 2))}
        for j in range(3)
    }
    m = make_model(name).fit(signal_of(hist))
    s = scores(m, "new", ["M", "N", "O"])
    assert all(np.isfinite(v) for v in s.values())
    assert top(m, "new", 2) == ["M", "N"] and s["M"] > s["N"] > 0
    if name == "repeat_cycle":
        assert s["O"] == 0.0  # never bought by "new"
    else:
        assert s["O"] > 0  # what its neighbours buy


@pytest.mark.parametrize("name", NEW)
def test_deterministic_with_a_seed(name, block):
    groups = ["a0", "a1", "b3", "never-seen"]
    first = make_model(name, seed=3).fit(block).recommend(groups, 5)
    assert_frame_equal(first, make_model(name, seed=3).fit(block).recommend(groups, 5))


def test_scores_reach_the_ranker_as_features(block):
    models = {n: make_model(n).fit(block) for n in ("reorder", *NEW)}
    cands = candidates(models, block.groups.encode(["a1", "b2"]), 5)
    assert {"s_tifu_knn", "s_repeat_cycle", "r_tifu_knn", "r_repeat_cycle"} <= set(cands.columns)
    assert cands["s_repeat_cycle"].null_count() == 0 and (cands["s_tifu_knn"] > 0).any()

"""The year_ago generator: what the group and the platform bought on the same days a year earlier.
Known answers on tiny hand-made histories, the item that sold only a year ago reaching the ranker's
candidates, and nothing at all where the history does not reach back a year."""

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from common.festivals import YEAR_DAYS, year_ago_shift
from recsys.features import candidates, pair_scores
from recsys.label_windows import year_ago_windows
from recsys.models import make_model
from recsys.production_config import ProductionConfig
from recsys.signal import build_signal, day_start
from recsys.tuning import GRIDS
from tests.recsys.test_recsys_repeat_models import END, history_world, scores, signal_of, top

A_YEAR_AGO = [YEAR_DAYS - k for k in range(7)]  # the 7 days from END, 52 weeks back (no event near)

# "fest" and "peer" bought the seasonal item T on last year's same days and nothing of it since;
# everyone buys the staple S every week; "late" has only the last month of history
HISTORY = {
    "fest": {"T": A_YEAR_AGO[:3], "S": list(range(3, 400, 7))},
    "peer": {"T": A_YEAR_AGO[3:4], "U": A_YEAR_AGO[:2], "S": list(range(2, 400, 7))},
    "quiet": {"S": list(range(1, 400, 7))},
    "late": {"S": [1, 8, 15, 22]},
}


@pytest.fixture(scope="module")
def seasonal():
    return signal_of(HISTORY, extra_products=["Z"])


def test_the_days_are_a_year_back_and_follow_an_event_near_them(seasonal):
    m = make_model("year_ago").fit(seasonal)
    assert m.shift_ == year_ago_shift(END, 7) == YEAR_DAYS  # 2024-03-31: no event within three weeks


def test_known_answer_own_days_then_plus_the_share_of_groups_ordering_then(seasonal):
    m = make_model("year_ago", own_weight=1.0).fit(seasonal)
    s = scores(m, "fest", ["T", "U", "S", "Z"])
    # three groups ordered in those days (fest, peer, quiet: S's weekly order falls in any 7 days);
    # T: fest's 3 order days + 2 of 3 groups; U: peer's only; S: all three; Z: never sold
    assert s["T"] == pytest.approx(3 + 2 / 3, rel=1e-5)
    assert s["U"] == pytest.approx(1 / 3, rel=1e-5)
    assert s["S"] == pytest.approx(1 + 1.0, rel=1e-5)
    assert s["Z"] == 0.0
    assert top(m, "fest", 2) == ["T", "S"]
    # a group with no order then gets the platform's part only
    assert scores(m, "late", ["T", "U", "S"]) == pytest.approx({"T": 2 / 3, "U": 1 / 3, "S": 1.0})


def test_own_weight_zero_is_last_years_popularity_for_everyone(seasonal):
    m = make_model("year_ago", own_weight=0.0).fit(seasonal)
    assert top(m, "fest", 3) == top(m, "late", 3) == ["S", "T", "U"]
    assert top(m, "never-seen", 3) == ["S", "T", "U"]  # the cold-start row is the same share


def test_pad_days_widen_the_window():
    hist = {"g": {"T": [YEAR_DAYS + 5], "S": [1]}}  # T five days before last year's window
    narrow = make_model("year_ago", pad_days=0).fit(signal_of(hist))
    wide = make_model("year_ago", pad_days=7).fit(signal_of(hist))
    assert scores(narrow, "g", ["T"])["T"] == 0.0
    assert scores(wide, "g", ["T"])["T"] == pytest.approx(1 + 1.0)


def test_a_history_shorter_than_a_year_scores_nothing_and_falls_back_to_popularity():
    sig = signal_of({"g": {"A": [1, 8, 15], "B": [3]}, "h": {"B": [2, 9]}})
    m = make_model("year_ago").fit(sig)
    assert m.groups_then_ == 0
    assert scores(m, "g", ["A", "B"]) == {"A": 0.0, "B": 0.0}
    assert top(m, "g", 2) == top(make_model("popularity").fit(sig), "g", 2)


def test_top_items_bounds_the_platforms_part(seasonal):
    m = make_model("year_ago", own_weight=0.0, top_items=1).fit(seasonal)
    assert scores(m, "late", ["S", "T", "U"]) == {"S": 1.0, "T": 0.0, "U": 0.0}


def test_the_item_that_sold_only_a_year_ago_reaches_the_rankers_candidates(seasonal):
    recent = {n: make_model(n).fit(seasonal) for n in ("reorder", "popularity", "tifu_knn")}
    g_rows = seasonal.groups.encode(["late"])
    t = seasonal.items.encode(["T"])[0]
    without = candidates(recent, g_rows, 1)
    assert t not in without["i"].to_list()  # nothing recent says T
    with_it = candidates(recent | {"year_ago": make_model("year_ago").fit(seasonal)}, g_rows, 2)
    row = with_it.filter(pl.col("i") == t)
    assert row.height == 1 and row["s_year_ago"][0] == pytest.approx(2 / 3, rel=1e-5)


def test_dense_and_pair_scores_agree(seasonal):
    m = make_model("year_ago").fit(seasonal)
    g = np.repeat(np.arange(len(seasonal.groups)), len(seasonal.items))
    i = np.tile(np.arange(len(seasonal.items)), len(seasonal.groups))
    dense = m.score_rows(np.arange(len(seasonal.groups))).ravel()
    assert np.allclose(m.score_pairs(g, i), dense)


def test_registered_with_a_small_grid():
    assert 1 <= len(GRIDS["year_ago"]) <= 4
    for params in GRIDS["year_ago"]:
        make_model("year_ago", **params)
    # where no fold reaches back a year every point ties and the first is kept: the group's own orders
    assert GRIDS["year_ago"][0]["own_weight"] > 0


def test_without_a_year_of_history_it_adds_no_candidates_and_reaches_the_ranker_as_missing():
    sig = signal_of({"g": {"A": [1, 8, 15], "B": [3]}, "h": {"B": [2, 9], "C": [4]}})
    recent = {n: make_model(n).fit(sig) for n in ("reorder", "tifu_knn")}
    g_rows = sig.groups.encode(["g", "h"])
    blind = make_model("year_ago").fit(sig)
    assert not blind.informative()
    base = candidates(recent, g_rows, 2)
    out = candidates(recent | {"year_ago": blind}, g_rows, 2)
    # the same pairs (its zero-score fill, recent popularity, is not evidence) and no score or rank
    assert out.select("g", "i").equals(base.select("g", "i"))
    assert out["s_year_ago"].null_count() == out["r_year_ago"].null_count() == out.height


# -- the ranker's label windows a year earlier -------------------------------------------------------
def test_the_ranker_learns_from_the_same_week_a_year_earlier():
    """T sells only in one week a year (a festival's): last year's same week is a label window in which
    T is a candidate (year_ago's: it sold in that week the year before too) and is labelled 1 for the
    groups that bought it, so the ranker sees an item come back with its season; the recent label
    windows never do."""

    last_year, two_years = [YEAR_DAYS - 1, YEAR_DAYS - 3], [2 * YEAR_DAYS - 1, 2 * YEAR_DAYS - 2]
    hist = {
        "fest": {"T": last_year + two_years, "S": list(range(3, 760, 7))},
        "peer": {"T": last_year[:1] + two_years[:1], "S": list(range(2, 760, 7))},
        "quiet": {"S": list(range(1, 760, 7))},
    }
    frames = history_world(hist)
    params = {"reorder": {}, "popularity": {}, "year_ago": {}}
    parts, starts = year_ago_windows(frames, [END], END - timedelta(days=28), params, 3, ProductionConfig())
    assert starts == [END - timedelta(days=YEAR_DAYS)]
    [rows] = parts
    t_row = build_signal(frames, day_start(starts[0])).items.encode(["T"])[0]
    t = rows.filter(pl.col("i") == t_row)
    assert t["label"].sum() == 2  # fest and peer bought it in that week
    assert (t.filter(pl.col("label") == 1)["s_year_ago"] > 1.0).all()  # own order days then + share


def test_no_year_ago_window_where_the_history_is_shorter_than_a_year():

    frames = history_world({"g": {"A": [1, 8, 15, 22, 29, 36]}, "h": {"A": [2, 9, 16, 23, 30]}})
    parts, starts = year_ago_windows(frames, [END], END - timedelta(days=28), {"reorder": {}}, 2,
                                     ProductionConfig())
    assert parts == [] and starts == []


def test_pair_scores_are_missing_for_a_model_that_knows_nothing_wherever_they_are_read(seasonal):
    # candidates() and the picks' new-product rows read scores through pair_scores alike
    sig = signal_of({"g": {"A": [1, 8]}, "h": {"B": [2]}})
    blind = make_model("year_ago").fit(sig)
    g, i = np.array([0, 1]), np.array([0, 1])
    assert pair_scores(blind, g, i).null_count() == 2
    seeing = make_model("year_ago").fit(seasonal)
    assert pair_scores(seeing, g, i).to_list() == pytest.approx(seeing.score_pairs(g, i).tolist())


def test_a_week_a_year_back_only_partly_in_the_history_is_not_read_as_a_week():
    # the history begins 361 days back: three of last year's seven days (ages 358..364) are in it
    sig = signal_of({"g": {"T": [360, 359], "S": [1, 8, 361]}, "h": {"S": [2, 9]}})
    m = make_model("year_ago").fit(sig)
    assert m.groups_then_ == 1 and not m.informative()


def test_a_missing_score_stays_missing_when_scaled_within_the_group():
    from recsys.features import _within_group

    frame = pl.DataFrame({"g": [0, 0, 1], "s_year_ago": pl.Series([None, None, None], dtype=pl.Float32),
                          "s_reorder": [1.0, 3.0, 2.0]})
    out = frame.with_columns(*_within_group(frame))
    assert out["q_year_ago"].null_count() == 3
    assert out["q_reorder"].to_list() == [0.0, 1.0, 0.0]


def test_no_candidates_at_all_when_every_generator_knows_nothing():
    sig = signal_of({"g": {"A": [1, 8]}, "h": {"B": [2]}})
    out = candidates({"year_ago": make_model("year_ago").fit(sig)}, np.array([0, 1]), 5)
    assert out.height == 0 and {"g", "i", "s_year_ago", "r_year_ago"} <= set(out.columns)

"""The learned ranker: its contract under both objectives (shapes, scores in [0, 1], determinism,
query blocks of a group at a cutoff, a group without a positive), and the causes found when it lost
to a single generator on orders-only data (issue 12): features whose scale is the season or the
length of the history, and a pointwise objective that must also learn how much each group buys."""

from __future__ import annotations

import pickle

import numpy as np
import polars as pl
import pytest

from common.errors import NotFittedError, UsageError
from recsys.ranker import (
    OBJECTIVES,
    REGIME_FEATURES,
    LearnedRanker,
    RankerConfig,
    query_ids,
    sample_training_rows,
)

SMALL = {"max_iter": 30, "min_samples_leaf": 5}


def labelled_rows(seed: int = 0, groups: int = 40, items: int = 30, cutoffs: tuple[int, ...] = (0, 7)):
    """Candidate rows of `groups` groups x `items` items at each cutoff (days): a score that orders a
    group's items well (`s_good`), one that is noise (`s_noise`), and label = the group's 3 best."""
    rng = np.random.default_rng(seed)
    parts = []
    for c in cutoffs:
        g = np.repeat(np.arange(groups), items)
        i = np.tile(np.arange(items), groups)
        taste = rng.random(len(g))
        good = taste + 0.15 * rng.normal(size=len(g))
        f = pl.DataFrame({"g": g, "i": i, "s_good": good, "s_noise": rng.random(len(g)), "taste": taste})
        f = f.with_columns(
            label=(pl.col("taste").rank("ordinal", descending=True).over("g") <= 3).cast(pl.Int8),
            _as_of_day=pl.lit(c, pl.Int32),
        ).drop("taste")
        parts.append(f)
    return pl.concat(parts)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_fit_predict_shapes_and_range(objective):
    rows = labelled_rows()
    ranker = LearnedRanker(RankerConfig(objective=objective, **SMALL), seed=3).fit(rows)
    scores = ranker.predict(rows.head(100))
    assert scores.shape == (100,) and scores.dtype == np.float32
    assert np.isfinite(scores).all() and scores.min() >= 0.0 and scores.max() <= 1.0
    assert ranker.n_train_ == rows.height and ranker.n_pos_ == int(rows["label"].sum())
    assert "_as_of_day" not in ranker.features_ and "label" not in ranker.features_
    assert ranker.predict(rows.head(0)).shape == (0,)
    # it learnt the good score, not the noise: the good score's order is mostly kept
    assert np.corrcoef(scores, rows.head(100)["s_good"].to_numpy())[0, 1] > 0.5


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_deterministic_with_a_seed(objective):
    rows = labelled_rows(seed=1)
    config = RankerConfig(objective=objective, **SMALL)
    a = LearnedRanker(config, seed=5).fit(rows).predict(rows)
    b = LearnedRanker(config, seed=5).fit(rows).predict(rows)
    assert np.array_equal(a, b)
    again = pickle.loads(pickle.dumps(LearnedRanker(config, seed=5).fit(rows)))
    assert np.array_equal(again.predict(rows), a)


def test_the_lambdarank_booster_scores_the_same_on_one_thread_or_two():
    # the default fits on two OpenMP threads for speed; the scores must not depend on it
    rows = labelled_rows(seed=2, groups=120)
    one = LearnedRanker(RankerConfig(n_threads=1, **SMALL), seed=5).fit(rows).predict(rows)
    two = LearnedRanker(RankerConfig(n_threads=2, **SMALL), seed=5).fit(rows).predict(rows)
    assert RankerConfig().n_threads == 2
    assert np.array_equal(one, two)


def test_a_query_is_a_group_at_a_cutoff():
    rows = labelled_rows(groups=3, items=4, cutoffs=(0, 7))
    q = query_ids(rows)
    assert len(np.unique(q)) == 6  # 3 groups x 2 cutoffs, not 3 groups
    assert (pl.DataFrame({"g": rows["g"], "c": rows["_as_of_day"], "q": q}).group_by("q")
            .agg(pl.col("g").n_unique(), pl.col("c").n_unique())
            .select((pl.col("g") == 1) & (pl.col("c") == 1)).to_series().all())
    # without a cutoff (one window), the group alone names the query
    one_window = rows.filter(pl.col("_as_of_day") == 0).drop("_as_of_day")
    assert len(np.unique(query_ids(one_window))) == 3


def test_lambdarank_takes_a_group_with_only_negatives_and_rows_in_any_order():
    rows = labelled_rows(seed=2)
    silent = rows.filter(pl.col("g") == 0).with_columns(label=pl.lit(0, pl.Int8))
    rows = pl.concat([rows.filter(pl.col("g") != 0), silent]).sample(fraction=1.0, shuffle=True, seed=4)
    ranker = LearnedRanker(RankerConfig(objective="lambdarank", **SMALL), seed=3).fit(rows)
    scores = ranker.predict(silent)
    assert scores.shape == (silent.height,) and np.isfinite(scores).all()


def test_unknown_objective_and_unfitted_ranker_fail_clearly():
    with pytest.raises(UsageError, match="objective"):
        LearnedRanker(RankerConfig(objective="pairwise-magic"))
    with pytest.raises(NotFittedError):
        LearnedRanker().predict(labelled_rows().head(3))


def test_a_ranker_pickled_before_objectives_existed_still_scores():
    rows = labelled_rows(seed=3)
    old = LearnedRanker(RankerConfig(objective="binary", **SMALL), seed=3).fit(rows)
    del old.objective_  # what a pickle of the pointwise-only ranker holds
    assert old.predict(rows.head(5)).shape == (5,)


def test_sample_training_rows_keeps_positives_and_bounds_negatives():
    rows = labelled_rows(seed=4, cutoffs=(0,))
    rows = rows.with_columns(label=pl.when(pl.col("g") == 0).then(0).otherwise(pl.col("label")))
    s = sample_training_rows(rows, 5, seed=1)
    assert s.filter(pl.col("label") == 1).height == rows.filter(pl.col("label") == 1).height
    assert s.filter(pl.col("label") == 0).group_by("g").len()["len"].max() == 5
    assert 0 not in s["g"].to_list()  # a group without a positive teaches nothing
    assert "_as_of_day" in s.columns  # the query key travels with the sampled rows


def test_the_default_ranker_reads_no_feature_in_absolute_counts_or_history_length():
    assert RankerConfig().objective == "lambdarank"
    assert set(RankerConfig().exclude_features) == set(REGIME_FEATURES)



def test_a_single_feature_frame_is_scored():
    """A frame with one feature column comes out of polars read-only: the ranker copies it."""
    rows = labelled_rows(seed=5).select("g", "i", "s_good", "label", "_as_of_day")
    ranker = LearnedRanker(RankerConfig(objective="binary", **SMALL), seed=3).fit(rows)
    assert ranker.features_ == ["s_good"] and ranker.predict(rows).shape == (rows.height,)

"""Evaluation metrics equal hand-computed values on a tiny example."""

import math

import polars as pl
import pytest

from recsys.metrics import ranking_metrics


def test_metrics_match_hand_computed_values():
    rankings = pl.DataFrame(
        {
            "group_id": ["a", "a", "a", "b", "b", "b"],
            "rank": [1, 2, 3, 1, 2, 3],
            "product_id": ["x", "y", "z", "x", "y", "w"],
        }
    )
    relevant = pl.DataFrame({"group_id": ["a", "a", "b", "c"], "product_id": ["y", "q", "w", "x"]})
    cats = pl.DataFrame({"product_id": ["x", "y", "z", "w", "q"], "category": ["f", "f", "s", "h", "h"]})
    m = ranking_metrics(rankings, relevant, k=3, catalog_size=10, categories=cats)
    # a: hit at 2 of 2 relevant; b: hit at 3 of 1 relevant; c: no list, 1 relevant
    ndcg_a = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg_b = (1 / math.log2(4)) / 1
    assert m["ndcg@3"] == pytest.approx((ndcg_a + ndcg_b + 0) / 3, abs=1e-6)
    assert m["recall@3"] == pytest.approx((0.5 + 1 + 0) / 3, abs=1e-6)
    assert m["precision@3"] == pytest.approx((1 / 3 + 1 / 3 + 0) / 3, abs=1e-6)
    assert m["map@3"] == pytest.approx(((1 / 2) / 2 + (1 / 3) / 1 + 0) / 3, abs=1e-6)
    assert m["hit@3"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["coverage"] == pytest.approx(4 / 10)  # x, y, z, w
    assert m["categories_per_list"] == pytest.approx((2 + 2) / 2)  # a: f,s; b: f,h


def test_metrics_cut_at_k_and_ignore_groups_without_relevant_items():
    rankings = pl.DataFrame(
        {"group_id": ["a"] * 3 + ["z"], "rank": [1, 2, 3, 1], "product_id": ["x", "y", "z", "x"]}
    )
    relevant = pl.DataFrame({"group_id": ["a"], "product_id": ["z"]})
    m = ranking_metrics(rankings, relevant, k=2, catalog_size=3)
    assert m["ndcg@2"] == 0.0 and m["hit@2"] == 0.0
    assert m["coverage"] == pytest.approx(2 / 3)  # only a's top-2 count, z is not evaluated

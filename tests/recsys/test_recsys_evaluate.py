"""The recsys block of `circlebuy evaluate`: shape of DESIGN.md, and --dump-rankings agrees with
the production metrics it reports; build_picks hands the nightly its table and gate."""

from datetime import date

import polars as pl
import pytest

from pipelines.evaluate.config import EvaluateConfig
from pipelines.evaluate.recsys import evaluate_production
from pipelines.recsys_stage import build_picks
from recsys.folds import relevant_pairs
from recsys.metrics import ranking_metrics
from recsys.picks import PICKS_SCHEMA
from tests.recsys.test_recsys_picks import FAST
from tests.recsys.world import make_world

AS_OF = date(2024, 3, 25)
METRICS = {"ndcg@10", "recall@10", "precision@10", "map@10", "hit@10", "coverage", "categories_per_list"}


@pytest.fixture(scope="module")
def world():
    return make_world(groups=60, products=90, days=45, end=date(2024, 3, 31), seed=5)


@pytest.fixture(scope="module")
def evaluated(world):
    return evaluate_production(world, EvaluateConfig(as_of_day=AS_OF), FAST)


def test_block_has_every_generator_production_and_picks(evaluated):
    block, _, _ = evaluated
    assert block["groups_evaluated"] > 0
    models = block["models"]
    for name in (
        "popularity",
        "city_popularity",
        "reorder",
        "itemknn_cosine",
        "itemknn_bm25",
        "als",
        "bpr",
        "production",
        "picks",
    ):
        assert set(models[name]) == METRICS, name
        assert all(0.0 <= v <= 6 for v in models[name].values())
    assert block["production_model"] in set(models) | {"ranker"}
    assert set(block["tuning"]) >= {"popularity", "als", "bpr"}
    assert block["fitted"]["bpr"]["iterations_"] >= 1 and block["fitted"]["als"]["regularization_"] > 0


def test_dump_rankings_agrees_with_reported_metrics(evaluated, world, tmp_path):
    block, rankings, prod = evaluated
    path = tmp_path / "rankings.parquet"
    rankings.select("group_id", "rank", "product_id").write_parquet(path)  # as run_evaluate writes it
    dumped = pl.read_parquet(path)
    assert dumped.columns == ["group_id", "rank", "product_id"]
    assert dumped.group_by("group_id").len()["len"].max() <= 10
    relevant = relevant_pairs(world, AS_OF, 7)
    cats = world["products"].select("product_id", "category")
    again = ranking_metrics(dumped, relevant, 10, len(prod.signal.items), cats)
    assert again == block["models"]["production"]
    assert dumped["group_id"].n_unique() == block["groups_evaluated"]


def test_training_sees_nothing_on_or_after_as_of(world):
    """Orders after as_of change the score but not what the models learned."""
    cut = world["orders"].filter(pl.col("ordered_at").dt.date() < AS_OF)
    a, _, pa = evaluate_production(world, EvaluateConfig(as_of_day=AS_OF), FAST)
    b, _, pb = evaluate_production({**world, "orders": cut}, EvaluateConfig(as_of_day=AS_OF), FAST)
    assert a["tuning"] == b["tuning"] and pa.chosen == pb.chosen
    assert b["groups_evaluated"] == 0


def test_build_picks_gives_the_nightly_its_table_and_gate(world):
    picks, run = build_picks(world, date(2024, 3, 30), production=FAST)
    info = run.to_dict()
    assert dict(picks.schema) == PICKS_SCHEMA and picks.height > 0
    gate = info["gate"]
    assert set(gate) >= {"production_ndcg", "popularity_ndcg", "passed", "reason"}
    assert isinstance(gate["passed"], bool) and info["model_version"].endswith("2024-03-30")
    assert (picks["model_version"] == info["model_version"]).all()
    verdict = run.verdict()  # what the nightly's gate line reads: the same gate, typed
    assert verdict.passed == gate["passed"] and verdict.reason == gate["reason"]
    assert verdict.details["production_ndcg"] == gate["production_ndcg"]

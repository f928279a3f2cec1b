"""The arm verdict on a world where one arm is truly better: on a generated world, half the groups get
production's lists and half platform popularity's (the weaker generator on every evaluation), under
the same rules; scored on the week after, the verdict finds popularity worse, and calls an arm
against itself no real difference."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from common.contract import TABLES
from pipelines.evaluate.intervals import MIN_UNITS
from pipelines.generate import run_generate
from recsys.experiments import Experiment, assign_arms
from recsys.picks import make_picks
from recsys.production import ProductionConfig, train_production
from recsys.ranker import RankerConfig
from recsys.tuning import TuningConfig
from recsys.vintages import arm_verdicts, outcomes, per_list, relevant_counts

DAY = date(2026, 10, 12)
FAST = ProductionConfig(
    validation_folds=2,
    ranker=RankerConfig(max_iter=40, train_windows=2),
    tuning=TuningConfig(models=("popularity", "reorder", "tifu_knn"), grids={
        "popularity": [{"half_life": 7.0}], "reorder": [{}], "tifu_knn": [{}]}),
)


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    out = tmp_path_factory.mktemp("ab-world")
    run_generate(out, groups=400, start=date(2026, 8, 20), end=date(2026, 10, 18), seed=9)
    frames = {t: pl.read_parquet(out / f"{t}.parquet") for t in TABLES if (out / f"{t}.parquet").exists()}
    prod = train_production(frames, DAY, FAST)
    groups = prod.signal.groups.decode(list(range(len(prod.signal.groups))))
    arms = assign_arms(groups, Experiment("ab", ("production", "popularity")))
    served = []
    weaker = replace(prod, ranker=None, chosen="popularity")
    for arm, variant in (("production", prod), ("popularity", weaker)):
        enrolled = arms.filter(pl.col("arm") == arm)["group_id"]
        picks, _ = make_picks(variant, DAY, groups=enrolled)
        served.append(picks.with_columns(pl.lit(arm).alias("arm")))
    vintages = pl.concat(served).select("for_date", "group_id", "rank", "product_id", "slot", "arm")
    vintages = vintages.with_columns(reason_code=pl.lit(None, pl.String))
    scored = outcomes(vintages, frames["orders"], horizon_days=7)
    return per_list(scored, relevant_counts(vintages, frames["orders"], horizon_days=7))


def test_the_verdict_finds_the_arm_that_is_truly_worse(lists):
    assert lists.group_by("arm").len()["len"].min() > 150
    verdicts = {m: arm_verdicts(lists, "production", m, min_units=MIN_UNITS)[0] for m in ("ndcg", "hit")}
    ndcg = verdicts["ndcg"]
    assert ndcg["arm"] == "popularity" and ndcg["real"] and ndcg["ci_pct"][1] < 0, ndcg["verdict"]
    assert ndcg["verdict"].startswith("arm popularity -")
    print(ndcg["verdict"], "|", verdicts["hit"]["verdict"])
    # the same arm against itself (lists split at random) is no real difference
    half = lists.filter(pl.col("arm") == "production").with_row_index().with_columns(
        arm=pl.when(pl.col("index") % 2 == 0).then(pl.lit("production")).otherwise(pl.lit("twin")))
    (twin,) = arm_verdicts(half, "production", "ndcg", min_units=MIN_UNITS)
    assert not twin["real"], twin["verdict"]

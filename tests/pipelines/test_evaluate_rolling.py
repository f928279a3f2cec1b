"""Rolling-origin evaluation: several dates equal as many single-date runs, the mean block, the
date options, and the bootstrap intervals that say whether a gap between two models is real."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest

from common.errors import UsageError
from pipelines.evaluate.intervals import mean_interval, paired_difference, ratio_interval
from pipelines.evaluate.run import EvaluateConfig, evaluate_dates, evaluate_frames, parse_dates
from tests.aggregation.test_forecasts import FAST_TS
from tests.recsys.test_recsys_picks import FAST
from tests.recsys.world import make_world

DATES = [date(2024, 3, 11), date(2024, 3, 18), date(2024, 3, 25)]
VOLATILE = {"timings_s", "seconds", "seconds_statistical"}
# settings passed, not patched
FAST_EVAL = EvaluateConfig(as_of_day=DATES[0], production=FAST, forecast=FAST_TS)


def stable(value):
    """The JSON without wall-clock timings (the only part that may differ between two runs)."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


@pytest.fixture(scope="module")
def world():
    return make_world(groups=50, products=70, days=75, end=date(2024, 3, 31), seed=9)


@pytest.fixture(scope="module")
def rolled(world):
    return evaluate_dates(world, FAST_EVAL, DATES)


def test_three_dates_equal_three_single_date_runs(world, rolled):
    result, rankings, forecasts = rolled
    assert [r["as_of"] for r in result["dates"]] == [d.isoformat() for d in DATES]
    for day, got in zip(DATES, result["dates"], strict=True):
        single, ranked, forecast = evaluate_frames(world, replace(FAST_EVAL, as_of_day=day))
        assert stable(got) == stable(single)
        assert rankings.filter(rankings["as_of"] == day).drop("as_of").equals(ranked)
        assert forecasts.filter(forecasts["as_of"] == day).drop("as_of").equals(forecast)


def test_the_mean_block_averages_every_date(rolled):
    result, _, _ = rolled
    mean = result["mean"]
    assert mean["dates"] == [d.isoformat() for d in DATES]
    per_date = [r["recsys"]["models"]["production"]["ndcg@10"] for r in result["dates"]]
    assert mean["recsys"]["models"]["production"]["ndcg@10"] == pytest.approx(np.mean(per_date), abs=1e-6)
    assert mean["recsys"]["models"]["production"]["dates"] == 3
    head = [r["forecast"]["head"]["models"]["production"]["total_wape"] for r in result["dates"]]
    if all(v is not None for v in head):
        got = mean["forecast"]["head"]["models"]["production"]["total_wape"]
        assert got == pytest.approx(np.mean(head), abs=1e-6)
    assert [w["as_of"] for w in mean["winners"]] == mean["dates"]


def test_each_date_has_intervals_for_ndcg_and_the_head_series(rolled):
    result, _, _ = rolled
    for r in result["dates"]:
        cis = r["recsys"]["intervals"]
        lo, hi = cis["ndcg@10"]["production"]
        assert lo <= r["recsys"]["models"]["production"]["ndcg@10"] <= hi
        assert set(cis["production_minus_model_ndcg@10"]) >= {"popularity", "reorder", "picks"}
        head = r["forecast"]["head"]
        assert head["threshold"] == 28 and set(head["models"]) >= {"production", "tsb", "auto_ets"}


def test_dates_from_a_list_or_a_range():
    assert parse_dates("2024-03-18,2024-03-11", None, "7d") == [date(2024, 3, 11), date(2024, 3, 18)]
    assert parse_dates(None, "2024-03-01..2024-03-20", "7d") == [
        date(2024, 3, 1), date(2024, 3, 8), date(2024, 3, 15)]
    assert parse_dates(None, "2024-03-01..2024-03-03", "1") == [
        date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 3)]


@pytest.mark.parametrize(("as_of", "rng", "every", "words"), [
    (None, None, "7d", "exactly one"),
    ("2024-03-01", "2024-03-01..2024-03-09", "7d", "exactly one"),
    ("2024-13-01", None, "7d", "--as-of"),
    (None, "2024-03-01", "7d", "FROM..TO"),
    (None, "2024-03-09..2024-03-01", "7d", "before"),
    (None, "2024-03-01..2024-03-09", "weekly", "--every"),
    (None, "2024-03-01..2024-03-09", "0d", "at least 1"),
    ("2024-03-01,,2024-03-09", None, "7d", "no empty item"),  # a date left out, not a list of two
    ("2024-03-01,", None, "7d", "no empty item"),
])
def test_bad_dates_name_the_option(as_of, rng, every, words):
    with pytest.raises(UsageError, match=words):
        parse_dates(as_of, rng, every)


def test_a_real_gap_is_real_and_noise_is_not():
    rng = np.random.default_rng(0)
    base = rng.random(400)
    better = base + 0.05  # every unit better by 0.05
    noisy = base + rng.normal(0.0, 0.2, 400) * (rng.random(400) < 0.5)  # same level, more spread
    ones = np.ones(400)
    gap = paired_difference(better, base, ones)
    assert gap["real"] and gap["difference"] == pytest.approx(0.05)
    assert gap["ci90"][0] == pytest.approx(0.05) and gap["ci90"][1] == pytest.approx(0.05)
    tie = paired_difference(noisy, base, ones)
    assert not tie["real"] and tie["ci90"][0] < 0 < tie["ci90"][1]
    lo, hi = mean_interval(base)
    assert lo < base.mean() < hi and hi - lo < 0.1
    assert mean_interval(base) == mean_interval(base)  # seeded: the same interval twice


def test_ratio_interval_of_a_wape_contains_the_wape():
    rng = np.random.default_rng(1)
    y = rng.poisson(20, 300).astype(float)
    err = np.abs(y - 20)
    lo, hi = ratio_interval(err, y)
    assert lo < err.sum() / y.sum() < hi
    assert ratio_interval(np.array([]), np.array([])) is None  # no units: no interval


def test_a_dump_named_csv_is_csv_and_any_other_name_parquet(tmp_path):
    """`--dump-rankings x.csv` wrote Parquet under a .csv name."""
    import polars as pl

    from pipelines.evaluate.run import write_dump

    frame = pl.DataFrame({"group_id": ["G1", "G1"], "rank": [1, 2], "product_id": ["P1", "P2"]})
    write_dump(frame, tmp_path / "out" / "x.CSV")
    assert (tmp_path / "out" / "x.CSV").read_text().splitlines()[0] == "group_id,rank,product_id"
    write_dump(frame, tmp_path / "x.parquet")
    assert pl.read_parquet(tmp_path / "x.parquet").equals(frame)


def test_a_generator_that_knows_nothing_on_this_history_is_named(rolled):
    """year_ago before a year of history scores recent popularity's fill; its row read as a method's
    score (the black-box trial: identical to `members` on one-member groups)."""
    from pipelines.evaluate.report import render_date

    first = rolled[0]["dates"][0]
    assert first["recsys"]["uninformative"] == ["year_ago"]
    assert "note: year_ago knew nothing of its own on this history" in render_date(first)

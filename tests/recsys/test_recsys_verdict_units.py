"""The arm verdict resamples groups, not lists, gives no interval under the evaluation's MIN_UNITS groups,
says a control that scored 0 instead of printing NaN, and counts the resamples whose control was 0; and
every per-night row names its experiment. A black-box trial (2026-12-04) read "+216.7% hit rate vs reorder,
90% CI [+50.0, +600.0]" off a control of 3 groups over 3 nights, "+nan%" (and `NaN` in --json) where
the control scored 0, and one `popularity` row merging two experiments' arms."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import polars as pl

from pipelines.evaluate.intervals import MIN_UNITS
from recsys.vintages import arm_verdicts, summary

D1 = date(2026, 5, 1)


def _lists(arms: dict[str, list[list[float]]]) -> pl.DataFrame:
    """One row per list: arm -> per group, its `hit` on each night."""
    rows = [(D1 + timedelta(days=k), f"{arm}-g{g:03d}", arm, hit)
            for arm, groups in arms.items() for g, nights in enumerate(groups)
            for k, hit in enumerate(nights)]
    return pl.DataFrame(rows, schema={"for_date": pl.Date, "group_id": pl.String, "arm": pl.String,
                                      "hit": pl.Float64}, orient="row")


def test_a_control_that_scored_zero_has_no_relative_difference_and_the_json_is_strict():
    lists = _lists({"reorder": [[0.0] * 3] * 25, "itemknn": [[1.0, 0.0, 1.0]] * 25})
    (v,) = arm_verdicts(lists, "reorder", "hit", min_units=MIN_UNITS)
    assert v["relative_pct"] is None and v["ci_pct"] is None and v["real"] is None
    assert "control scored 0; no relative difference" in v["verdict"] and "nan" not in v["verdict"]
    json.dumps(v, allow_nan=False)  # no NaN anywhere


def test_too_few_groups_give_no_interval_whatever_the_nights():
    """3 groups over 3 nights are 9 lists but 3 units: no interval, however lopsided."""
    lists = _lists({"reorder": [[1.0, 0.0, 0.0]] * 3, "itemknn": [[1.0, 1.0, 1.0]] * 3})
    (v,) = arm_verdicts(lists, "reorder", "hit", min_units=MIN_UNITS)
    assert v["ci_pct"] is None and v["real"] is None and v["relative_pct"] == 200.0
    assert v["verdict"] == ("arm itemknn +200.0% hit rate vs reorder: too few groups to tell (n=3 vs 3 "
                            f"groups; an interval needs {MIN_UNITS} in each)")
    assert (v["groups"], v["lists"]) == (3, 9)


def test_the_interval_resamples_groups_not_their_lists():
    """Groups differ (some always order, some never) and each has 20 nights: lists of one group are not
    independent, so the interval over groups is far wider than one that counts each list as a unit."""
    rng = np.random.default_rng(1)
    arms = {arm: [[float(rng.random() < p)] * 20 for p in rng.random(30)] for arm in ("production", "b")}
    by_group = _lists(arms)
    by_list = by_group.with_columns(group_id=pl.concat_str("group_id", pl.col("for_date").cast(pl.String)))
    (grouped,) = arm_verdicts(by_group, "production", "hit", min_units=MIN_UNITS)
    (listed,) = arm_verdicts(by_list, "production", "hit", min_units=MIN_UNITS)
    width = grouped["ci_pct"][1] - grouped["ci_pct"][0]
    assert width > 3 * (listed["ci_pct"][1] - listed["ci_pct"][0])
    assert grouped["relative_pct"] == listed["relative_pct"] and grouped["groups"] == 30


def test_resamples_whose_control_is_zero_are_counted_and_said():
    control = [[1.0, 1.0]] + [[0.0, 0.0]] * (MIN_UNITS - 1)  # one group of 20 ever hits
    lists = _lists({"production": control, "b": [[1.0, 0.0]] * MIN_UNITS})
    (v,) = arm_verdicts(lists, "production", "hit", min_units=MIN_UNITS)
    assert 200 < v["control_zero_resamples"] < 500 and v["resamples"] == 1000
    assert f"{v['control_zero_resamples']} of 1000 resamples had a control of 0" in v["verdict"]
    assert v["ci_pct"] is not None


def test_every_night_row_names_its_experiment():
    lists = pl.DataFrame({
        "for_date": [D1] * 5, "group_id": ["a", "b", "c", "d", "e"],
        "experiment": ["exp1", "exp1", "exp2", "exp2", None], "arm": ["popularity"] * 4 + ["production"],
        "picks": [1] * 5, "hits": [1, 0, 0, 0, 1], "hit": [1.0, 0.0, 0.0, 0.0, 1.0],
        "ndcg": [1.0, 0.0, 0.0, 0.0, 1.0]})
    scored = pl.DataFrame({"for_date": [D1] * 5, "group_id": ["a", "b", "c", "d", "e"],
                           "experiment": lists["experiment"], "arm": lists["arm"], "slot": ["hot"] * 5,
                           "reason_code": ["r"] * 5, "ordered": [True, False, False, False, True]})
    s = summary(scored, lists)
    assert [(n["experiment"], n["arm"], n["lists"]) for n in s["nights"]] == [
        (None, "production", 1), ("exp1", "popularity", 2), ("exp2", "popularity", 2)]
    assert {(r["experiment"], r["arm"]) for r in s["by_slot"]} == {
        (None, "production"), ("exp1", "popularity"), ("exp2", "popularity")}

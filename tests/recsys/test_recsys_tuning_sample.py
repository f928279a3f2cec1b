"""On a large platform selection reads a sample of the groups, the refit and the picks every group:
the cost of tuning stops growing with the number of groups, nobody is left without a list."""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from recsys.folds import tuning_frames
from recsys.picks import make_picks
from recsys.production import train_production
from tests.recsys.test_recsys_picks import DAY, FAST, _world


def test_tuning_frames_keep_every_row_of_the_sampled_groups_only():
    frames = _world()
    small = tuning_frames(frames, 20, seed=3)
    kept = set(small["groups"]["group_id"])
    assert len(kept) == 20
    for name, frame in frames.items():
        if "group_id" in frame.columns:
            assert set(small[name]["group_id"]) <= kept
            assert small[name].height == frame.filter(pl.col("group_id").is_in(list(kept))).height
        else:
            assert small[name] is frame
    assert tuning_frames(frames, 10_000, seed=3) is frames  # small platforms: everything
    assert set(tuning_frames(frames, 20, seed=3)["groups"]["group_id"]) == kept  # stable with the seed


def test_selection_on_a_sample_still_refits_and_picks_for_every_group():
    frames = _world()
    notes: list[str] = []
    prod = train_production(frames, DAY, replace(FAST, max_tuning_groups=25), notes)
    assert any("read 25 of" in n for n in notes)
    assert len(prod.signal.groups) == frames["groups"].height  # the refit reads every group
    assert len(prod.validation.signal.groups) == 25  # selection read the sample
    picks, _ = make_picks(prod, DAY)
    ordered = frames["orders"]["group_id"].unique()
    assert set(ordered) <= set(picks["group_id"])  # every group with history gets a list

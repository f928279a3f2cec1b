"""Two running experiments: a group drawn by both stays in the first. That was silent (a black-box
trial, 2026-12-03): the second experiment looked enrolled and got no list for as long as the first ran."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pipelines import cli
from pipelines.recsys_stage import picks_with_arms
from recsys.experiments import Experiment

GROUPS = [f"g{i:03d}" for i in range(200)]


class _Codes(list):
    def decode(self, idx: np.ndarray) -> list[str]:
        return [self[i] for i in idx]


def _production() -> SimpleNamespace:
    return SimpleNamespace(signal=SimpleNamespace(groups=_Codes(GROUPS)), models={})


def test_the_nightly_says_which_groups_an_earlier_experiment_kept():
    import polars as pl

    picks = pl.DataFrame({"group_id": GROUPS, "rank": [1] * len(GROUPS)})
    first, second = Experiment("ab8", ("production",), 1.0), Experiment("ab11", ("production",), 0.5)
    _, arms, notes = picks_with_arms(_production(), date(2026, 5, 1), picks, [first, second])
    assert arms.filter(pl.col("experiment") == "ab11").height == 0
    (said,) = [n for n in notes if n.startswith("experiment ab11")]
    assert "are in an earlier experiment (ab8) whose nights overlap its own, and stay out of it" in said
    assert said.endswith("it has 0")
    _, _, alone = picks_with_arms(_production(), date(2026, 5, 1), picks, [second])
    assert alone == []


def test_creating_a_second_running_experiment_warns(monkeypatch, capsys, tmp_path: Path):
    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr(sys, "argv", ["circlebuy", "experiment", *args, "--home", str(tmp_path)])
        with pytest.raises(SystemExit) as done:
            cli.main()
        return done.value.code or 0, capsys.readouterr().err

    code, err = run("create", "ab8", "--arms", "production,popularity")
    assert code == 0 and "warning" not in err
    code, err = run("create", "ab11", "--arms", "production,reorder", "--share", "0.5")
    assert code == 0 and "warning: ab8 (share 1) already running" in err and "(none: a share of 1" in err
    run("stop", "ab8")
    code, err = run("create", "ab12", "--arms", "production,reorder", "--share", "0.5")
    assert "warning: ab11 (share 0.5) already running" in err and "none:" not in err

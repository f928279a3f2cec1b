"""Small things of `experiment` and `keys` found by a black-box trial (2026-12-04): weighted arms said
"unknown arm(s) production:0.8"; the lists printed no header row; `keys list` showed UTC where
`experiment list` showed platform time; `keys list` had no --json; `keys create --subject " k1 "`
echoed the spaces it did not store; an arm that knows nothing on the home's history (year_ago before a
year of orders) was accepted and served without a word."""

from __future__ import annotations

import json
import sys
from datetime import date
from types import SimpleNamespace

import duckdb
import numpy as np
import polars as pl
import pytest

from pipelines import cli
from pipelines import recsys_stage as stage_mod
from recsys.experiments import Experiment


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["circlebuy", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    got = capsys.readouterr()
    return done.value.code or 0, got.out, got.err


def test_weighted_arms_are_said_to_be_unsupported(monkeypatch, capsys, tmp_path):
    code, _, err = run(monkeypatch, capsys, "experiment", "create", "w", "--arms",
                       "production:0.8,popularity:0.2", "--home", str(tmp_path))
    assert code == 2 and "unknown arm" not in err
    assert "weights (production:0.8, popularity:0.2) are not supported: the arms share the enrolled groups " \
           "equally" in err


def test_keys_list_has_a_header_platform_time_and_json_and_create_echoes_what_is_stored(
        monkeypatch, capsys, tmp_path):
    h = ["--home", str(tmp_path)]
    code, _, err = run(monkeypatch, capsys, "keys", "create", "--role", "admin", "--subject", " k00000 ",
                       *h)
    assert code == 0 and "created admin key for k00000;" in err
    code, out, _ = run(monkeypatch, capsys, "keys", "list", *h)
    header, row = out.splitlines()
    assert header.split("\t") == ["key_id", "role", "subject", "created_at", "revoked"]
    fields = row.split("\t")
    assert fields[1:3] == ["admin", "k00000"] and fields[3].endswith("+08:00") and fields[4] == "False"
    code, out, _ = run(monkeypatch, capsys, "keys", "list", "--json", *h)
    (listed,) = json.loads(out)
    assert listed["subject"] == "k00000" and listed["created_at"] == fields[3] and listed["revoked"] is False
    assert set(listed) == {"key_id", "role", "subject", "created_at", "revoked"}


def test_experiment_list_has_a_header_and_its_nights(monkeypatch, capsys, tmp_path):
    h = ["--home", str(tmp_path)]
    run(monkeypatch, capsys, "experiment", "create", "ab", "--arms", "production,reorder", "--start",
        "2025-06-07", *h)
    code, out, _ = run(monkeypatch, capsys, "experiment", "list", *h)
    header, row = out.splitlines()
    assert header.split("\t") == ["name", "arms", "share", "created_at", "nights", "state"]
    fields = row.split("\t")
    assert fields[0] == "ab" and fields[3].endswith("+08:00") and fields[4] == "2025-06-07.. (running)"


def test_an_arm_that_knows_nothing_on_this_history_is_warned_at_create(monkeypatch, capsys, tmp_path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute("CREATE TABLE orders (order_id VARCHAR, ordered_at TIMESTAMPTZ)")
    con.execute("INSERT INTO orders VALUES ('o1', TIMESTAMPTZ '2025-05-14 10:00:00+08'), "
                "('o2', TIMESTAMPTZ '2025-06-06 10:00:00+08')")
    con.close()
    code, _, err = run(monkeypatch, capsys, "experiment", "create", "ya", "--arms", "production,year_ago",
                       "--home", str(tmp_path))
    assert code == 0 and "warning: arm year_ago knows nothing on this home's history" in err
    assert "the orders begin 2025-05-14" in err and "a year before 2025-06-07" in err
    code, _, err = run(monkeypatch, capsys, "experiment", "create", "ok", "--arms", "production,reorder",
                       "--home", str(tmp_path))
    assert code == 0 and "knows nothing" not in err


class _Codes(list):
    def decode(self, idx: np.ndarray) -> list[str]:
        return [self[i] for i in idx]


def test_the_nightly_says_when_an_arm_knows_nothing_on_its_history(monkeypatch):
    groups = [f"g{i:02d}" for i in range(40)]
    blind = SimpleNamespace(informative=lambda: False)
    prod = SimpleNamespace(signal=SimpleNamespace(groups=_Codes(groups)), models={"year_ago": blind},
                           ranker=None, chosen="reorder")
    monkeypatch.setattr(stage_mod, "replace", lambda p, **kw: p)
    monkeypatch.setattr(stage_mod, "make_picks", lambda variant, day, config, groups, excluded: (
        pl.DataFrame({"group_id": groups, "rank": [1] * len(groups)}), {}))
    picks = pl.DataFrame({"group_id": groups, "rank": [1] * len(groups)})
    _, arms, notes = stage_mod.picks_with_arms(prod, date(2025, 6, 7), picks,
                                               [Experiment("ya", ("production", "year_ago"))])
    n = arms.filter(pl.col("arm") == "year_ago").height
    assert notes == [f"arm year_ago (ya) knows nothing of its own on this night's history (year_ago needs a "
                     f"year of it): its {n} groups are served recent popularity's fill, not the method"]

"""Ingest against the generator: every planted bad row caught by its rule, duplicates counted."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from common.home import Home
from pipelines.generate import run_generate
from pipelines.ingest import run_ingest
from tests.pipelines.ingest_helpers import identity_holds, query, snapshot

END = date(2026, 1, 10)


@pytest.fixture(scope="module")
def dirty_raw(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("dirty") / "raw"
    run_generate(out=raw, groups=40, days=10, end=END, seed=3, dirty=True)
    return raw


def test_every_planted_row_is_quarantined_with_its_rule(tmp_path, dirty_raw):
    home = Home(tmp_path / "home")
    report = run_ingest(dirty_raw, home, run_date=END).to_json()
    assert identity_holds(report)
    truth = pl.read_csv(dirty_raw / "_truth" / "dirty_rows.csv").sort("table", "source_file", "row_number")
    got = pl.DataFrame(
        query(home, "SELECT table_name, source_file, row_number, rule FROM quarantine"),
        schema=["table", "source_file", "row_number", "rule"], orient="row",
    ).sort("table", "source_file", "row_number")
    assert got.equals(truth.select(got.columns))
    duplicates = dict(pl.read_csv(dirty_raw / "_truth" / "dirty_duplicates.csv").iter_rows())
    for table, counts in report["tables"].items():
        assert counts["duplicates"] == duplicates.get(table, 0), table
        assert counts["quarantined"] == truth.filter(pl.col("table") == table).height, table


def test_dirty_world_reingest_changes_nothing(tmp_path, dirty_raw):
    home = Home(tmp_path / "home")
    run_ingest(dirty_raw, home, run_date=END)
    tables = ["orders", "groups", "campaigns", "memberships", "feedback"]
    before = snapshot(home, tables)
    again = run_ingest(dirty_raw, home, run_date=END).to_json()
    assert all(t["loaded"] == 0 for t in again["tables"].values())
    assert snapshot(home, tables) == before


def test_clean_world_loads_everything(tmp_path):
    raw = tmp_path / "raw"
    written = run_generate(out=raw, groups=30, days=7, end=END, seed=5, fmt="csv")["tables"]
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=END).to_json()
    assert identity_holds(report)
    for table, counts in report["tables"].items():
        assert counts == {"read": written[table], "loaded": written[table], "duplicates": 0, "quarantined": 0}

"""A required table present but empty (orders.csv with a header only): the nightly's exit-2 message
names the raw file that had no rows when --raw was given, and says that no snapshot is live yet on a
first run (not that "the previous snapshot stays live")."""

from __future__ import annotations

import logging
import sys

import polars as pl
import pytest

from tests.pipelines.conftest import TINY_END


@pytest.fixture()
def raw_without_orders(tmp_path, tiny_tables, write_raw):
    tables = {**tiny_tables, "orders": tiny_tables["orders"].clear()}
    return write_raw(tmp_path / "raw", tables, fmt="csv")


def run_cli(monkeypatch, *args: str) -> int:
    from pipelines import cli

    monkeypatch.setattr(sys, "argv", ["circlebuy", "nightly", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    return done.value.code


def test_empty_orders_names_the_raw_file_and_says_nothing_is_live_yet(tmp_path, raw_without_orders,
                                                                      monkeypatch, capsys, caplog):
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    assert (raw_without_orders / "orders.csv").read_text().count("\n") == 1  # the header only
    home = tmp_path / "home"
    with caplog.at_level(logging.ERROR, logger="circlebuy.nightly"):
        code = run_cli(monkeypatch, "--date", str(TINY_END), "--raw", str(raw_without_orders),
                       "--home", str(home))
    assert code == 2
    err = capsys.readouterr().err
    assert "orders.csv" in err and str(raw_without_orders) in err and "had no rows" in err
    assert "ingest raw files first" not in err  # they were just ingested
    assert "no snapshot is live yet" in err
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "no snapshot is live yet" in logged and "previous snapshot" not in logged
    # the failed run's report: said once, no model version of a model never trained, the rest not run
    [report] = list((home / "failed").glob("*/report.html"))
    page = report.read_text(encoding="utf-8")
    assert page.count("no snapshot is live yet") == 1 and "none@" not in page
    assert "not run, the run stopped there" in page and "still to finish" not in page


def test_without_raw_the_message_still_says_to_ingest_first(tmp_path, monkeypatch):
    from common.home import Home
    from pipelines.nightly.config import NightlyConfig
    from pipelines.nightly.stages import empty_orders_message

    class Ctx:  # what empty_orders_message reads of the run context
        home = Home(tmp_path / "home")
        config = NightlyConfig(run_date=TINY_END)
        ingest = {"tables": {"orders": {"read": 0}}}

    text = empty_orders_message(Ctx())
    assert "ingest raw files first" in text and text.endswith("no snapshot is live yet")


def test_rows_all_quarantined_are_said_so(tmp_path, tiny_tables, write_raw):
    from common.home import Home
    from pipelines.nightly.config import NightlyConfig
    from pipelines.nightly.stages import empty_orders_message

    raw = write_raw(tmp_path / "raw", {"orders": pl.DataFrame({"x": [1]})}, fmt="csv")

    class Ctx:
        home = Home(tmp_path / "home")
        config = NightlyConfig(run_date=TINY_END, raw=raw)
        ingest = {"tables": {"orders": {"read": 3, "loaded": 0, "quarantined": 3, "duplicates": 0}}}

    text = empty_orders_message(Ctx())
    assert f"3 row(s) read from {raw / 'orders.csv'}" in text and "3 quarantined" in text

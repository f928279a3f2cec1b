"""The nightly's ingest stage counts what it quarantined (per table and per rule) in its `nightly --json`
entry, the ledger and the log; and the API's landing feedback dated after the run's date (a backfill
of an earlier day) is left for a later run, not quarantined as `future_timestamp` nor reported lost.

Cheap: the real ingest stage on the tiny world; the later stages are stand-ins."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import timedelta

import polars as pl

from common.home import Home
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly.ledger import read_ledger
from pipelines.warehouse import connect
from tests.pipelines.conftest import TINY_END

LATER = TINY_END + timedelta(days=1)
HEADER = "feedback_id,group_id,product_id,action,at\n"


def landing(home: Home, day, rows: list[str]) -> None:
    folder = home.landing / "feedback"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{day}.csv").write_text(HEADER + "".join(f"{r}\n" for r in rows), encoding="utf-8")


def api_rows(day, n: int, prefix: str) -> list[str]:
    return [f"k1:{prefix}{i},G1,P{1 + i % 3},skip,{day}T13:46:4{i}.7+08:00" for i in range(n)]


def quarantined(home: Home, table: str) -> pl.DataFrame:
    with connect(home) as con:
        return con.execute("SELECT rule, source_file FROM quarantine WHERE table_name = ?", [table]).pl()


def test_quarantined_rows_are_counted_per_table_and_rule_in_json_ledger_and_log(
        tmp_path, tiny_tables, write_raw, stand_ins, caplog):
    tiny_tables["orders"] = pl.concat([
        tiny_tables["orders"],
        tiny_tables["orders"].head(2).with_columns(pl.lit(-1).cast(pl.Int64).alias("quantity"),
                                                   (pl.col("order_id") + "x").alias("order_id")),
    ])
    tiny_tables["feedback"] = pl.concat([
        tiny_tables["feedback"],
        tiny_tables["feedback"].head(1).with_columns(pl.lit("F9").alias("feedback_id"),
                                                     pl.lit("bogus").alias("action")),
    ])
    raw = write_raw(tmp_path / "raw", tiny_tables)
    home = Home(tmp_path / "home")
    with caplog.at_level(logging.INFO, logger="circlebuy.nightly"):
        summary = run_nightly(home, NightlyConfig(run_date=TINY_END, raw=raw))
    ingest = summary["stages"][0]
    assert ingest["quarantined"]["orders"] == 2 and ingest["quarantined"]["feedback"] == 1
    assert ingest["quarantined"]["groups"] == 0  # every table read, zero included
    assert ingest["quarantine_rules"] == {"feedback": {"bad_value": 1},
                                          "orders": {"non_positive_quantity": 2}}
    assert "warnings" in ingest  # the keys before are kept
    line = next(r.getMessage() for r in caplog.records if "rows quarantined" in r.getMessage())
    assert line.startswith("ingest: 3 rows quarantined (")
    assert "orders: 2" in line and "feedback: 1" in line and "non_positive_quantity 2" in line
    with connect(home) as con:
        stored = json.loads(read_ledger(con)["stages"][-1])[0]
    assert stored["quarantined"] == ingest["quarantined"]


def test_a_clean_ingest_logs_no_quarantine_line(tmp_path, tiny_tables, write_raw, stand_ins, caplog):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    with caplog.at_level(logging.INFO, logger="circlebuy.nightly"):
        summary = run_nightly(Home(tmp_path / "home"), NightlyConfig(run_date=TINY_END, raw=raw))
    assert set(summary["stages"][0]["quarantined"].values()) == {0}
    assert summary["stages"][0]["quarantine_rules"] == {}
    assert not [r for r in caplog.records if "rows quarantined" in r.getMessage()]


def test_landing_feedback_later_than_the_run_date_waits_for_a_later_run(
        tmp_path, tiny_tables, write_raw, stand_ins, caplog):
    """The trial: API feedback of the next day, then a run for an earlier day re-reads the landing."""
    raw = write_raw(tmp_path / "raw", tiny_tables)
    home = Home(tmp_path / "home")
    config = NightlyConfig(run_date=TINY_END, raw=raw)
    run_nightly(home, config)  # the world is in
    landing(home, LATER, api_rows(LATER, 3, "late"))
    later = run_nightly(home, replace(config, run_date=LATER, raw=None))  # loads the 3 rows
    assert later["stages"][0]["quarantined"] == {"feedback": 0}
    with caplog.at_level(logging.INFO, logger="circlebuy.nightly"):
        earlier = run_nightly(home, replace(config, raw=None))  # a backfill of the day before
    ingest = earlier["stages"][0]
    assert ingest["not_yet_due"] == {"feedback": 3}
    assert not any("quarantined" in w for w in ingest["warnings"])
    assert ingest["quarantined"] == {}  # nothing of the landing was due: nothing read
    assert quarantined(home, "feedback").filter(pl.col("rule") == "future_timestamp").height == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any("feedback" in w for w in warned)
    told = next(r.getMessage() for r in caplog.records if "left for a later run" in r.getMessage())
    assert "3 feedback row(s)" in told and f"{LATER}.csv: 3)" in told
    with connect(home) as con:
        late = con.execute("SELECT count(*) FROM feedback WHERE feedback_id LIKE 'k1:late%'").fetchone()[0]
    assert late == 3


def test_due_landing_files_are_still_read_beside_the_waiting_ones(
        tmp_path, tiny_tables, write_raw, stand_ins):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    home = Home(tmp_path / "home")
    landing(home, TINY_END, api_rows(TINY_END, 2, "due"))
    landing(home, LATER, api_rows(LATER, 3, "late"))
    summary = run_nightly(home, NightlyConfig(run_date=TINY_END, raw=raw))
    ingest = summary["stages"][0]
    assert ingest["not_yet_due"] == {"feedback": 3}
    assert not any("future_timestamp" in w for w in ingest["warnings"])
    with connect(home) as con:
        ids = {r[0] for r in con.execute("SELECT feedback_id FROM feedback").fetchall()}
        files = {r[0] for r in con.execute("SELECT path FROM ingest_files").fetchall()}
    assert {"k1:due0", "k1:due1"} <= ids and not any(str(i).startswith("k1:late") for i in ids)
    assert f"feedback/{TINY_END}.csv" in files  # named as in the landing folder, as before
    assert not list(home.root.glob(".landing-due-*"))  # the run's view of the due files is gone
    assert quarantined(home, "feedback").filter(pl.col("rule") == "future_timestamp").height == 0

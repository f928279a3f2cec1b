"""The nightly's ingest stage keeps the ingest report's warnings (`IngestReport.to_json()["warnings"]`:
a table quarantined whole first, then keys left unchecked, ...): a WARNING log line each on stderr,
a `warnings` list on the ingest stage of `nightly --json`, the ledger and the manifest, and a list in
the HTML report. A data engineer who runs only the nightly learns that a whole table was quarantined.

Cheap: the real ingest stage on the tiny world; the later stages are stand-ins, or the run is stopped
at `load` by CIRCLEBUY_FAIL_STAGE."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from common.home import Home
from pipelines.nightly.ledger import read_ledger
from pipelines.nightly.snapshot import live_snapshot
from pipelines.warehouse import connect
from tests.pipelines.conftest import TINY_END

CIRCLEBUY = Path(sys.executable).parent / "circlebuy"
WHOLE = ("WARNING: orders: all 8 rows read were quarantined, none loaded (unknown_foreign_key: 8); "
         "see the quarantine table")
UNCHECKED = ("orders.campaign_id: 6 rows give a campaign_id but no campaigns table is loaded; kept as "
             "given, not checked against campaigns")


def ledger_stages(home: Home) -> list[dict]:
    with connect(home) as con:
        return json.loads(read_ledger(con)["stages"][-1])


def test_ingest_warnings_reach_the_nightly_json_log_ledger_manifest_and_report(
        tmp_path, tiny_tables, write_raw, stand_ins, caplog):
    from pipelines import cli

    raw = write_raw(tmp_path / "raw", {k: v for k, v in tiny_tables.items() if k != "campaigns"})
    home = Home(tmp_path / "home")
    with caplog.at_level(logging.INFO, logger="circlebuy.nightly"):
        result = CliRunner().invoke(cli.app, ["nightly", "--date", TINY_END.isoformat(), "--raw", str(raw),
                                              "--home", str(home.root), "--json", "--skip-evaluate"])
    assert result.exit_code == 0, (result.output, result.exception)  # warnings are not failures
    summary = json.loads(result.stdout)
    assert summary["status"] == "succeeded"
    ingest = summary["stages"][0]
    assert ingest["name"] == "ingest"
    assert set(ingest) == {"name", "seconds", "rows_in", "rows_out", "warnings",  # keys only added
                           "quarantined", "quarantine_rules"}
    assert UNCHECKED in ingest["warnings"]
    assert any(w.startswith("posts.campaign_id: 3 rows give a campaign_id") for w in ingest["warnings"])
    assert all(set(s) == {"name", "seconds", "rows_in", "rows_out"} for s in summary["stages"][1:])
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert f"ingest: {UNCHECKED}" in logged
    assert ledger_stages(home)[0]["warnings"] == ingest["warnings"]  # the run record in the warehouse
    manifest = json.loads((live_snapshot(home) / "manifest.json").read_text())
    assert manifest["stages"][0]["warnings"] == ingest["warnings"]
    assert "Ingest warnings" in stand_ins["html"] and "orders.campaign_id: 6 rows" in stand_ins["html"]


def test_a_clean_ingest_keeps_an_empty_list_and_logs_no_warning(tmp_path, tiny_tables, write_raw, stand_ins,
                                                                caplog):
    from pipelines.nightly import NightlyConfig, run_nightly

    raw = write_raw(tmp_path / "raw", tiny_tables)
    with caplog.at_level(logging.INFO, logger="circlebuy.nightly"):
        summary = run_nightly(Home(tmp_path / "home"), NightlyConfig(run_date=TINY_END, raw=raw))
    assert summary["stages"][0]["warnings"] == []
    assert not [r for r in caplog.records
                if r.name == "circlebuy.nightly" and r.levelno >= logging.WARNING]
    assert "Ingest warnings" not in stand_ins["html"]


def test_a_table_quarantined_whole_is_a_warning_line_of_the_real_nightly(tmp_path, tiny_tables, write_raw):
    """The real CLI in its own process (stopped at `load`): the WARNING on stderr, where the stages'
    progress goes, and first in the ingest stage's list of the JSON a script reads."""
    tiny_tables["orders"] = tiny_tables["orders"].with_columns(pl.lit("P-unknown").alias("product_id"))
    raw = write_raw(tmp_path / "raw", tiny_tables)
    env = {**os.environ, "CIRCLEBUY_FAIL_STAGE": "load"}
    result = subprocess.run(
        [str(CIRCLEBUY), "nightly", "--date", TINY_END.isoformat(), "--raw", str(raw),
         "--home", str(tmp_path / "home"), "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1, result.stderr  # the injected failure's code, as before
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed"
    assert [s["name"] for s in summary["stages"]] == ["ingest", "load"]
    assert summary["stages"][0]["warnings"][0] == WHOLE
    assert "warnings" not in summary["stages"][1]
    line = next(line for line in result.stderr.splitlines() if "all 8 rows read were quarantined" in line)
    assert " WARNING circlebuy.nightly: ingest: orders: all 8 rows read were quarantined" in line
    assert ledger_stages(Home(tmp_path / "home"))[0]["warnings"][0] == WHOLE


"""Data without a campaigns table (DESIGN: campaigns are optional, everything works on orders alone):
orders and posts that name campaigns load with the value as given and the report says so; a table
whose every row is quarantined is a loud WARNING, never a quiet zero."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

from common.home import Home
from pipelines.ingest import run_ingest
from tests.pipelines.conftest import TINY_END
from tests.pipelines.ingest_helpers import identity_holds, query

CIRCLEBUY = Path(sys.executable).parent / "circlebuy"


def without(tables: dict[str, pl.DataFrame], *names: str) -> dict[str, pl.DataFrame]:
    return {k: v for k, v in tables.items() if k not in names}


def test_orders_naming_campaigns_load_as_given_when_no_campaigns_table_is_loaded(
        tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", without(tiny_tables, "campaigns"))
    home = Home(tmp_path / "home")
    report = run_ingest(raw, home, run_date=TINY_END)
    got = report.to_json()
    assert identity_holds(got)
    assert got["tables"]["orders"] == {"read": 8, "loaded": 8, "duplicates": 0, "quarantined": 0}
    assert got["tables"]["posts"] == {"read": 4, "loaded": 4, "duplicates": 0, "quarantined": 0}
    assert query(home, "SELECT order_id, campaign_id FROM orders WHERE order_id IN ('O1', 'O7') ORDER BY 1") \
        == [("O1", "C1"), ("O7", None)]  # nothing lost: the value as the file gave it
    assert ("orders.campaign_id: 6 rows give a campaign_id but no campaigns table is loaded; kept as "
            "given, not checked against campaigns") in got["warnings"]
    assert any(w.startswith("posts.campaign_id: 3 rows give a campaign_id") for w in got["warnings"])
    assert "orders.campaign_id: 6 rows" in report.render()


def test_campaign_ids_are_checked_again_once_campaigns_exist(tmp_path, tiny_tables, write_raw):
    """Without campaigns nothing is checked; a later drop with campaigns checks its own orders."""
    home = Home(tmp_path / "home")
    run_ingest(write_raw(tmp_path / "raw1", without(tiny_tables, "campaigns")), home, run_date=TINY_END)
    late = tiny_tables["orders"].head(1).with_columns(pl.lit("O9").alias("order_id"),
                                                      pl.lit("C999").alias("campaign_id"))
    got = run_ingest(write_raw(tmp_path / "raw2", {"campaigns": tiny_tables["campaigns"], "orders": late}),
                     home, run_date=TINY_END).to_json()
    assert got["quarantine_rules"] == {"orders": {"unknown_foreign_key": 1}}
    assert not any("campaign_id" in w for w in got["warnings"])


def test_a_table_quarantined_whole_is_a_warning_line(tmp_path, tiny_tables, write_raw):
    tiny_tables["orders"] = tiny_tables["orders"].with_columns(pl.lit("P-unknown").alias("product_id"))
    raw = write_raw(tmp_path / "raw", tiny_tables)
    result = subprocess.run(
        [str(CIRCLEBUY), "ingest", str(raw), "--home", str(tmp_path / "home"), "--now",
         TINY_END.isoformat(), "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    alert = ("WARNING: orders: all 8 rows read were quarantined, none loaded (unknown_foreign_key: 8); "
             "see the quarantine table")
    assert json.loads(result.stdout)["warnings"][0] == alert
    assert alert in result.stderr  # where a person looks while stdout goes to a script
    text = run_ingest(raw, Home(tmp_path / "home2"), run_date=TINY_END).render()
    assert text.splitlines()[-1] == alert


def test_no_warning_when_every_key_is_checked(tmp_path, tiny_tables, write_raw):
    report = run_ingest(write_raw(tmp_path / "raw", tiny_tables), Home(tmp_path / "home"), run_date=TINY_END)
    assert report.to_json()["warnings"] == [] and "WARNING" not in report.render()


def test_ordinary_warnings_reach_stderr_too_under_json(tmp_path, tiny_tables, write_raw):
    """stdout goes to a script; a person watching the run reads stderr."""
    raw = write_raw(tmp_path / "raw", without(tiny_tables, "campaigns"))
    result = subprocess.run(
        [str(CIRCLEBUY), "ingest", str(raw), "--home", str(tmp_path / "home"), "--now",
         TINY_END.isoformat(), "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert warnings and all(f"warning: {w}" in result.stderr for w in warnings)


def test_orders_placed_before_their_products_launch_load_and_are_said(tmp_path, tiny_tables, write_raw):
    """An export that writes the listing (or migration) day as launched_on, after the first orders: the
    lines load (the models read the product as on sale from its first order), and the report says so."""
    from datetime import date

    late = {**tiny_tables, "products": tiny_tables["products"].with_columns(
        launched_on=pl.lit(date(2030, 1, 1)))}
    raw = write_raw(tmp_path / "raw", late)
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    got = report.to_json()
    assert got["tables"]["orders"]["quarantined"] == 0
    # an order through a campaign before the launch is a pre-sale (预售), not a wrong launched_on
    n = tiny_tables["orders"].filter(pl.col("campaign_id").is_null()).height
    assert 0 < n < got["tables"]["orders"]["loaded"]
    said = [w for w in got["warnings"]
            if w.startswith("orders: ") and "before the product's launched_on" in w]
    assert said and said[0].startswith(f"orders: {n:,} lines were placed before the product's launched_on")
    clean = run_ingest(write_raw(tmp_path / "raw2", tiny_tables), Home(tmp_path / "home2"), run_date=TINY_END)
    assert not any("launched_on" in w for w in clean.to_json()["warnings"])

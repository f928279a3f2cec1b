"""Time zones of raw timestamps: CST is China's, ambiguous abbreviations are refused, zone-less values
are read as platform time with a warning, and implausible years and quantities are quarantined."""

from __future__ import annotations

import polars as pl
import pytest

from common.home import Home
from pipelines.ingest import run_ingest
from tests.pipelines.conftest import TINY_END
from tests.pipelines.ingest_helpers import as_text, query, write_dirty_part

READ_AS = [
    ("2026-01-09 10:10:00 CST", "2026-01-09 10:10:00+08"),
    ("2026-01-09 10:10:00cst", "2026-01-09 10:10:00+08"),
    ("2026-01-09 10:10:00 +08", "2026-01-09 10:10:00+08"),
    ("2026-01-09 10:10:00 +08:00", "2026-01-09 10:10:00+08"),
    ("2026-01-09T10:10:00+0800", "2026-01-09 10:10:00+08"),
    ("2026-01-09 02:10:00 UTC", "2026-01-09 10:10:00+08"),
    ("2026-01-09 02:10:00 GMT", "2026-01-09 10:10:00+08"),
    ("2026-01-09T02:10:00Z", "2026-01-09 10:10:00+08"),
    ("2026-01-08 21:10:00 -05", "2026-01-09 10:10:00+08"),
    ("2026-01-09 10:10:00 Asia/Shanghai", "2026-01-09 10:10:00+08"),
    # China time as Chinese exports write it: a word, then the offset it names
    ("2026-01-09 10:10:00 GMT+8", "2026-01-09 10:10:00+08"),
    ("2026-01-09 10:10:00 GMT+08:00", "2026-01-09 10:10:00+08"),
    ("2026-01-09 10:10:00 gmt+8:00", "2026-01-09 10:10:00+08"),
    ("2026-01-09 10:10:00 UTC+8", "2026-01-09 10:10:00+08"),
    ("2026-01-09 10:10:00 UTC +0800", "2026-01-09 10:10:00+08"),
    ("2026-01-08 21:10:00 GMT-5", "2026-01-09 10:10:00+08"),
]


def ingest_orders(tmp_path, tiny_tables, write_raw, rows: list[dict]) -> tuple[Home, dict]:
    raw = write_raw(tmp_path / "raw", tiny_tables)
    write_dirty_part(raw, "orders", tiny_tables["orders"], rows)
    home = Home(tmp_path / "home")
    return home, run_ingest(raw, home, run_date=TINY_END).to_json()


def order(tiny_tables, **changes: str) -> dict:
    """Order O7 (no campaign, so no window to fall out of) as CSV text, under a new id."""
    return as_text(tiny_tables["orders"]).row(6, named=True) | {"order_id": "Z1"} | changes


@pytest.mark.parametrize(("text", "stored"), READ_AS, ids=[t for t, _ in READ_AS])
def test_zones_read_as_written_and_cst_as_china(tmp_path, tiny_tables, write_raw, text, stored):
    home, report = ingest_orders(tmp_path, tiny_tables, write_raw, [order(tiny_tables, ordered_at=text)])
    assert report["quarantine_rules"] == {}
    assert query(home, "SELECT ordered_at::VARCHAR FROM orders WHERE order_id = 'Z1'") == [(stored,)]


@pytest.mark.parametrize("zone", ["EST", "PST", "IST", "BST", "EDT", "HKT"])
def test_an_ambiguous_zone_abbreviation_is_bad_type_naming_the_accepted_forms(tmp_path, tiny_tables,
                                                                              write_raw, zone):
    rows = [order(tiny_tables, ordered_at=f"2026-01-09 10:10:00 {zone}")]
    home, report = ingest_orders(tmp_path, tiny_tables, write_raw, rows)
    assert report["quarantine_rules"] == {"orders": {"bad_type": 1}}
    [(detail,)] = query(home, "SELECT detail FROM quarantine")
    assert detail.startswith(f"column 'ordered_at': zone '{zone}' is ambiguous"), detail
    assert "+08:00" in detail and "Asia/Shanghai" in detail and f"10:10:00 {zone}'" in detail


def test_zone_less_and_date_only_values_warn_per_file_and_column(tmp_path, tiny_tables, write_raw):
    rows = [order(tiny_tables, order_id="Z1", ordered_at="2026-01-09 10:10:00"),
            order(tiny_tables, order_id="Z2", ordered_at="2026-01-09 10:10"),
            order(tiny_tables, order_id="Z3", ordered_at="2026-01-09"),
            order(tiny_tables, order_id="Z4", ordered_at="2026-01-09T10:10:00+08:00")]
    home, report = ingest_orders(tmp_path, tiny_tables, write_raw, rows)
    assert report["tables"]["orders"]["loaded"] == tiny_tables["orders"].height + 4
    notes = [w for w in report["warnings"] if "platform time" in w]
    assert notes == [
        "orders/part-dirty.csv column ordered_at: 2 values are without a time zone; read as platform "
        "time (Asia/Shanghai, +08:00); write an offset (+08:00) to be explicit",
        "orders/part-dirty.csv column ordered_at: 1 value is a date without a time; read as 00:00 "
        "platform time (Asia/Shanghai, +08:00); write an offset (+08:00) to be explicit",
    ]
    assert query(home, "SELECT ordered_at::VARCHAR FROM orders WHERE order_id = 'Z3'") == [
        ("2026-01-09 00:00:00+08",)]


def test_aware_values_give_no_zone_warning(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END).to_json()
    assert not [w for w in report["warnings"] if "platform time" in w]


@pytest.mark.parametrize(("dtype", "ordered", "status", "stored"), [
    (pl.Datetime("us"), "2 values are without a time zone; read as platform time",
     "1 value is without a time zone; read as platform time", "2026-01-10 10:00:00+08"),
    (pl.Date(), "2 values are dates without a time; read as 00:00 platform time",
     "1 value is a date without a time; read as 00:00 platform time", "2026-01-10 00:00:00+08"),
], ids=["naive-timestamp", "date"])
def test_naive_and_date_parquet_timestamps_warn(tmp_path, tiny_tables, write_raw, dtype, ordered, status,
                                                stored):
    naive = [pl.col(c).dt.replace_time_zone(None).cast(dtype) for c in ("ordered_at", "status_at")]
    # orders without a campaign: a date alone would fall out of a campaign's window
    tiny_tables["orders"] = tiny_tables["orders"].with_columns(naive).filter(pl.col("campaign_id").is_null())
    raw = write_raw(tmp_path / "raw", tiny_tables)
    home = Home(tmp_path / "home")
    report = run_ingest(raw, home, run_date=TINY_END)
    tail = " (Asia/Shanghai, +08:00); write an offset (+08:00) to be explicit"
    assert [w for w in report.warnings if "platform time" in w] == [
        f"orders.parquet column ordered_at: {ordered}{tail}",
        f"orders.parquet column status_at: {status}{tail}"]
    assert query(home, "SELECT ordered_at::VARCHAR FROM orders WHERE order_id = 'O7'") == [(stored,)]


@pytest.mark.parametrize(("table", "changes", "column", "expected"), [
    ("orders", {"ordered_at": "0011-09-01 09:03:00"}, "ordered_at", "in the years 2000 to 2100"),
    ("orders", {"ordered_at": "2201-01-01T00:00:00+08:00"}, "ordered_at", "in the years 2000 to 2100"),
    ("products", {"product_id": "PZ", "launched_on": "0025-06-01"}, "launched_on",
     "in the years 2000 to 2100"),
    ("orders", {"quantity": "5000000"}, "quantity", "at most 1,000,000 (units in one order line)"),
])
def test_implausible_years_and_quantities_are_bad_value(tmp_path, tiny_tables, write_raw, table, changes,
                                                        column, expected):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    row = as_text(tiny_tables[table]).row(6 if table == "orders" else 0, named=True)
    row |= {"order_id": "Z1"} if table == "orders" else {}
    write_dirty_part(raw, table, tiny_tables[table], [row | changes])
    home = Home(tmp_path / "home")
    counts = run_ingest(raw, home, run_date=TINY_END).tables[table]
    assert counts.rules == {"bad_value": 1}
    assert counts.read == counts.loaded + counts.duplicates + counts.quarantined
    [(detail,)] = query(home, "SELECT detail FROM quarantine")
    assert detail.startswith(f"column '{column}' must be") and expected in detail, detail


def test_a_million_units_is_still_fine(tmp_path, tiny_tables, write_raw):
    home, report = ingest_orders(tmp_path, tiny_tables, write_raw, [order(tiny_tables, quantity="1000000")])
    assert report["quarantine_rules"] == {}
    assert report["tables"]["orders"]["loaded"] == tiny_tables["orders"].height + 1


def test_a_date_in_2000_is_plausible(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    row = as_text(tiny_tables["products"]).row(0, named=True) | {"product_id": "PZ",
                                                                 "launched_on": "2000-01-01"}
    write_dirty_part(raw, "products", tiny_tables["products"], [row])
    counts = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END).tables["products"]
    assert (counts.loaded, counts.quarantined) == (tiny_tables["products"].height + 1, 0)  # bound inclusive

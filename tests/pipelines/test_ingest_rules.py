"""Every quarantine rule catches the row it is about, with one rule per row and a useful detail."""

from __future__ import annotations

import polars as pl
import pytest

from common.contract import RULES
from common.home import Home
from pipelines.ingest import run_ingest
from pipelines.ingest.rules import RULE_ORDER
from tests.pipelines.conftest import TINY_END
from tests.pipelines.ingest_helpers import as_text, query, write_dirty_part

# (table, row to copy, changes as CSV text, expected rule, column the detail names)
CASES = [
    ("orders", 0, {"order_id": "Z1", "member_id": None}, "null_required", "member_id"),
    ("orders", 0, {"order_id": "Z1", "product_id": "   "}, "null_required", "product_id"),
    ("orders", 0, {"order_id": "Z1", "quantity": "two"}, "bad_type", "quantity"),
    ("orders", 0, {"order_id": "Z1", "quantity": "2.5"}, "bad_type", "quantity"),
    ("orders", 0, {"order_id": "Z1", "unit_price": "nan"}, "bad_type", "unit_price"),
    ("orders", 0, {"order_id": "Z1", "ordered_at": "yesterday"}, "bad_type", "ordered_at"),
    ("products", 0, {"product_id": "PZ", "is_standard": "maybe"}, "bad_type", "is_standard"),
    ("products", 0, {"product_id": "PZ", "launched_on": "2025-02-30"}, "bad_type", "launched_on"),
    ("orders", 0, {"order_id": "Z1", "status": "已支付"}, "bad_value", "status"),  # (PAID reads as paid)
    ("groups", 0, {"group_id": "GZ", "kind": "vip"}, "bad_value", "kind"),
    ("shopkeepers", 0, {"shopkeeper_id": "KZ", "tier": "z"}, "bad_value", "tier"),
    ("feedback", 0, {"action": "like"}, "bad_value", "action"),
    ("memberships", 0, {"member_id": "MZ", "left_on": "2025-01-01"}, "bad_value", "left_on"),  # left first
    ("products", 0, {"product_id": "P\tZ"}, "bad_value", "product_id"),  # a tab pasted into a cell
    ("orders", 0, {"order_id": "Z\x001"}, "bad_value", "order_id"),  # a NUL from a C export
    ("orders", 0, {"order_id": "Z1", "quantity": "0"}, "non_positive_quantity", "quantity"),
    ("orders", 0, {"order_id": "Z1", "quantity": "-3"}, "non_positive_quantity", "quantity"),
    ("campaigns", 0, {"campaign_id": "CZ", "max_qty": "0"}, "non_positive_quantity", "max_qty"),
    ("orders", 0, {"order_id": "Z1", "unit_price": "-0.01"}, "negative_price", "unit_price"),
    ("products", 0, {"product_id": "PZ", "price": "-5"}, "negative_price", "price"),
    ("campaigns", 0, {"campaign_id": "CZ", "price": "-1"}, "negative_price", "price"),
    ("orders", 6, {"order_id": "Z1", "ordered_at": "2026-01-11T00:00:00+08:00"}, "future_timestamp",
     "ordered_at"),
    ("posts", 3, {"post_id": "XZ", "posted_at": "2026-02-01T09:00:00+08:00"}, "future_timestamp",
     "posted_at"),
    ("feedback", 0, {"at": "2027-01-01T00:00:00+08:00"}, "future_timestamp", "at"),
    ("campaigns", 0, {"campaign_id": "CZ", "closes_at": "2026-01-08T07:00:00+08:00"}, "closes_before_opens",
     "closes_at"),
    ("orders", 0, {"order_id": "Z1", "product_id": "P999"}, "unknown_foreign_key", "product_id"),
    ("orders", 0, {"order_id": "Z1", "campaign_id": "C999"}, "unknown_foreign_key", "campaign_id"),
    ("memberships", 0, {"group_id": "G9"}, "unknown_foreign_key", "group_id"),
    ("groups", 0, {"group_id": "GZ", "shopkeeper_id": "K9"}, "unknown_foreign_key", "shopkeeper_id"),
    ("shopkeepers", 1, {"shopkeeper_id": "KZ", "invited_by": "K9"}, "unknown_foreign_key", "invited_by"),
    ("products", 0, {"product_id": "PZ", "supplier_id": "S9"}, "unknown_foreign_key", "supplier_id"),
    ("posts", 0, {"post_id": "XZ", "campaign_id": "C9"}, "unknown_foreign_key", "campaign_id"),
    ("orders", 0, {"order_id": "Z1", "ordered_at": "2026-01-08T23:30:00+08:00"}, "ordered_outside_campaign",
     "ordered_at"),
    ("orders", 0, {"quantity": "5"}, "duplicate_id_conflict", "order_id"),
    ("products", 0, {"price": "20.5"}, "duplicate_id_conflict", "product_id"),
]


def test_the_cases_cover_every_rule():
    assert {case[3] for case in CASES} == set(RULES) == set(RULE_ORDER)


@pytest.mark.parametrize(("table", "index", "changes", "rule", "column"), CASES,
                         ids=[f"{c[0]}-{c[3]}-{'-'.join(c[2])}" for c in CASES])
def test_each_rule_quarantines_its_row(tmp_path, tiny_tables, write_raw, table, index, changes, rule, column):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    row = as_text(tiny_tables[table]).row(index, named=True) | changes
    write_dirty_part(raw, table, tiny_tables[table], [row])
    home = Home(tmp_path / "home")
    counts = run_ingest(raw, home, run_date=TINY_END).tables[table]
    n = tiny_tables[table].height
    assert (counts.read, counts.loaded, counts.duplicates, counts.quarantined) == (n + 1, n, 0, 1)
    assert counts.rules == {rule: 1}
    [(source, row_number, got_rule, detail, raw_text)] = query(
        home, "SELECT source_file, row_number, rule, detail, raw FROM quarantine")
    assert (source, row_number, got_rule) == (f"{table}/part-dirty.csv", 1, rule)
    assert f"'{column}'" in detail or f"({column}" in detail or f"{column})" in detail, detail
    assert raw_text.startswith("{")
    if any(ord(ch) < 32 for v in changes.values() if v for ch in v):  # each control character marked
        assert "without control characters" in detail and "\ufffd" in detail, detail
    if rule == "negative_price":  # the value as written: a price of -5 is not quoted as -5.0
        assert f"got '{changes[column]}'" in detail, detail


def test_one_row_gets_the_first_rule_in_order(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    base = as_text(tiny_tables["orders"]).row(0, named=True)
    rows = [
        base | {"order_id": "Z1", "quantity": "-1", "status": "lost", "product_id": "P9"},  # bad_value first
        base | {"order_id": "Z2", "quantity": "x", "member_id": None},  # null_required before bad_type
        base | {"order_id": "Z3", "unit_price": "-1", "product_id": "P9"},  # row rule before lookups
    ]
    write_dirty_part(raw, "orders", tiny_tables["orders"], rows)
    home = Home(tmp_path / "home")
    run_ingest(raw, home, run_date=TINY_END)
    got = query(home, "SELECT row_number, rule FROM quarantine ORDER BY row_number")
    assert got == [(1, "bad_value"), (2, "null_required"), (3, "negative_price")]


def test_detail_names_the_value_received_and_what_was_expected(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    row = as_text(tiny_tables["orders"]).row(0, named=True) | {"order_id": "Z1", "quantity": "two"}
    write_dirty_part(raw, "orders", tiny_tables["orders"], [row])
    home = Home(tmp_path / "home")
    run_ingest(raw, home, run_date=TINY_END)
    [(detail, raw_text)] = query(home, "SELECT detail, raw FROM quarantine")
    assert detail == "column 'quantity' must be an integer; got 'two'"
    assert '"quantity":"two"' in raw_text and '"order_id":"Z1"' in raw_text


def test_children_of_a_quarantined_parent_are_quarantined_too(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    product = as_text(tiny_tables["products"]).row(0, named=True) | {"product_id": "PZ", "price": "-1"}
    write_dirty_part(raw, "products", tiny_tables["products"], [product])
    order = as_text(tiny_tables["orders"]).row(6, named=True) | {"order_id": "Z1", "product_id": "PZ"}
    write_dirty_part(raw, "orders", tiny_tables["orders"], [order])
    home = Home(tmp_path / "home")
    report = run_ingest(raw, home, run_date=TINY_END)
    assert report.tables["products"].rules == {"negative_price": 1}
    assert report.tables["orders"].rules == {"unknown_foreign_key": 1}


def test_an_id_a_spreadsheet_turned_into_a_number_is_never_loaded(tmp_path, tiny_tables, write_raw):
    """Excel shows a 12-digit id as 1.23E+11: every such id reads as the same one, so two products
    became one and their orders pointed at it. Each is quarantined, naming the column and the fix."""
    raw = write_raw(tmp_path / "raw", tiny_tables)
    products = as_text(tiny_tables["products"])
    mangled = [products.row(0, named=True) | {"product_id": "1.23E+11", "name": "A"},
               products.row(1, named=True) | {"product_id": "1.23E+11", "name": "B"}]
    write_dirty_part(raw, "products", tiny_tables["products"], mangled)
    orders = as_text(tiny_tables["orders"])
    lines = [orders.row(6, named=True) | {"order_id": "6.9E+15"},
             orders.row(6, named=True) | {"order_id": "Z2", "product_id": "1.23E+11"},
             orders.row(6, named=True) | {"order_id": "1E5-Z3"}]  # an id that only looks numeric loads
    write_dirty_part(raw, "orders", tiny_tables["orders"], lines)
    home = Home(tmp_path / "home")
    report = run_ingest(raw, home, run_date=TINY_END)
    assert report.tables["products"].rules == {"bad_value": 2}
    assert report.tables["orders"].rules == {"bad_value": 2}
    details = [d for (d,) in query(home, "SELECT detail FROM quarantine ORDER BY table_name, row_number")]
    assert details[0] == ("column 'order_id' must be an id as the source system wrote it; got '6.9E+15', a "
                          "number a spreadsheet reformatted (its digits are lost): format the column as text "
                          "and export again")
    assert details[1].startswith("column 'product_id' must be an id") and "'1.23E+11'" in details[1]
    assert query(home, "SELECT count(*) FROM orders WHERE order_id = '1E5-Z3'") == [(1,)]


def test_an_integer_written_with_a_zero_fraction_reads_as_the_integer(tmp_path, tiny_tables, write_raw):
    # pandas writes an integer column with a missing value as floats: "2.0" in a CSV
    raw = write_raw(tmp_path / "raw", tiny_tables)
    row = as_text(tiny_tables["orders"]).row(0, named=True) | {"order_id": "Z1", "quantity": "2.0"}
    write_dirty_part(raw, "orders", tiny_tables["orders"], [row])
    home = Home(tmp_path / "home")
    counts = run_ingest(raw, home, run_date=TINY_END).tables["orders"]
    assert (counts.quarantined, counts.rules) == (0, {})
    assert query(home, "SELECT quantity FROM orders WHERE order_id = 'Z1'") == [(2,)]


def test_a_float_parquet_column_loads_whole_values_quarantines_fractions(tmp_path, tiny_tables, write_raw):
    # pandas re-saving campaigns.parquet turns max_qty (an int with nulls) into float64
    campaigns = tiny_tables["campaigns"]
    max_qty = [16.0 if i % 3 == 0 else None for i in range(campaigns.height)]
    max_qty[1] = 12.5
    tiny_tables["campaigns"] = campaigns.with_columns(max_qty=pl.Series(max_qty, dtype=pl.Float64))
    tiny_tables["orders"] = tiny_tables["orders"].with_columns(pl.col("quantity").cast(pl.Float64))
    raw = write_raw(tmp_path / "raw", tiny_tables)
    home = Home(tmp_path / "home")
    report = run_ingest(raw, home, run_date=TINY_END)
    ids = campaigns["campaign_id"].to_list()
    # a float quantity of whole values is no problem; only the orders of the quarantined campaign go
    of_it = tiny_tables["orders"].filter(pl.col("campaign_id") == ids[1]).height
    assert report.tables["orders"].rules == ({"unknown_foreign_key": of_it} if of_it else {})
    assert report.tables["campaigns"].rules == {"bad_type": 1}
    [(row_number, detail)] = query(home, "SELECT row_number, detail FROM quarantine WHERE rule = 'bad_type'")
    assert row_number == 2 and detail == "column 'max_qty' must be an integer; got '12.5'"
    loaded = dict(query(home, "SELECT campaign_id, max_qty FROM campaigns"))
    assert loaded[ids[0]] == 16 and loaded[ids[2]] is None and ids[1] not in loaded

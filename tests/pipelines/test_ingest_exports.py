"""A platform's own exports, as a data engineer brings them: ids that lost their leading zeros (Excel, an
integer Parquet column), orders by members the memberships do not spell alike, Big5 / UTF-16 / mixed
encodings, enum values in another case, Chinese dates and 是/否, epoch numbers, and what Excel leaves
around a table (unnamed columns, blank rows, a totals row). Each says what it is, in the report or in
the quarantine's detail; and a run that loaded nothing usable says so to `ingest --strict`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from common.errors import SchemaError, UnparseableFileError
from common.home import Home
from pipelines.ingest import run_ingest
from pipelines.ingest.report import IngestReport
from tests.pipelines.conftest import SH, TINY_END
from tests.pipelines.ingest_helpers import as_text, identity_holds, query


def text_tables(tiny_tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The tiny world as CSV text, every column a string."""
    return {name: as_text(frame) for name, frame in tiny_tables.items()}


def write_csv(raw: Path, tables: dict[str, pl.DataFrame]) -> Path:
    raw.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.write_csv(raw / f"{name}.csv")
    return raw


def renamed(frame: pl.DataFrame, column: str, mapping: dict[str, str]) -> pl.DataFrame:
    return frame.with_columns(pl.col(column).replace(mapping))


def ingest(raw: Path, home: Home) -> IngestReport:
    report = run_ingest(raw, home, run_date=TINY_END)
    assert identity_holds(report.to_json())
    return report


# --- 1. orders whose members match no membership ----------------------------------------------------


def test_order_member_ids_that_lost_leading_zeros_load_with_a_warning_that_says_so(tmp_path, tiny_tables):
    tables = text_tables(tiny_tables)
    padded = {f"M{n}": f"{n:08d}" for n in range(1, 6)}  # memberships: 00000001, ...
    bare = {f"M{n}": str(n) for n in range(1, 6)}  # orders: the same members as numbers: 1, ...
    tables["memberships"] = renamed(tables["memberships"], "member_id", padded)
    tables["orders"] = renamed(tables["orders"], "member_id", bare)
    report = ingest(write_csv(tmp_path / "raw", tables), Home(tmp_path / "home"))
    assert report.tables["orders"].loaded == 8  # orders by non-members are valid: kept
    (line,) = [w for w in report.warnings if "not in memberships" in w]
    assert line.startswith("orders: 8 lines (all of the 8 kept) name members who are not in memberships "
                           "for the order's group (e.g. order O1: member '1' in group 'G1')")
    assert "8 of them match a membership once leading zeros are ignored (e.g. member '1' in orders, " \
           "'00000001' in memberships): leading zeros lost? keep ids as text" in line


def test_an_order_by_a_non_member_is_counted_without_blaming_leading_zeros(tmp_path, tiny_tables):
    tables = text_tables(tiny_tables)
    tables["orders"] = renamed(tables["orders"], "member_id", {"M5": "M9"})  # O5: M9 is in no group
    report = ingest(write_csv(tmp_path / "raw", tables), Home(tmp_path / "home"))
    assert report.tables["orders"].loaded == 8
    (line,) = [w for w in report.warnings if "not in memberships" in w]
    assert "orders: 1 line (12% of the 8 kept) names a member who is not in memberships" in line
    assert "order O5: member 'M9' in group 'G3'" in line and "leading zeros" not in line


def test_orders_by_members_give_no_membership_warning(tmp_path, tiny_tables, write_raw):
    report = ingest(write_raw(tmp_path / "raw", tiny_tables), Home(tmp_path / "home"))
    assert not [w for w in report.warnings if "memberships" in w]


# --- 2. keys that lost their leading zeros ----------------------------------------------------------


def numbered_products(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Product ids as the platform writes them: 000001 for P1, ... in every table."""
    padded = {f"P{n}": f"{n:06d}" for n in range(1, 5)}
    return {name: renamed(frame, "product_id", padded) if "product_id" in frame.columns else frame
            for name, frame in tables.items()}


def test_an_integer_parquet_id_column_is_warned_and_unknown_keys_name_the_padded_id(tmp_path, tiny_tables):
    tables = numbered_products(tiny_tables)
    raw = tmp_path / "raw"
    write_csv(raw, {n: as_text(f) for n, f in tables.items() if n != "orders"})
    tables["orders"].with_columns(pl.col("product_id").cast(pl.Int64)).write_parquet(raw / "orders.parquet")
    home = Home(tmp_path / "home")
    report = ingest(raw, home)
    assert report.tables["orders"].quarantined == 8
    said = "orders.parquet: id column product_id (BIGINT) stored as integers, read as text; ids are text"
    assert any(w.startswith(said) for w in report.warnings)
    details = query(home, "SELECT DISTINCT detail FROM quarantine WHERE table_name = 'orders' "
                          "AND row_number = 1")
    assert details == [("column 'product_id': '1' not found in products.product_id, which has '000001'; "
                        "leading zeros lost? keep ids as text (a spreadsheet or a number column drops them: "
                        "format the column as Text in Excel, write it as a string in Parquet)",)]


def test_a_parent_file_that_lost_its_zeros_is_named_in_its_childrens_details(tmp_path, tiny_tables):
    """products.csv re-saved by Excel: its supplier ids and its own ids lost their zeros. The products say
    which supplier id they meant; the campaigns, which product row holds theirs (itself quarantined)."""
    tables = text_tables(numbered_products(tiny_tables))
    tables["suppliers"] = renamed(tables["suppliers"], "supplier_id", {"S1": "0001", "S2": "0002"})
    tables["products"] = renamed(renamed(tables["products"], "supplier_id", {"S1": "1", "S2": "2"}),
                                 "product_id", {f"{n:06d}": str(n) for n in range(1, 5)})
    home = Home(tmp_path / "home")
    ingest(write_csv(tmp_path / "raw", tables), home)
    first = "SELECT detail FROM quarantine WHERE table_name = '{}' AND row_number = 1"
    (products,) = query(home, first.format("products"))
    assert products[0].startswith("column 'supplier_id': '1' not found in suppliers.supplier_id, which has "
                                  "'0001'; leading zeros lost?")
    (campaigns,) = query(home, first.format("campaigns"))
    assert campaigns[0].startswith("column 'product_id': '000001' not found in products.product_id; products "
                                   "has '1', itself quarantined (see its entry); leading zeros lost?")


def test_an_unknown_key_unlike_any_parent_keeps_the_plain_detail(tmp_path, tiny_tables, write_raw):
    tiny_tables["orders"] = renamed(tiny_tables["orders"], "product_id", {"P1": "P100"})
    home = Home(tmp_path / "home")
    ingest(write_raw(tmp_path / "raw", tiny_tables), home)
    assert query(home, "SELECT DISTINCT detail FROM quarantine") == [
        ("column 'product_id': 'P100' not found in products.product_id; expected a known id",)]


# --- 3, 6. encodings the check can name -------------------------------------------------------------


def fatal(raw: Path, home: Home) -> str:
    with pytest.raises(UnparseableFileError) as caught:
        run_ingest(raw, home, run_date=TINY_END)
    return str(caught.value)


def test_a_big5_csv_is_fatal_naming_big5_rather_than_read_as_gb18030_nonsense(tmp_path, tiny_tables):
    tables = text_tables(tiny_tables)
    tables["suppliers"] = tables["suppliers"].with_columns(name=pl.lit("臺灣鮮果貿易有限公司"))
    raw = write_csv(tmp_path / "raw", tables)
    text = (raw / "suppliers.csv").read_text(encoding="utf-8")
    (raw / "suppliers.csv").write_bytes(text.encode("big5"))  # a supplier in Taiwan
    message = fatal(raw, Home(tmp_path / "home"))
    assert message.startswith("suppliers.csv: expected UTF-8 text; line 2 holds bytes that are not UTF-8")
    assert "read as GB18030/GBK it gives nonsense (6 private-use characters (U+E000-U+F8FF)" in message
    assert "the file looks like Big5 (traditional Chinese" in message and "re-save it as UTF-8" in message


def test_a_utf16_csv_is_named_as_excels_unicode_text(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    (raw / "groups.csv").write_bytes((raw / "groups.csv").read_text(encoding="utf-8").encode("utf-16"))
    message = fatal(raw, Home(tmp_path / "home"))
    assert message.startswith("groups.csv: expected UTF-8 text; line 1 holds bytes that are not UTF-8 (ff fe")
    assert "the file is UTF-16 (little-endian, byte order mark ff fe), as Excel's 'Unicode Text' saves " \
           "it" in message


def test_a_csv_that_turns_from_utf8_into_gbk_names_the_line(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    header, g1, g2, *rest = (raw / "groups.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    assert "杭州西湖宝妈团" in g1 and "滨江特价群" in g2
    (raw / "groups.csv").write_bytes((header + g1).encode("utf-8") + "".join([g2, *rest]).encode("gbk"))
    message = fatal(raw, Home(tmp_path / "home"))
    assert message.startswith("groups.csv: expected UTF-8 text; line 3 holds bytes that are not UTF-8")
    assert "the file mixes two encodings, UTF-8 up to line 2 and GB18030/GBK from line 3" in message


# --- 4. accepted values in another case ------------------------------------------------------------


def test_accepted_values_match_in_any_case_and_are_stored_as_the_contract_writes_them(tmp_path, tiny_tables):
    tables = text_tables(tiny_tables)
    tables["orders"] = renamed(tables["orders"], "status", {"paid": "Paid", "cancelled": " CANCELLED ",
                                                            "refunded": "Refunded "})
    tables["groups"] = renamed(tables["groups"], "kind", {"hot_items": "Hot_Items", "deals": "DEALS"})
    tables["shopkeepers"] = renamed(tables["shopkeepers"], "tier", {"a": "A"})
    tables["feedback"] = renamed(tables["feedback"], "action", {"posted": "Posted"})
    home = Home(tmp_path / "home")
    report = ingest(write_csv(tmp_path / "raw", tables), home)
    assert sum(c.quarantined for c in report.tables.values()) == 0
    assert query(home, "SELECT status, count(*) FROM orders GROUP BY 1 ORDER BY 1") == [
        ("cancelled", 1), ("paid", 6), ("refunded", 1)]
    assert query(home, "SELECT kind FROM groups ORDER BY group_id") == [("hot_items",), ("deals",), (None,)]
    assert query(home, "SELECT tier FROM shopkeepers ORDER BY 1") == [("a",), ("b",)]
    assert ("posted",) in query(home, "SELECT action FROM feedback")
    again = run_ingest(tmp_path / "raw", home, run_date=TINY_END).to_json()["tables"]["orders"]
    assert again == {"read": 8, "loaded": 0, "duplicates": 8, "quarantined": 0}


# --- 5. dates and booleans as Chinese exports write them; epoch numbers ----------------------------


def test_chinese_dates_and_shi_fou_are_read(tmp_path, tiny_tables):
    tables = text_tables(tiny_tables)
    orders, products = tables["orders"], tables["products"]
    tables["orders"] = orders.with_columns(
        ordered_at=pl.when(pl.col("order_id") == "O3").then(pl.lit("2026年1月9日 10:00"))
        .otherwise(pl.col("ordered_at")))
    tables["products"] = products.with_columns(
        launched_on=pl.when(pl.col("product_id") == "P1").then(pl.lit("2025年6月1日"))
        .otherwise(pl.col("launched_on")),
        is_standard=pl.when(pl.col("is_standard") == "true").then(pl.lit("是")).otherwise(pl.lit("否")))
    home = Home(tmp_path / "home")
    report = ingest(write_csv(tmp_path / "raw", tables), home)
    assert sum(c.quarantined for c in report.tables.values()) == 0
    (ordered,) = query(home, "SELECT ordered_at FROM orders WHERE order_id = 'O3'")
    assert ordered[0] == datetime(2026, 1, 9, 10, 0, tzinfo=SH)
    assert query(home, "SELECT product_id, CAST(launched_on AS VARCHAR), is_standard FROM products "
                       "ORDER BY 1") == [("P1", "2025-06-01", True), ("P2", "2025-06-01", True),
                                         ("P3", "2025-09-01", True), ("P4", "2025-12-01", False)]


def test_an_epoch_number_in_a_timestamp_column_is_named_as_one(tmp_path, tiny_tables):
    tables = text_tables(tiny_tables)
    epochs = {"O1": "1767837600", "O2": "1767837600000"}
    tables["orders"] = tables["orders"].with_columns(
        ordered_at=pl.col("order_id").replace_strict(epochs, default=pl.col("ordered_at")))
    home = Home(tmp_path / "home")
    ingest(write_csv(tmp_path / "raw", tables), home)
    assert query(home, "SELECT row_number, rule, detail FROM quarantine ORDER BY 1") == [
        (1, "bad_type", "column 'ordered_at' must be a timestamp; got '1767837600', which looks like "
                        "epoch seconds (a Unix time): write it as YYYY-MM-DD HH:MM:SS (+08:00 optional)"),
        (2, "bad_type", "column 'ordered_at' must be a timestamp; got '1767837600000', which looks like "
                        "epoch milliseconds (a Unix time): write it as YYYY-MM-DD HH:MM:SS "
                        "(+08:00 optional)")]


# --- 7. what Excel leaves around a table ------------------------------------------------------------


def test_excel_artefacts_unnamed_columns_blank_rows_and_a_totals_row(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    header, *rows = (raw / "orders.csv").read_text(encoding="utf-8").splitlines()
    lines = [header + ",,", *(r + ",," for r in rows), "," * 11, "合计,,,,,13,,,,,,"]
    (raw / "orders.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    home = Home(tmp_path / "home")
    report = ingest(raw, home)
    assert report.to_json()["tables"]["orders"] == {"read": 9, "loaded": 8, "duplicates": 0, "quarantined": 1}
    assert "orders.csv: 2 unnamed columns (empty header cells) at positions 11 (K), 12 (L); ignored (cells " \
           "a spreadsheet left behind?)" in report.warnings
    assert not [w for w in report.warnings if "column10" in w]
    assert any(w.startswith("orders.csv: 1 row with every field empty (a spreadsheet's blank row) skipped, "
                            "not counted as read") for w in report.warnings)
    assert query(home, "SELECT row_number, rule, detail FROM quarantine") == [
        (10, "null_required", "column 'member_id' is required; got an empty value (the row looks like "
                              "a totals row, 合计 / Total, that a spreadsheet adds under the data: leave it "
                              "out of the export)")]


# --- 8. nothing usable went in ----------------------------------------------------------------------


def test_nothing_usable_names_an_empty_raw_and_a_required_table_wholly_quarantined(tmp_path, tiny_tables,
                                                                                   write_raw):
    home = Home(tmp_path / "home")
    assert ingest(write_raw(tmp_path / "raw", tiny_tables), home).nothing_usable() == []
    empty = tmp_path / "empty"
    empty.mkdir()
    assert ingest(empty, home).nothing_usable() == [
        "no file of a contract table was read from RAW (nothing to load)"]
    tiny_tables["orders"] = tiny_tables["orders"].with_columns(group_id=pl.lit("G9"))
    bad = write_raw(tmp_path / "bad", {"orders": tiny_tables["orders"]})
    assert ingest(bad, home).nothing_usable() == [
        "orders: all 8 rows read were quarantined, none loaded"]


def test_an_integer_parquet_timestamp_column_is_fatal_naming_epoch_times(tmp_path, tiny_tables, write_raw):
    epoch_ms = pl.col("ordered_at").dt.epoch("ms")  # what an export of a Java timestamp writes
    tiny_tables["orders"] = tiny_tables["orders"].with_columns(ordered_at=epoch_ms)
    raw = write_raw(tmp_path / "raw", tiny_tables)
    with pytest.raises(SchemaError) as caught:
        run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    message = str(caught.value)
    assert message.startswith("orders.parquet: column 'ordered_at' has Parquet type BIGINT; expected a "
                              "timestamp")
    assert message.endswith("; integers in a time column look like epoch seconds or milliseconds, which are "
                            "not read (the unit and zone are a guess): write the column as a timestamp type")

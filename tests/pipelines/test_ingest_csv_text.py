"""CSV text the engines cannot read as it is: GB18030/GBK files are read (with a note), others are
fatal with a message naming the file, the line and what was expected; an empty file says so."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from common.errors import UnparseableFileError
from common.home import Home
from pipelines.ingest import run_ingest
from pipelines.ingest.csv_text import csv_problem
from tests.pipelines.conftest import TINY_END
from tests.pipelines.ingest_helpers import query


def csv_raw(tmp_path: Path, tables: dict[str, pl.DataFrame], write_raw) -> Path:
    return write_raw(tmp_path / "raw", tables, fmt="csv")


def fatal(raw: Path, home: Home) -> str:
    with pytest.raises(UnparseableFileError) as caught:
        run_ingest(raw, home, run_date=TINY_END)
    return str(caught.value)


def test_a_gbk_csv_is_read_as_gb18030_with_a_note(tmp_path, tiny_tables, write_raw):
    raw = csv_raw(tmp_path, tiny_tables, write_raw)
    groups = raw / "groups.csv"
    groups.write_bytes(groups.read_text(encoding="utf-8").encode("gbk"))  # as Chinese Excel saves it
    home = Home(tmp_path / "home")
    report = run_ingest(raw, home, run_date=TINY_END)
    assert report.to_json()["tables"]["groups"] == {"read": 3, "loaded": 3, "duplicates": 0, "quarantined": 0}
    assert query(home, "SELECT name FROM groups WHERE group_id = 'G1'") == [("杭州西湖宝妈团",)]
    assert any(w.startswith("groups.csv: not UTF-8 (from line 2); read as GB18030") for w in report.warnings)
    again = run_ingest(raw, home, run_date=TINY_END).to_json()["tables"]["groups"]
    assert again == {"read": 3, "loaded": 0, "duplicates": 3, "quarantined": 0}  # the same rows


def test_text_neither_utf8_nor_gb18030_is_fatal_naming_the_line(tmp_path, tiny_tables, write_raw):
    raw = csv_raw(tmp_path, tiny_tables, write_raw)
    text = (raw / "groups.csv").read_bytes()
    (raw / "groups.csv").write_bytes(text.replace(b"Hangzhou", b"Hangzhou \xff", 1))  # 0xff: in neither
    message = fatal(raw, Home(tmp_path / "home"))
    assert message.startswith("groups.csv: expected UTF-8 text; line 2 holds bytes that are not UTF-8")
    assert "not GB18030/GBK either; re-save it as UTF-8" in message


def test_a_row_with_extra_fields_names_file_line_and_field_counts(tmp_path, tiny_tables, write_raw):
    raw = csv_raw(tmp_path, tiny_tables, write_raw)
    lines = (raw / "orders.csv").read_text().splitlines()
    lines[4] += ",extra,more"  # line 5 of the file: the 4th data row
    (raw / "orders.csv").write_text("\n".join(lines) + "\n")
    assert fatal(raw, Home(tmp_path / "home")) == (
        "orders.csv: cannot be read as CSV: line 5 (data row 4) has 12 fields; expected 10, as many as "
        "the header line names")


def test_a_short_row_far_into_the_file_names_its_line(tmp_path, tiny_tables, write_raw):
    """Beyond the sniffer's sample the break is found while loading: the same message."""
    orders = pl.concat([tiny_tables["orders"]] * 5000).with_columns(
        (pl.lit("N") + pl.int_range(pl.len()).cast(pl.String)).alias("order_id"))
    tiny_tables["orders"] = orders
    raw = csv_raw(tmp_path, tiny_tables, write_raw)
    lines = (raw / "orders.csv").read_text().splitlines()
    lines[35_000] = lines[35_000].rsplit(",", 2)[0]
    (raw / "orders.csv").write_text("\n".join(lines) + "\n")
    home = Home(tmp_path / "home")
    assert fatal(raw, home) == ("orders.csv: cannot be read as CSV: line 35001 (data row 35000) has 8 "
                                "fields; expected 10, as many as the header line names")
    assert not home.warehouse.exists()  # a new home: nothing written


def test_an_empty_csv_says_it_is_empty(tmp_path, tiny_tables, write_raw):
    raw = csv_raw(tmp_path, tiny_tables, write_raw)
    (raw / "products.csv").write_text("")
    assert fatal(raw, Home(tmp_path / "home")) == (
        "products.csv: the file is empty; expected a header line naming the columns (product_id, "
        "supplier_id, name, category, price, is_standard, launched_on), then one line per row")


def test_an_empty_parquet_file_says_it_is_empty(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    (raw / "products.parquet").write_bytes(b"")
    assert fatal(raw, Home(tmp_path / "home")).startswith("products.parquet: the file is empty (0 bytes)")


def test_a_header_only_csv_is_no_error(tmp_path, tiny_tables, write_raw):
    raw = csv_raw(tmp_path, tiny_tables, write_raw)
    (raw / "feedback.csv").write_text(",".join(tiny_tables["feedback"].columns) + "\n")
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    assert report.to_json()["tables"]["feedback"]["read"] == 0


@pytest.mark.parametrize(("text", "problem"), [
    ("a,b\n1,2\n\n3,4\n", None),  # a blank line is skipped, as the engines skip it
    ("a,b\r\n1,2\r\n", None),
    ("\ufeffa,b\n1,2\n", None),
    ("a,b\n1,2\n   \n", "line 3 (data row 2) has 1 field; expected 2, as many as the header line names"),
    ('a,b\n1,"2\n3,4\n', 'line 2: a quoted field opens here and is never closed (a missing closing ")'),
    ('a,b\n1,"2"x\n', 'line 2: a closing " is followed by more text; expected a comma or the end of the '
                      'line (write a " inside a quoted field as "")'),
])
def test_csv_problem_names_the_line_and_what_is_wrong(tmp_path, text, problem):
    path = tmp_path / "t.csv"
    path.write_text(text, encoding="utf-8", newline="")
    assert csv_problem(path) == problem


def test_column_names_written_with_spaces_or_hyphens_between_words_match(tmp_path, tiny_tables, write_raw):
    """A spreadsheet's header `Order ID`, `Member-ID` was "required column 'order_id' is missing"."""
    raw = csv_raw(tmp_path, tiny_tables, write_raw)
    path = raw / "orders.csv"
    header, rest = path.read_text(encoding="utf-8").split("\n", 1)
    header = header.replace("order_id", "Order ID").replace("member_id", "Member-ID").replace(
        "unit_price", " UNIT  PRICE ")
    path.write_text(f"{header}\n{rest}", encoding="utf-8")
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    counts = report.tables["orders"]
    assert counts.loaded == len(tiny_tables["orders"]) and counts.quarantined == 0


def test_a_display_column_beside_the_contract_column_is_ignored_not_fatal(tmp_path, tiny_tables, write_raw):
    """`order_id` beside a display column `Order ID`, and two unknown `Ship To` / `ship-to`, loaded
    before spaces and hyphens matched: they still do, the column written as the contract writes it wins."""
    raw = csv_raw(tmp_path, tiny_tables, write_raw)
    path = raw / "orders.csv"
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    lines = [lines[0] + ",Order ID,Ship To,ship-to"] + [line + ",x,y,z" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    assert report.tables["orders"].loaded == len(tiny_tables["orders"])
    assert query(Home(tmp_path / "home"), "SELECT count(*) FROM orders WHERE order_id = 'x'") == [(0,)]

"""Which files are read: names match case-insensitively, near misses get a hint, a table delivered
twice or without rows is said out loud."""

from __future__ import annotations

import pytest

from common.errors import SchemaError
from common.home import Home
from pipelines.ingest import run_ingest
from tests.pipelines.conftest import TINY_END


def test_table_file_names_match_case_insensitively(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    (raw / "orders.csv").rename(raw / "Orders.CSV")
    home = Home(tmp_path / "home")
    report = run_ingest(raw, home, run_date=TINY_END)
    assert report.tables["orders"].loaded == tiny_tables["orders"].height
    assert not [w for w in report.warnings if "Orders.CSV" in w]


def test_two_files_differing_only_by_case_are_fatal(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    (raw / "Orders.csv").write_bytes((raw / "orders.csv").read_bytes())
    if len(list(raw.glob("*rders.csv"))) < 2:
        pytest.skip("a case-insensitive file system")
    with pytest.raises(SchemaError, match=r"Orders.csv and orders.csv differ only by case"):
        run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)


@pytest.mark.parametrize(("name", "hint"), [
    ("order.csv", "; did you mean orders.csv?"),
    ("notes.csv", ""),
    ("orders_2011-12.csv", "; did you mean a part of orders? parts go in a folder orders/ "
                           "(orders/orders_2011-12.csv)"),
    ("prodcts.parquet", "; did you mean products.parquet?"),
])
def test_a_stray_file_close_to_a_table_gets_a_hint(tmp_path, tiny_tables, write_raw, name, hint):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    (raw / name).write_text("a,b\n1,2\n")
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    assert f"{name}: not a contract table; ignored{hint}" in report.warnings


def test_a_table_in_an_unreadable_format_says_so(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    (raw / "feedback.xlsx").write_bytes(b"PK\x03\x04")
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    assert "feedback.xlsx: not .csv or .parquet; ignored (save it as CSV UTF-8 or Parquet)" in report.warnings


def test_a_required_table_in_an_unreadable_format_or_folder_is_named_so(tmp_path, tiny_tables, write_raw):
    """suppliers.xlsx was told "did you mean a part of suppliers? parts go in a folder suppliers/", and
    a folder suppliers/ of .tsv files "did you mean suppliers/?": advice that fails again."""
    raw = write_raw(tmp_path / "raw", tiny_tables)
    (given,) = raw.glob("suppliers.*")
    given.rename(raw / "suppliers.xlsx")
    with pytest.raises(SchemaError) as refused:
        run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    said = "suppliers.xlsx: not .csv or .parquet, so not read; save it as CSV UTF-8 or Parquet"
    assert said in str(refused.value)
    (raw / "suppliers.xlsx").unlink()
    (raw / "suppliers").mkdir()
    (raw / "suppliers" / "part.tsv").write_text("supplier_id\tname\n")
    with pytest.raises(SchemaError) as refused:
        run_ingest(raw, Home(tmp_path / "home2"), run_date=TINY_END)
    assert "suppliers: the folder holds no .csv or .parquet file (found: part.tsv)" in str(refused.value)
    assert "did you mean" not in str(refused.value)


def test_a_table_given_as_csv_and_parquet_warns_naming_both(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    tiny_tables["orders"].write_csv(raw / "orders.csv")
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    counts = report.tables["orders"]
    n = tiny_tables["orders"].height
    assert (counts.read, counts.loaded, counts.duplicates) == (2 * n, n, n)
    [warning] = [w for w in report.warnings if "both hold" in w]
    assert warning.startswith("orders.csv and orders.parquet both hold table orders: each was read")


def test_a_required_table_with_a_header_and_no_rows_is_a_loud_warning(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    (raw / "orders.parquet").unlink()
    (raw / "orders.csv").write_text(",".join(tiny_tables["orders"].columns) + "\n")
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    alert = ("WARNING: orders.csv has a header but no data rows; nothing of orders was read "
             "(an export cut short?)")
    assert report.alerts() == [alert]
    assert report.to_json()["warnings"][0] == alert
    assert report.render().endswith(alert)


def test_an_optional_table_without_rows_is_a_plain_warning(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    (raw / "posts.parquet").unlink()
    (raw / "posts.csv").write_text(",".join(tiny_tables["posts"].columns) + "\n")
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    assert report.alerts() == []
    assert "posts.csv has a header but no data rows; nothing of posts was read" in report.warnings

"""Fatal input stops `circlebuy ingest` with exit 2, a message naming file and column, and no writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

from common.home import Home
from tests.pipelines.conftest import TINY_END
from tests.pipelines.ingest_helpers import query

CIRCLEBUY = Path(sys.executable).parent / "circlebuy"


def circlebuy_ingest(raw: Path, home: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CIRCLEBUY), "ingest", str(raw), "--home", str(home), "--now", TINY_END.isoformat(), *extra],
        capture_output=True, text=True, timeout=120,
    )


def assert_nothing_loaded(home: Path) -> None:
    if Home(home).warehouse.exists():
        for table in ("suppliers", "products", "groups", "orders", "quarantine"):
            assert query(Home(home), f"SELECT count(*) FROM {table}") == [(0,)], table


def test_json_summary_on_success(tmp_path, tiny_tables, write_raw):
    result = circlebuy_ingest(write_raw(tmp_path / "raw", tiny_tables), tmp_path / "home", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["tables"]["orders"] == {"read": 8, "loaded": 8, "duplicates": 0, "quarantined": 0}


def test_unparseable_parquet_is_fatal(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    (raw / "orders.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    result = circlebuy_ingest(raw, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "orders.parquet" in result.stderr and "cannot be read as PARQUET" in result.stderr
    assert "Traceback" not in result.stderr
    assert_nothing_loaded(tmp_path / "home")


def test_csv_broken_far_into_the_file_is_fatal_and_rolls_back(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", {k: v for k, v in tiny_tables.items() if k != "orders"})
    orders = tiny_tables["orders"]
    many = pl.concat([orders] * 5000).with_columns(
        (pl.lit("N") + pl.int_range(pl.len()).cast(pl.String)).alias("order_id"))
    text = many.write_csv()
    lines = text.splitlines()
    lines[35_000] += ',"an extra field'  # beyond the sniffer's sample: found only while loading
    (raw / "orders.csv").write_text("\n".join(lines) + "\n")
    result = circlebuy_ingest(raw, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "orders.csv" in result.stderr and "cannot be read as CSV" in result.stderr
    assert_nothing_loaded(tmp_path / "home")  # suppliers etc. were loaded earlier in the same transaction


def test_missing_required_table_is_fatal_on_an_empty_warehouse(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", {k: v for k, v in tiny_tables.items() if k != "orders"})
    result = circlebuy_ingest(raw, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "required table 'orders' is missing" in result.stderr
    assert_nothing_loaded(tmp_path / "home")


def test_a_missing_required_table_names_the_file_that_may_be_it(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    (raw / "orders.csv").rename(raw / "order.csv")
    result = circlebuy_ingest(raw, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "required table 'orders' is missing" in result.stderr
    assert "order.csv: did you mean orders.csv?" in result.stderr


def test_missing_required_column_is_fatal(tmp_path, tiny_tables, write_raw):
    tiny_tables["orders"] = tiny_tables["orders"].drop("quantity")
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    result = circlebuy_ingest(raw, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "orders.csv" in result.stderr and "required column 'quantity' is missing" in result.stderr
    assert_nothing_loaded(tmp_path / "home")


def test_a_tab_or_semicolon_separated_file_is_named_as_such(tmp_path, tiny_tables, write_raw):
    """A header read as one column: say which separator the file seems to use, not only that every
    column is missing."""
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    for sep, word in (("\t", "tab-separated"), (";", "semicolon-separated")):
        text = (raw / "suppliers.csv").read_text(encoding="utf-8")
        (raw / "suppliers.csv").write_text(text.replace(",", sep) if "," in text else text, encoding="utf-8")
        result = circlebuy_ingest(raw, tmp_path / f"home-{word}")
        assert result.returncode == 2, result.stderr
        assert "suppliers.csv: required column 'supplier_id' is missing" in result.stderr
        assert f"this file looks {word}" in result.stderr and "comma-separated" in result.stderr
        (raw / "suppliers.csv").write_text(text, encoding="utf-8")
        assert_nothing_loaded(tmp_path / f"home-{word}")


def test_a_column_given_twice_in_a_csv_header_is_fatal_not_the_first_copy_silently(
        tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    text = (raw / "products.csv").read_text().splitlines()
    # the last column repeated, header and rows (DuckDB reads it as `<name>_1`, which was then ignored)
    twice = [f"{line},{line.rsplit(',', 1)[-1]}" for line in text]
    (raw / "products.csv").write_text("\n".join(twice) + "\n")
    last = text[0].rsplit(",", 1)[-1]
    result = circlebuy_ingest(raw, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert f"products.csv: column {last!r} appears twice in the header" in result.stderr
    assert_nothing_loaded(tmp_path / "home")


def test_a_header_with_empty_trailing_cells_still_loads(tmp_path, tiny_tables, write_raw):
    # a spreadsheet's export: "supplier_id,name,," — the empty names are no repeated contract column
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    lines = (raw / "suppliers.csv").read_text().splitlines()
    (raw / "suppliers.csv").write_text("\n".join(f"{line},," for line in lines) + "\n")
    result = circlebuy_ingest(raw, tmp_path / "home")
    assert result.returncode == 0, result.stderr


def test_wrongly_typed_parquet_column_is_fatal(tmp_path, tiny_tables, write_raw):
    tiny_tables["orders"] = tiny_tables["orders"].with_columns(pl.col("quantity").cast(pl.String))
    raw = write_raw(tmp_path / "raw", tiny_tables)
    result = circlebuy_ingest(raw, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert "orders.parquet" in result.stderr and "'quantity'" in result.stderr
    assert "expected an integer" in result.stderr
    assert_nothing_loaded(tmp_path / "home")


def test_json_on_a_fatal_error_is_an_object_with_fatal_set(tmp_path, tiny_tables, write_raw):
    tiny_tables["orders"] = tiny_tables["orders"].drop("quantity")
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    result = circlebuy_ingest(raw, tmp_path / "home", "--json")
    assert result.returncode == 2, result.stderr
    payload = json.loads(result.stdout)
    assert payload["fatal"].startswith("orders.csv: required column 'quantity' is missing")
    assert payload["tables"] == {} and payload["files"] == 0
    assert f"error: {payload['fatal']}" in result.stderr and "Traceback" not in result.stderr


def test_a_fatal_error_on_a_new_home_leaves_no_warehouse(tmp_path, tiny_tables, write_raw):
    tiny_tables["orders"] = tiny_tables["orders"].drop("quantity")
    raw = write_raw(tmp_path / "raw", tiny_tables)
    result = circlebuy_ingest(raw, tmp_path / "home")
    assert result.returncode == 2, result.stderr
    assert not Home(tmp_path / "home").warehouse.exists()
    assert not Path(str(Home(tmp_path / "home").warehouse) + ".wal").exists()
    assert not (tmp_path / "home").exists()  # nor the folder, nor its run lock


def test_a_fatal_error_keeps_a_home_folder_that_was_there(tmp_path, tiny_tables, write_raw):
    home = tmp_path / "home"
    home.mkdir()
    result = circlebuy_ingest(write_raw(tmp_path / "raw", {"orders": tiny_tables["orders"]}), home)
    assert result.returncode == 2, result.stderr
    assert home.is_dir()


def test_a_home_that_is_a_file_is_bad_usage(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    result = circlebuy_ingest(raw, raw / "orders.parquet")
    assert result.returncode == 2, result.stderr
    assert "--home" in result.stderr and "exists and is not a folder" in result.stderr
    assert "unexpected error" not in result.stderr


def test_a_fatal_error_keeps_a_warehouse_that_was_there(tmp_path, tiny_tables, write_raw):
    home = tmp_path / "home"
    assert circlebuy_ingest(write_raw(tmp_path / "good", tiny_tables), home).returncode == 0
    bad = write_raw(tmp_path / "bad", {"orders": tiny_tables["orders"].drop("quantity")})
    result = circlebuy_ingest(bad, home)
    assert result.returncode == 2, result.stderr
    assert query(Home(home), "SELECT count(*) FROM orders") == [(8,)]

"""`circlebuy import online-retail`: the mapping of a small Online-Retail-shaped file, row accounting,
named errors, and the real file (fast)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from common.contract import PLATFORM_TZ, TABLES
from common.errors import SchemaError, UnparseableFileError, UsageError
from pipelines.importers.online_retail import SUPPLIER_ID, run_import

REPO = Path(__file__).resolve().parents[2]
REAL_FILE = Path(os.environ.get(
    "CIRCLEBUY_ONLINE_RETAIL", REPO.parent / "shared" / "data" / "online-retail" / "online_retail.parquet"
))

UK = "United Kingdom"
HEART = "WHITE HANGING HEART T-LIGHT HOLDER"
# InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
LINES = [
    ("536365", "85123A", HEART, 6, "2010-12-01 08:26", 2.55, 17850, UK),
    ("536365", "71053", "WHITE METAL LANTERN", 12, "2010-12-01 08:26", 3.39, 17850, "United Kingdom"),
    ("536365", "POST", "POSTAGE", 1, "2010-12-01 08:26", 18.0, 17850, "United Kingdom"),
    ("536366", "85123a", HEART, 6, "2010-12-01 19:45", 2.65, 12583, "France"),
    ("536366", "22633", "HAND WARMER UNION JACK", 6, "2010-12-01 19:45", 0.0, 12583, "France"),
    ("536366", "22633", "HAND WARMER UNION JACK", 6, "2010-12-01 19:45", 0.0, 12583, "France"),
    ("C536367", "71053", "WHITE METAL LANTERN", -12, "2010-12-02 09:00", 3.39, 17850, "United Kingdom"),
    ("C536368", "85123A", HEART, -2, "2010-12-02 10:00", 2.65, 12583, "France"),
    ("C536369", "22633", "HAND WARMER UNION JACK", -4, "2010-12-02 11:00", 2.1, 99999, "Germany"),
    ("C536370", "M", "Manual", -1, "2010-12-02 12:00", 5.0, None, "United Kingdom"),
    ("536371", "21777", None, -10, "2010-12-03 10:00", 0.0, None, "United Kingdom"),
    ("536372", "22633", "HAND WARMER RED", 3, "2010-12-03 16:30", 2.1, None, "United Kingdom"),
    ("536373", "gift_0001_20", "Dotcomgiftshop Gift Voucher £20.00", 1, "2010-12-03 17:00", 16.67, None,
     "United Kingdom"),
    ("A563186", "B", "Adjust bad debt", 1, "2011-08-12 14:51", -11062.06, None, "United Kingdom"),
    ("536374", "22633", "HAND WARMER UNION JACK", 80995, "2011-12-09 09:15", 2.08, 12583, "United Kingdom"),
    ("C536375", "22633", "HAND WARMER UNION JACK", -90000, "2011-12-09 09:27", 2.08, 12583, "United Kingdom"),
]


def write_source(path: Path, lines: list[tuple] = LINES) -> Path:
    frame = pl.DataFrame(
        [
            {"InvoiceNo": a, "StockCode": b, "Description": c, "Quantity": float(d),
             "InvoiceDate": datetime.fromisoformat(e), "UnitPrice": f,
             "CustomerID": None if g is None else float(g), "Country": h}
            for a, b, c, d, e, f, g, h in lines
        ],
        schema={"InvoiceNo": pl.String, "StockCode": pl.String, "Description": pl.String,
                "Quantity": pl.Float64, "InvoiceDate": pl.Datetime("us"), "UnitPrice": pl.Float64,
                "CustomerID": pl.Float64, "Country": pl.String},
    )
    frame.write_parquet(path)
    return path


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> tuple[dict, dict[str, pl.DataFrame]]:
    root = tmp_path_factory.mktemp("or")
    summary = run_import(write_source(root / "or.parquet"), root / "raw")
    tables = {name: pl.read_parquet(root / "raw" / f"{name}.parquet") for name in summary["tables"]}
    return summary, tables


def orders_by_id(tables: dict[str, pl.DataFrame]) -> dict[str, dict]:
    return {row["order_id"]: row for row in tables["orders"].iter_rows(named=True)}


def test_every_invoice_line_is_one_order_row_with_contract_types(imported):
    """One row per line, and one more per sale partly cancelled: its cancelled units (`-n`)."""
    summary, tables = imported
    split = summary["dirt"]["sales_partly_netted"]
    assert summary["input_rows"] + split == len(LINES) + split == summary["tables"]["orders"]
    assert summary["tables"]["orders"] == tables["orders"].height == tables["orders"]["order_id"].n_unique()
    for name, frame in tables.items():
        assert frame.schema == pl.Schema(TABLES[name].polars_schema()), name
    assert set(summary["tables"]) == {
        "suppliers", "products", "shopkeepers", "groups", "memberships", "orders"
    }


def test_order_ids_number_lines_within_the_invoice_in_file_order(imported):
    _, tables = imported
    ids = tables["orders"]["order_id"].to_list()
    assert ids[:7] == ["536365-1", "536365-2", "536365-3", "536366-1", "536366-1-n", "536366-2", "536366-3"]
    assert ids[7] == "C536367-1"
    # an exact repeat of a line keeps its own line number: two order rows, both loaded
    rows = orders_by_id(tables)
    assert rows["536366-2"]["quantity"] == rows["536366-3"]["quantity"] == 6


def test_cancellations_net_their_sale_line(imported):
    summary, tables = imported
    rows = orders_by_id(tables)
    # full: 12 lanterns ordered, 12 cancelled -> the sale line is cancelled at the cancellation time
    assert rows["536365-2"]["status"] == "cancelled" and rows["536365-2"]["quantity"] == 12
    assert rows["536365-2"]["status_at"].replace(tzinfo=None) == datetime(2010, 12, 2, 9, 0)
    assert rows["C536367-1"]["status"] == "cancelled" and rows["C536367-1"]["quantity"] == 12
    # partial: 6 hearts (lower-case code folds into 85123A), 2 cancelled -> 4 paid, and the 2 cancelled
    # as a row of their own, placed with the sale and cancelled when the cancellation came: as of any
    # instant before it the sale counts 6 ("still paid at t"), after it 4
    assert rows["536366-1"]["product_id"] == "85123A"
    assert rows["536366-1"]["status"] == "paid" and rows["536366-1"]["quantity"] == 4
    part = rows["536366-1-n"]
    assert (part["status"], part["quantity"], part["product_id"]) == ("cancelled", 2, "85123A")
    assert part["ordered_at"] == rows["536366-1"]["ordered_at"]
    assert part["status_at"] == rows["C536368-1"]["ordered_at"] > part["ordered_at"]
    assert rows["C536368-1"]["status"] == "cancelled" and rows["C536368-1"]["quantity"] == 2
    # unmatched (no earlier sale for that customer): kept as a cancelled row, nothing netted
    assert rows["C536369-1"]["status"] == "cancelled" and rows["C536369-1"]["quantity"] == 4
    # huge quantity kept; an over-cancellation cancels the matched line only
    assert rows["536374-1"]["quantity"] == 80995 and rows["536374-1"]["status"] == "cancelled"
    assert rows["C536375-1"]["quantity"] == 90000
    dirt = summary["dirt"]
    assert dirt["cancellation_lines"] == 5
    assert dirt["cancellations_matched"] == 3 and dirt["cancellations_unmatched_with_customer"] == 1
    netted = (dirt["sales_fully_cancelled"], dirt["sales_partly_netted"], dirt["sales_over_cancelled"])
    assert netted == (2, 1, 1)
    assert dirt["huge_quantity_lines"] == 2
    paid = tables["orders"].filter(pl.col("status") == "paid")
    assert set(paid["order_id"]) == {"536365-1", "536365-3", "536366-1", "536366-2", "536366-3", "536372-1",
                                     "536373-1", "A563186-1", "536371-1"}


def test_dirt_is_left_for_ingestion_to_quarantine(imported):
    summary, tables = imported
    rows = orders_by_id(tables)
    products = set(tables["products"]["product_id"])
    # non-product codes are not products: their lines fail the product foreign key
    assert {"POST", "M", "GIFT_0001_20", "B"}.isdisjoint(products)
    assert rows["536365-3"]["product_id"] == "POST" and rows["536373-1"]["product_id"] == "GIFT_0001_20"
    # missing customer: member and group stay null (null_required), never a catch-all group
    for order_id in ("C536370-1", "536371-1", "536372-1", "536373-1", "A563186-1"):
        assert rows[order_id]["group_id"] is None and rows[order_id]["member_id"] is None
    assert not tables["groups"]["group_id"].str.contains("unknown").any()
    # a stock adjustment keeps its negative quantity (non_positive_quantity); bad debt its negative price
    assert rows["536371-1"]["quantity"] == -10 and "21777" not in products
    assert rows["A563186-1"]["unit_price"] == -11062.06
    # zero prices stay zero (allowed by the contract)
    assert rows["536366-2"]["unit_price"] == 0.0
    dirt = summary["dirt"]
    assert dirt["missing_customer_lines"] == 5 and dirt["non_product_code_lines"] == 4
    assert dirt["zero_price_lines"] == 3 and dirt["negative_price_lines"] == 1
    assert dirt["negative_quantity_sale_lines"] == 1 and dirt["undescribed_code_lines"] == 1
    assert dirt["exact_repeat_lines"] == 1


def test_customers_become_groups_members_and_shopkeepers(imported):
    _, tables = imported
    groups = {r["group_id"]: r for r in tables["groups"].iter_rows(named=True)}
    assert set(groups) == {"c17850", "c12583", "c99999"}
    # home country = the most frequent one (12583: 4 French lines, 2 UK lines)
    assert groups["c12583"]["city"] == "France" and groups["c12583"]["warehouse_id"] == "wh-france"
    assert groups["c17850"]["warehouse_id"] == "wh-united-kingdom"
    assert groups["c17850"]["shopkeeper_id"] == "s17850"
    assert groups["c17850"]["created_on"] == date(2010, 12, 1)
    assert groups["c99999"]["created_on"] == date(2010, 12, 2)
    members = tables["memberships"]
    assert members.height == 3 and set(members["member_id"]) == {"m17850", "m12583", "m99999"}
    assert set(tables["shopkeepers"]["shopkeeper_id"]) == {"s17850", "s12583", "s99999"}


def test_products_name_price_category_supplier(imported):
    _, tables = imported
    products = {r["product_id"]: r for r in tables["products"].iter_rows(named=True)}
    assert set(products) == {"85123A", "71053", "22633"}
    warmer = products["22633"]
    # name: the description most used on real sales; price: median positive price of those sales
    assert warmer["name"] == "HAND WARMER UNION JACK"
    assert warmer["price"] == 2.08 and warmer["launched_on"] == date(2010, 12, 1)
    assert products["85123A"]["price"] == pytest.approx(2.60)
    assert products["85123A"]["category"] == "candles_lighting"
    assert {p["supplier_id"] for p in products.values()} == {SUPPLIER_ID}
    assert all(p["is_standard"] for p in products.values())
    assert tables["suppliers"].to_dicts() == [{"supplier_id": SUPPLIER_ID,
                                               "name": tables["suppliers"]["name"][0]}]


def test_ordered_at_keeps_the_uk_wall_clock_and_day(imported):
    _, tables = imported
    rows = orders_by_id(tables)
    late = rows["536366-1"]["ordered_at"]  # 19:45 in London: still 1 December on the platform's clock
    assert str(late.tzinfo) == PLATFORM_TZ
    assert late.replace(tzinfo=None) == datetime(2010, 12, 1, 19, 45) and late.date() == date(2010, 12, 1)
    assert tables["orders"]["ordered_at"].dtype == pl.Datetime("us", PLATFORM_TZ)


def test_bad_inputs_raise_named_errors(tmp_path):
    with pytest.raises(UnparseableFileError, match="nope.parquet"):
        run_import(tmp_path / "nope.parquet", tmp_path / "raw")
    broken = tmp_path / "broken.parquet"
    broken.write_text("not parquet")
    with pytest.raises(UnparseableFileError, match="broken.parquet"):
        run_import(broken, tmp_path / "raw")
    no_country = tmp_path / "no_country.parquet"
    pl.read_parquet(write_source(tmp_path / "full.parquet")).drop("Country").write_parquet(no_country)
    with pytest.raises(SchemaError, match=r"no_country\.parquet: missing column 'Country'"):
        run_import(no_country, tmp_path / "raw")
    text_qty = tmp_path / "text_qty.parquet"
    pl.read_parquet(tmp_path / "full.parquet").with_columns(pl.col("Quantity").cast(pl.String)).write_parquet(
        text_qty
    )
    with pytest.raises(SchemaError, match="'Quantity' must be a number"):
        run_import(text_qty, tmp_path / "raw")
    stale = tmp_path / "stale"
    stale.mkdir()
    (stale / "posts.parquet").write_bytes(b"")
    with pytest.raises(UsageError, match="posts.parquet"):
        run_import(tmp_path / "full.parquet", stale)


def test_cli_exit_code_2_names_the_column(tmp_path):
    no_desc = tmp_path / "no_desc.parquet"
    pl.read_parquet(write_source(tmp_path / "full.parquet")).drop("StockCode").write_parquet(no_desc)
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "import", "online-retail", str(no_desc), "--out",
         str(tmp_path / "raw")],
        capture_output=True, text=True, cwd=REPO,
    )
    assert done.returncode == 2
    assert "no_desc.parquet" in done.stderr and "'StockCode'" in done.stderr


@pytest.fixture(scope="module")
def real_import(tmp_path_factory) -> dict:
    if not REAL_FILE.is_file():
        pytest.skip(f"real Online Retail file not present at {REAL_FILE} (set CIRCLEBUY_ONLINE_RETAIL)")
    return run_import(REAL_FILE, tmp_path_factory.mktemp("or-real") / "raw")


def test_real_file_imports_fast_and_accounts_for_every_line(real_import):
    summary = real_import
    raw = Path(summary["out"])
    assert summary["input_rows"] == 541_909
    assert summary["tables"]["orders"] == 541_909 + summary["dirt"]["sales_partly_netted"] == 546_412
    assert summary["seconds"] < 10
    dirt = summary["dirt"]
    assert dirt["cancellation_lines"] == 9_288 and dirt["missing_customer_lines"] == 135_080
    assert dirt["zero_price_lines"] == 2_515 and dirt["negative_price_lines"] == 2
    orders = pl.read_parquet(raw / "orders.parquet")
    assert orders["order_id"].n_unique() == 546_412
    assert orders.filter(pl.col("group_id").is_null()).height == 135_080
    assert (orders.filter(pl.col("order_id").str.starts_with("C"))["status"] == "cancelled").all()
    assert summary["tables"]["groups"] == 4_372


def test_ingesting_the_import_keeps_the_accounting_identity(imported, tmp_path):
    from common.home import Home
    from pipelines.ingest import run_ingest
    from pipelines.warehouse import connect

    summary, _ = imported
    home = Home(tmp_path / "home")
    report = run_ingest(Path(summary["out"]), home, run_date=date(2011, 12, 31)).to_json()
    for table, counts in report["tables"].items():
        assert counts["read"] == counts["loaded"] + counts["duplicates"] + counts["quarantined"], table
        assert counts["read"] == summary["tables"][table], table
    orders = report["tables"]["orders"]
    assert (orders["loaded"], orders["duplicates"], orders["quarantined"]) == (11, 0, 6)  # 536366-1-n
    con = connect(home, read_only=True)
    try:
        rules = dict(con.execute(
            "SELECT rule, count(*) FROM quarantine WHERE table_name = 'orders' GROUP BY rule"
        ).fetchall())
        # the UK day survives the trip through the warehouse (session zone = the platform's)
        late_day = con.execute(
            "SELECT CAST(CAST(ordered_at AS DATE) AS VARCHAR) FROM orders WHERE order_id = '536366-1'"
        ).fetchone()[0]
    finally:
        con.close()
    # no customer (5 lines: cancellation, adjustment, anonymous sale, voucher, bad debt) -> null_required;
    # postage with a known customer -> unknown_foreign_key
    assert rules == {"null_required": 5, "unknown_foreign_key": 1}
    assert late_day == "2010-12-01"


@pytest.mark.slow
def test_real_import_ingests_with_the_documented_counts(real_import, tmp_path):
    from common.home import Home
    from pipelines.ingest import run_ingest

    report = run_ingest(Path(real_import["out"]), Home(tmp_path / "home"), run_date=date(2011, 12, 31))
    tables = report.to_json()["tables"]
    for table, counts in tables.items():
        assert counts["read"] == counts["loaded"] + counts["duplicates"] + counts["quarantined"], table
    assert tables["orders"] == {"read": 546_412, "loaded": 409_383, "duplicates": 0, "quarantined": 137_029}
    assert report.to_json()["quarantine_rules"] == {
        "orders": {"null_required": 135_080, "unknown_foreign_key": 1_949}  # 33 of them netted parts
    }

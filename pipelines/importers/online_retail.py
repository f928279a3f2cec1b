"""`circlebuy import online-retail`: UCI Online Retail -> the raw contract (mapping in README.md).

Every invoice line becomes exactly one `orders` row; lines that break a contract rule (no customer,
a non-product stock code, a negative quantity or price) are kept as they are, so that ingestion
quarantines them under a named rule instead of them vanishing here. All work is vectorised polars.
"""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl

from common.contract import PLATFORM_TZ, TABLES
from common.errors import SchemaError, UnparseableFileError, UsageError
from common.home import make_folder
from pipelines.importers.categories import category_expr

# source column -> the dtype family we accept (checked, then cast)
SOURCE_COLUMNS: dict[str, str] = {
    "InvoiceNo": "str", "StockCode": "str", "Description": "str", "Quantity": "number",
    "InvoiceDate": "datetime", "UnitPrice": "number", "CustomerID": "number", "Country": "str",
}
# Stock codes that are fees, postage, adjustments or vouchers, not goods (compared upper-cased).
NON_PRODUCT_CODES = frozenset(
    {"POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK", "B"}
)
NON_PRODUCT_PATTERN = r"^GIFT_\d{4}_\d+$"  # gift vouchers, e.g. gift_0001_20
SUPPLIER_ID = "sup-online-retail"
SUPPLIER_NAME = "Online Retail wholesaler (UCI; makers not in the data)"
WRITTEN_TABLES = ("suppliers", "products", "shopkeepers", "groups", "memberships", "orders")
HUGE_QUANTITY = 10_000


def read_source(file: Path) -> pl.DataFrame:
    """Read and type-check the Online Retail file; named errors for anything unusable."""
    if not file.is_file():
        raise UnparseableFileError(f"{file}: no such file; expected the Online Retail parquet file")
    try:
        frame = pl.read_parquet(file)
    except Exception as exc:  # polars raises several types for corrupt / non-parquet input
        raise UnparseableFileError(
            f"{file}: cannot be read as Parquet ({type(exc).__name__}: {exc})"
        ) from None
    for name, family in SOURCE_COLUMNS.items():
        if name not in frame.columns:
            raise SchemaError(
                f"{file}: missing column {name!r}; expected the Online Retail columns {list(SOURCE_COLUMNS)}"
            )
        dtype = frame.schema[name]
        ok = {
            "str": dtype == pl.String,
            "number": dtype.is_numeric(),
            "datetime": isinstance(dtype, pl.Datetime) and dtype.time_zone is None,
        }[family]
        if not ok:
            want = {"str": "text", "number": "a number",
                    "datetime": "a naive datetime (UK local time)"}[family]
            raise SchemaError(f"{file}: column {name!r} must be {want}; got {dtype}")
    frame = frame.select(list(SOURCE_COLUMNS)).with_columns(
        pl.col("Quantity", "UnitPrice", "CustomerID").cast(pl.Float64),
        pl.col("InvoiceDate").cast(pl.Datetime("us")),
    )
    fractional = frame.select(
        pl.int_range(pl.len()).filter(pl.col("Quantity") != pl.col("Quantity").round()).first()
    ).item()
    if fractional is not None:
        raise SchemaError(f"{file}: column 'Quantity' must hold whole numbers; got "
                          f"{frame['Quantity'][fractional]} on row {fractional + 1}")
    return frame


def prepare_lines(src: pl.DataFrame) -> pl.DataFrame:
    """Add ids and times to each source line: row, line_no, product_id, customer, ordered_at, day."""
    customer = pl.col("CustomerID").cast(pl.Int64).cast(pl.String)
    return src.with_row_index("row").with_columns(
        line_no=pl.col("row").rank("ordinal").over("InvoiceNo").cast(pl.Int64),
        product_id=pl.col("StockCode").str.strip_chars().str.to_uppercase(),
        customer=customer,
        is_cancel=pl.col("InvoiceNo").str.starts_with("C"),
        quantity=pl.col("Quantity").cast(pl.Int64),
        # UK wall clock read as the platform zone's wall clock: the calendar day is the UK day
        ordered_at=pl.col("InvoiceDate").dt.replace_time_zone(PLATFORM_TZ),
        day=pl.col("InvoiceDate").dt.date(),
    ).with_columns(
        is_product=~(
            pl.col("product_id").is_in(list(NON_PRODUCT_CODES))
            | pl.col("product_id").str.contains(NON_PRODUCT_PATTERN)
        ),
    )


def match_cancellations(lines: pl.DataFrame) -> pl.DataFrame:
    """Each cancellation line (with a customer) -> the latest earlier sale line of the same customer
    and product (columns crow, orow, cancelled, cancel_at; orow null when nothing matches)."""
    # order key: minute of the invoice, then file order (row < 10**6), so ties resolve deterministically
    key = (pl.col("InvoiceDate").dt.epoch("s") // 60) * 1_000_000 + pl.col("row").cast(pl.Int64)
    sales = (
        lines.filter(~pl.col("is_cancel") & (pl.col("quantity") > 0) & pl.col("customer").is_not_null())
        .select("customer", "product_id", key.alias("key"), pl.col("row").alias("orow"))
        .sort("key")
    )
    cancels = (
        lines.filter(pl.col("is_cancel") & pl.col("customer").is_not_null())
        .select("customer", "product_id", key.alias("key"), pl.col("row").alias("crow"),
                pl.col("quantity").abs().alias("cancelled"), pl.col("ordered_at").alias("cancel_at"))
        .sort("key")
    )
    return cancels.join_asof(sales, on="key", by=["customer", "product_id"], strategy="backward",
                             check_sortedness=False)


def build_orders(lines: pl.DataFrame, matches: pl.DataFrame) -> pl.DataFrame:
    """One order row per invoice line; matched cancellations net their sale line (see README). A sale
    partly cancelled keeps its remainder `paid` and gets a second row, `<order_id>-n`, for the units
    cancelled: placed with the sale, `cancelled` at the (last) cancellation's time, so that as of any
    instant before it the whole sale counts as paid (netting the quantity itself would have told every
    earlier instant about a cancellation still to come)."""
    netting = (
        matches.filter(pl.col("orow").is_not_null())
        .group_by("orow")
        .agg(pl.col("cancelled").sum().alias("net_off"), pl.col("cancel_at").max().alias("last_cancel_at"))
        .rename({"orow": "row"})
    )
    frame = lines.join(netting, on="row", how="left")
    fully = pl.col("net_off").is_not_null() & (pl.col("net_off") >= pl.col("quantity"))
    partly = pl.col("net_off").is_not_null() & (pl.col("net_off") < pl.col("quantity"))
    order_id = pl.col("InvoiceNo") + "-" + pl.col("line_no").cast(pl.String)
    main = _order_rows(
        frame, 0, order_id,
        quantity=pl.when(pl.col("is_cancel")).then(pl.col("quantity").abs())
        .when(partly).then(pl.col("quantity") - pl.col("net_off")).otherwise(pl.col("quantity")),
        status=pl.when(pl.col("is_cancel") | fully).then(pl.lit("cancelled")).otherwise(pl.lit("paid")),
        status_at=pl.when(fully & ~pl.col("is_cancel")).then("last_cancel_at").otherwise("ordered_at"),
    )
    netted = _order_rows(frame.filter(partly & ~pl.col("is_cancel")), 1, order_id + "-n",
                         quantity=pl.col("net_off"), status=pl.lit("cancelled"),
                         status_at=pl.col("last_cancel_at"))
    return pl.concat([main, netted]).sort("row", "_part").drop("row", "_part")


def _order_rows(frame: pl.DataFrame, part: int, order_id: pl.Expr, *, quantity: pl.Expr, status: pl.Expr,
                status_at: pl.Expr) -> pl.DataFrame:
    """Order rows of invoice lines in the contract's column order (with `row`, `_part` to sort by)."""
    return frame.select(
        "row", pl.lit(part).alias("_part"),
        order_id=order_id,
        member_id="m" + pl.col("customer"),
        group_id="c" + pl.col("customer"),
        product_id="product_id",
        campaign_id=pl.lit(None, pl.String),
        quantity=quantity,
        unit_price="UnitPrice",
        ordered_at="ordered_at",
        status=status,
        status_at=status_at,
    )


def build_people(lines: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Customers -> one shopkeeper, one group (their circle) and one member each."""
    known = lines.filter(pl.col("customer").is_not_null())
    first_day = known.group_by("customer").agg(pl.col("day").min().alias("first_day"))
    home_country = (
        known.group_by("customer", "Country").len()
        .sort(["customer", "len", "Country"], descending=[False, True, False])
        .unique("customer", keep="first", maintain_order=True)
        .select("customer", "Country")
    )
    people = first_day.join(home_country, on="customer").sort(pl.col("customer").cast(pl.Int64))
    slug = pl.col("Country").str.to_lowercase().str.replace_all(r"[^a-z0-9]+", "-").str.strip_chars("-")
    return {
        "shopkeepers": people.select(
            shopkeeper_id="s" + pl.col("customer"), joined_on="first_day",
            tier=pl.lit(None, pl.String), invited_by=pl.lit(None, pl.String),
        ),
        "groups": people.select(
            group_id="c" + pl.col("customer"), shopkeeper_id="s" + pl.col("customer"),
            city="Country", warehouse_id="wh-" + slug, kind=pl.lit(None, pl.String),
            created_on="first_day", name=pl.lit(None, pl.String),
        ),
        "memberships": people.select(
            member_id="m" + pl.col("customer"), group_id="c" + pl.col("customer"),
            joined_on="first_day", left_on=pl.lit(None, pl.Date),
        ),
    }


def build_products(lines: pl.DataFrame) -> pl.DataFrame:
    """Goods stock codes that carry a description at least once -> products (see README)."""
    goods = lines.filter(pl.col("is_product"))
    sale = (
        ~pl.col("is_cancel") & pl.col("customer").is_not_null()
        & (pl.col("quantity") > 0) & (pl.col("UnitPrice") > 0)
    )
    names = (
        goods.filter(pl.col("Description").is_not_null())
        .group_by("product_id", "Description")
        .agg(sale.sum().alias("sales"), pl.len().alias("lines"))
        .sort(["product_id", "sales", "lines", "Description"], descending=[False, True, True, False])
        .unique("product_id", keep="first", maintain_order=True)
        .select("product_id", pl.col("Description").str.strip_chars().alias("name"))
    )
    facts = goods.group_by("product_id").agg(
        pl.col("UnitPrice").filter(sale).median().alias("sale_price"),
        pl.col("UnitPrice").filter(pl.col("UnitPrice") > 0).median().alias("any_price"),
        pl.col("day").min().alias("launched_on"),
    )
    return names.join(facts, on="product_id").sort("product_id").select(
        "product_id",
        supplier_id=pl.lit(SUPPLIER_ID),
        name="name",
        category=category_expr(pl.col("name")),
        subcategory=pl.lit(None, pl.String),
        brand=pl.lit(None, pl.String),
        price=pl.coalesce("sale_price", "any_price", pl.lit(0.0)).round(2),
        cost=pl.lit(None, pl.Float64),
        is_standard=pl.lit(True),
        launched_on="launched_on",
    )


def dirt_counts(lines: pl.DataFrame, matches: pl.DataFrame, products: pl.DataFrame) -> dict[str, int]:
    """How many lines carry each kind of known dirt, and how cancellations were netted."""
    per_sale = matches.filter(pl.col("orow").is_not_null()).group_by("orow").agg(pl.col("cancelled").sum())
    sale_qty = lines.select(pl.col("row").alias("orow"), "quantity")
    per_sale = per_sale.join(sale_qty, on="orow")
    is_goods_described = pl.col("product_id").is_in(products["product_id"].implode())
    counts = lines.select(
        input_lines=pl.len(),
        cancellation_lines=pl.col("is_cancel").sum(),
        missing_customer_lines=pl.col("customer").is_null().sum(),
        non_product_code_lines=(~pl.col("is_product")).sum(),
        undescribed_code_lines=(pl.col("is_product") & ~is_goods_described).sum(),
        zero_price_lines=(pl.col("UnitPrice") == 0).sum(),
        negative_price_lines=(pl.col("UnitPrice") < 0).sum(),
        negative_quantity_sale_lines=(~pl.col("is_cancel") & (pl.col("quantity") <= 0)).sum(),
        huge_quantity_lines=(pl.col("quantity").abs() >= HUGE_QUANTITY).sum(),
    ).row(0, named=True)
    # a line identical to an earlier one of the same invoice (kept: its own line number)
    counts["exact_repeat_lines"] = lines.height - lines.select(list(SOURCE_COLUMNS)).unique().height
    counts["cancellations_matched"] = matches.filter(pl.col("orow").is_not_null()).height
    counts["cancellations_unmatched_with_customer"] = matches.filter(pl.col("orow").is_null()).height
    counts["sales_fully_cancelled"] = per_sale.filter(pl.col("cancelled") >= pl.col("quantity")).height
    counts["sales_partly_netted"] = per_sale.filter(pl.col("cancelled") < pl.col("quantity")).height
    counts["sales_over_cancelled"] = per_sale.filter(pl.col("cancelled") > pl.col("quantity")).height
    return {k: int(v) for k, v in counts.items()}


def map_online_retail(src: pl.DataFrame) -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
    """Pure mapping: source frame -> contract tables (typed, in contract column order) and dirt counts."""
    lines = prepare_lines(src)
    matches = match_cancellations(lines)
    products = build_products(lines)
    tables = {
        "suppliers": pl.DataFrame({"supplier_id": [SUPPLIER_ID], "name": [SUPPLIER_NAME]}),
        "products": products,
        **build_people(lines),
        "orders": build_orders(lines, matches),
    }
    typed = {
        name: frame.select(TABLES[name].column_names).cast(TABLES[name].polars_schema())
        for name, frame in tables.items()
    }
    return typed, dirt_counts(lines, matches, products)


def check_out_folder(out: Path) -> None:
    """Refuse to mix our tables with other contract tables already in OUT (they would be ingested)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    stale = sorted(
        p.name for p in out.iterdir()
        if p.name.split(".")[0] in TABLES and p.name.split(".")[0] not in WRITTEN_TABLES
    )
    if stale:
        raise UsageError(f"--out {out}: already holds {stale}, which this import does not write; "
                         "use an empty folder")


def run_import(file: Path, out: Path) -> dict:
    """Convert FILE into parquet tables under OUT; returns {"tables": {name: rows}, "dirt": {...}, ...}."""
    started = time.perf_counter()
    file, out = Path(file), Path(out)
    check_out_folder(out)
    src = read_source(file)
    tables, dirt = map_online_retail(src)
    make_folder(out, "--out")
    for name, frame in tables.items():
        frame.write_parquet(out / f"{name}.parquet")
    return {
        "tables": {name: frame.height for name, frame in tables.items()},
        "input_rows": src.height,
        "dirt": dirt,
        "out": str(out),
        "seconds": time.perf_counter() - started,
    }

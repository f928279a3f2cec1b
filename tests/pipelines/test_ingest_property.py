"""Property tests: random malformed rows never break ingestion, and every bad row is quarantined."""

from __future__ import annotations

import shutil
import tempfile
from functools import cache
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.contract import ORDER_STATUSES, RULES, TABLES
from common.home import Home
from pipelines.ingest import run_ingest
from tests.pipelines.conftest import TINY_END, build_tiny_tables, write_raw_folder
from tests.pipelines.ingest_helpers import as_text, identity_holds, query, write_dirty_part

TINY = build_tiny_tables()
ORDER_TEXT = as_text(TINY["orders"])
COLUMNS = TABLES["orders"].column_names
REQUIRED = set(TABLES["orders"].required_columns)

junk_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")) | st.sampled_from([",", '"', "\n", " ", "'"]),
    max_size=12,
)
values = st.one_of(
    st.none(),
    st.just(""),
    junk_text,
    st.integers(-10**6, 0).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["P1", "P999", "G1", "G9", "C1", "C999", "paid", "PAID", "2026-01-09T10:00:00+08:00",
                     "2099-01-01", "1", "-1", "0", "2.5", "true"]),
)
row_edit = st.tuples(
    st.integers(0, ORDER_TEXT.height - 1),
    st.booleans(),  # give it a fresh order_id (else: same id as a clean row -> duplicate or conflict)
    st.dictionaries(st.sampled_from(COLUMNS), values, max_size=4),
)


@cache
def clean_warehouse() -> Path:
    """The tiny world ingested once; each example starts from a copy and ingests only its orders."""
    root = Path(tempfile.mkdtemp(prefix="ingest-property-"))
    run_ingest(write_raw_folder(root / "raw", TINY), Home(root / "home"), run_date=TINY_END)
    return root / "home" / "warehouse.duckdb"


def fresh_home(tmp: str) -> Home:
    home = Home(Path(tmp) / "home").ensure()
    shutil.copyfile(clean_warehouse(), home.warehouse)
    return home


def must_fail(row: dict[str, str | None]) -> bool:
    """An independent oracle for a few cases that are certainly bad (not a full re-implementation)."""
    def blank(v: str | None) -> bool:
        return v is None or v.strip() == ""
    if any(blank(row[c]) for c in REQUIRED):
        return True
    quantity = row["quantity"].strip()
    if not quantity.lstrip("+-").isdigit() or int(quantity) <= 0:
        return True
    if row["status"].strip().lower() not in ORDER_STATUSES:  # any case: PAID is paid
        return True
    return row["product_id"].strip() not in set(TINY["products"]["product_id"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(row_edit, min_size=1, max_size=8))
def test_random_malformed_rows_are_accounted_for_and_quarantined(edits):
    rows = []
    for n, (index, fresh, changes) in enumerate(edits):
        row = ORDER_TEXT.row(index, named=True) | changes
        if fresh and "order_id" not in changes:
            row["order_id"] = f"R{n}"
        rows.append(row)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        write_dirty_part(raw, "orders", TINY["orders"], rows)  # the clean part again: duplicates
        home = fresh_home(tmp)
        report = run_ingest(raw, home, run_date=TINY_END).to_json()
        assert identity_holds(report)
        counts = report["tables"]["orders"]
        assert counts["read"] == TINY["orders"].height + len(rows)
        assert counts["duplicates"] >= TINY["orders"].height
        quarantined = dict(query(home, "SELECT row_number, rule FROM quarantine "
                                       "WHERE source_file = 'orders/part-dirty.csv'"))
        assert len(quarantined) == counts["quarantined"]  # the clean part loads whole
        assert set(quarantined.values()) <= set(RULES)
        for number, row in enumerate(rows, start=1):
            if must_fail(row):
                assert number in quarantined, (number, row)
        # whatever was loaded obeys the contract
        assert query(home, "SELECT count(*) FROM orders WHERE quantity <= 0 OR unit_price < 0 OR "
                           "status NOT IN ('paid', 'cancelled', 'refunded') OR member_id IS NULL OR "
                           "product_id NOT IN (SELECT product_id FROM products)") == [(0,)]


typed_values = st.one_of(st.none(), st.integers(-5, 5))


@settings(max_examples=8, deadline=None)
@given(quantity=st.lists(typed_values, min_size=8, max_size=8),
       price=st.lists(st.one_of(st.none(), st.floats(-10, 10, allow_nan=False)), min_size=8, max_size=8))
def test_typed_parquet_nulls_and_negatives_are_quarantined(quantity, price):
    orders = TINY["orders"].with_columns(pl.Series("quantity", quantity, dtype=pl.Int64),
                                         pl.Series("unit_price", price, dtype=pl.Float64),
                                         ("Q" + pl.col("order_id")).alias("order_id"))
    with tempfile.TemporaryDirectory() as tmp:
        raw = write_raw_folder(Path(tmp) / "raw", {"orders": orders})
        home = fresh_home(tmp)
        counts = run_ingest(raw, home, run_date=TINY_END).tables["orders"]
        bad = sum(q is None or q <= 0 or p is None or p < 0 for q, p in zip(quantity, price, strict=True))
        assert (counts.read, counts.quarantined, counts.loaded) == (8, bad, 8 - bad)

"""The quarantine holds what is still not loaded, and says why a child's parent is missing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl

from common.home import Home
from pipelines.ingest import run_ingest
from tests.pipelines.conftest import TINY_END
from tests.pipelines.ingest_helpers import as_text, query, snapshot, write_dirty_part

ALL = ["suppliers", "products", "shopkeepers", "groups", "memberships", "campaigns", "posts", "orders",
       "feedback"]


def write_row(path: Path, row: dict[str, str | None]) -> None:
    pl.DataFrame([row], schema=dict.fromkeys(row, pl.String)).write_csv(path)


def quarantined(home: Home) -> list[tuple]:
    return query(home, "SELECT table_name, rule, count(*) FROM quarantine GROUP BY ALL ORDER BY ALL")


def test_rows_loaded_after_their_parent_arrives_leave_the_quarantine(tmp_path, tiny_tables, write_raw):
    home = Home(tmp_path / "home")
    full = tiny_tables["products"]
    tiny_tables["products"] = full.filter(full["product_id"] != "P1")  # P1's orders: unknown product
    raw = write_raw(tmp_path / "raw", tiny_tables)
    first = run_ingest(raw, home, run_date=TINY_END)
    assert first.tables["orders"].rules == {"unknown_foreign_key": 2}
    full.write_parquet(raw / "products.parquet")  # the product file fixed, everything re-ingested
    second = run_ingest(raw, home, run_date=TINY_END)
    assert second.tables["orders"].loaded == 2
    assert query(home, "SELECT count(*) FROM quarantine WHERE table_name = 'orders'") == [(0,)]
    note = "orders: 2 rows quarantined by an earlier ingest loaded now"
    assert any(w.startswith(note) for w in second.warnings)
    before = snapshot(home, ALL)
    run_ingest(raw, home, run_date=TINY_END)
    assert snapshot(home, ALL) == before


def ingest_a_future_order(tmp_path, tiny_tables, write_raw, ordered_at: str) -> tuple[Path, Home]:
    """The tiny world with order Z1 placed at `ordered_at`, ingested on its last day: (raw, home)."""
    raw = write_raw(tmp_path / "raw", tiny_tables)
    late = as_text(tiny_tables["orders"]).row(6, named=True) | {"order_id": "Z1", "ordered_at": ordered_at}
    write_dirty_part(raw, "orders", tiny_tables["orders"], [late])
    home = Home(tmp_path / "home")
    run_ingest(raw, home, run_date=TINY_END)
    return raw, home


def test_a_future_row_loaded_by_a_later_run_date_leaves_the_quarantine(tmp_path, tiny_tables, write_raw):
    raw, home = ingest_a_future_order(tmp_path, tiny_tables, write_raw, "2026-01-11T09:00:00+08:00")
    assert quarantined(home) == [("orders", "future_timestamp", 1)]
    run_ingest(raw, home, run_date=TINY_END + timedelta(days=1))
    assert quarantined(home) == []
    assert query(home, "SELECT count(*) FROM orders WHERE order_id = 'Z1'") == [(1,)]


def test_a_future_row_still_pending_says_the_latest_runs_cutoff(tmp_path, tiny_tables, write_raw):
    raw, home = ingest_a_future_order(tmp_path, tiny_tables, write_raw, "2026-01-13T09:00:00+08:00")
    run_ingest(raw, home, run_date=TINY_END + timedelta(days=1))  # still in the future
    [(detail,)] = query(home, "SELECT detail FROM quarantine WHERE rule = 'future_timestamp'")
    assert "before 2026-01-12 00:00:00+08" in detail  # the second run's cutoff (the first's: 01-11)
    assert quarantined(home) == [("orders", "future_timestamp", 1)]  # one entry, not one a run


def test_a_backfill_before_the_latest_date_leaves_no_loaded_row_in_quarantine(tmp_path, tiny_tables,
                                                                               write_raw):
    """Run the last day, then an earlier one (a backfill), then a later one: the backfill sets the
    rows after its date aside, though the last day had loaded them; the next run clears them (they
    had stayed for good, each also in its table, in every report's "In quarantine, all runs")."""
    raw = write_raw(tmp_path / "raw", tiny_tables)
    home = Home(tmp_path / "home")
    run_ingest(raw, home, run_date=TINY_END)
    loaded = query(home, "SELECT count(*) FROM orders")
    earlier = run_ingest(raw, home, run_date=TINY_END - timedelta(days=3))
    assert earlier.tables["orders"].rules.get("future_timestamp", 0) > 0  # as of then: after its date
    run_ingest(raw, home, run_date=TINY_END - timedelta(days=3))  # the backfill again keeps them
    assert [r for r in quarantined(home) if r[1] == "future_timestamp"]
    run_ingest(raw, home, run_date=TINY_END)
    assert quarantined(home) == [], quarantined(home)
    assert query(home, "SELECT count(*) FROM orders") == loaded


def test_a_future_version_of_a_stored_row_stays_until_its_own_file_is_read_again(tmp_path, tiny_tables,
                                                                                 write_raw):
    """The backfill rule above must not clear a future_timestamp entry whose row was never loaded (a
    new version of a stored order): a later drop of other files says nothing of it (review finding)."""
    raw = write_raw(tmp_path / "raw", tiny_tables)
    home = Home(tmp_path / "home")
    run_ingest(raw, home, run_date=TINY_END)
    row = as_text(tiny_tables["orders"]).row(0, named=True)
    second = tmp_path / "raw2"
    second.mkdir()
    write_row(second / "orders.csv", row | {"ordered_at": "2026-02-01T09:00:00+08:00", "quantity": "7"})
    assert run_ingest(second, home, run_date=TINY_END).tables["orders"].rules == {"future_timestamp": 1}
    third = tmp_path / "raw3"
    (third / "orders").mkdir(parents=True)
    write_row(third / "orders" / "day3.csv", as_text(tiny_tables["orders"]).row(1, named=True)
              | {"order_id": "NEW1"})
    run_ingest(third, home, run_date=TINY_END)
    assert quarantined(home) == [("orders", "future_timestamp", 1)]
    assert query(home, f"SELECT quantity FROM orders WHERE order_id = '{row['order_id']}'") == [
        (int(row["quantity"]),)]


def test_a_row_still_bad_in_the_delivery_keeps_its_entry(tmp_path, tiny_tables, write_raw):
    """Z1 fails (unknown product) in part-dirty.csv; a later file brings a good Z1: the key loads, but
    the bad row is still delivered and still quarantined, so its entry stays and re-ingest adds nothing."""
    raw = write_raw(tmp_path / "raw", tiny_tables)
    bad = as_text(tiny_tables["orders"]).row(6, named=True) | {"order_id": "Z1", "product_id": "P9"}
    write_dirty_part(raw, "orders", tiny_tables["orders"], [bad])
    home = Home(tmp_path / "home")
    run_ingest(raw, home, run_date=TINY_END)
    good = as_text(tiny_tables["orders"]).row(6, named=True) | {"order_id": "Z1"}
    write_row(raw / "orders" / "part-fix.csv", good)
    run_ingest(raw, home, run_date=TINY_END)
    assert quarantined(home) == [("orders", "unknown_foreign_key", 1)]
    before = snapshot(home, ALL)
    run_ingest(raw, home, run_date=TINY_END)
    assert snapshot(home, ALL) == before


def test_a_conflicting_version_of_a_stored_row_stays_quarantined(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    home = Home(tmp_path / "home")
    run_ingest(raw, home, run_date=TINY_END)
    changed = as_text(tiny_tables["orders"]).row(0, named=True) | {"quantity": "5"}
    write_dirty_part(raw, "orders", tiny_tables["orders"], [changed])
    run_ingest(raw, home, run_date=TINY_END)
    extra = as_text(tiny_tables["orders"]).row(6, named=True) | {"order_id": "Z2"}
    write_row(raw / "orders" / "part-new.csv", extra)
    run_ingest(raw, home, run_date=TINY_END)
    assert quarantined(home) == [("orders", "duplicate_id_conflict", 1)]


def test_a_child_of_a_quarantined_parent_says_where_the_parent_went(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    product = as_text(tiny_tables["products"]).row(0, named=True) | {"product_id": "PZ", "is_standard": "对"}
    write_dirty_part(raw, "products", tiny_tables["products"], [product])
    orders = [as_text(tiny_tables["orders"]).row(6, named=True) | {"order_id": "Z1", "product_id": "PZ"},
              as_text(tiny_tables["orders"]).row(6, named=True) | {"order_id": "Z2", "product_id": "P9"}]
    write_dirty_part(raw, "orders", tiny_tables["orders"], orders)
    home = Home(tmp_path / "home")
    report = run_ingest(raw, home, run_date=TINY_END)
    assert report.tables["orders"].rules == {"unknown_foreign_key": 2}
    details = dict(query(home, "SELECT row_number, detail FROM quarantine WHERE table_name = 'orders'"))
    assert details[1] == (
        "column 'product_id': 'PZ' is in products/part-dirty.csv but was quarantined there (row 1, bad_type: "
        "column 'is_standard' must be true or false; got '对'); fix that row of products and ingest again")
    assert details[2] == "column 'product_id': 'P9' not found in products.product_id; expected a known id"


def test_a_line_refunded_after_the_run_date_loads_as_it_stood_then_and_a_later_run_records_it(
        tmp_path, tiny_tables, write_raw):
    """A backfill reads today's files: O8 was placed on the run's date and refunded two days later. As
    it stood at the end of the run's date it was paid; quarantining it whole as `future_timestamp` lost
    a paid line from that day's demand."""
    refunded_at = pl.lit("2026-01-12T10:00:00+08:00").str.to_datetime(time_zone="Asia/Shanghai")
    orders = tiny_tables["orders"]
    tiny_tables["orders"] = orders.with_columns(
        pl.when(pl.col("order_id") == "O8").then(refunded_at.cast(orders.schema["status_at"]))
        .otherwise(pl.col("status_at")).alias("status_at"))
    raw = write_raw(tmp_path / "raw", tiny_tables)
    home = Home(tmp_path / "home")
    report = run_ingest(raw, home, run_date=TINY_END)
    assert quarantined(home) == []
    assert report.tables["orders"].loaded == 8
    assert query(home, "SELECT status, status_at FROM orders WHERE order_id = 'O8'") == [("paid", None)]
    note = "orders: 1 line placed by the end of the run's date (2026-01-10) was cancelled or refunded"
    assert any(w.startswith(note) and "read as it stood then, paid" in w for w in report.warnings)
    again = run_ingest(raw, home, run_date=TINY_END)  # the same run again: nothing changes
    assert again.tables["orders"].duplicates == 8 and quarantined(home) == []
    later = run_ingest(raw, home, run_date=TINY_END + timedelta(days=2))
    assert later.tables["orders"].loaded == 1  # the refund, as an update of the stored line
    assert query(home, "SELECT status, CAST(status_at AT TIME ZONE 'Asia/Shanghai' AS VARCHAR) FROM orders "
                       "WHERE order_id = 'O8'") == [("refunded", "2026-01-12 10:00:00")]
    assert not any("stood then" in w for w in later.warnings)
    run_ingest(raw, home, run_date=TINY_END)  # a backfill after it keeps the refund
    assert query(home, "SELECT status FROM orders WHERE order_id = 'O8'") == [("refunded",)]


def test_a_stored_paid_line_and_its_later_cancellation_read_as_it_stood_are_the_same_fact(
        tmp_path, tiny_tables, write_raw):
    """O8 loaded paid (status_at = when it was paid); the next drop, read on the same run date, holds
    it cancelled two days after that date: as it stood then it was paid (no status_at), the same line.
    It was quarantined as `duplicate_id_conflict` ("'status_at' was …, got empty") and stayed there."""
    orders = tiny_tables["orders"]
    o8 = pl.col("order_id") == "O8"
    tiny_tables["orders"] = orders.with_columns(  # O8 paid, status_at its ordered_at
        pl.when(o8).then(pl.lit("paid")).otherwise(pl.col("status")).alias("status"),
        pl.when(o8).then(pl.col("ordered_at")).otherwise(pl.col("status_at")).alias("status_at"))
    home = Home(tmp_path / "home")
    run_ingest(write_raw(tmp_path / "raw", tiny_tables), home, run_date=TINY_END)
    cancelled_at = pl.lit("2026-01-12T10:00:00+08:00").str.to_datetime(time_zone="Asia/Shanghai")
    drop = tiny_tables["orders"].filter(pl.col("order_id") == "O8").with_columns(
        pl.lit("cancelled").alias("status"), cancelled_at.cast(orders.schema["status_at"]).alias("status_at"))
    report = run_ingest(write_raw(tmp_path / "drop", {**tiny_tables, "orders": drop}), home,
                        run_date=TINY_END)
    assert report.tables["orders"].duplicates == 1 and quarantined(home) == []
    later = run_ingest(tmp_path / "drop", home, run_date=TINY_END + timedelta(days=2))
    assert later.tables["orders"].loaded == 1  # the cancellation, as an update
    assert query(home, "SELECT status FROM orders WHERE order_id = 'O8'") == [("cancelled",)]

"""Ingest: accounting, idempotent re-ingest, next-day increments, status updates, mixed formats."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from common.contract import LOAD_ORDER, TABLES
from common.home import Home
from pipelines.ingest import IngestReport, run_ingest
from pipelines.warehouse import connect, create_tables, load_frames
from tests.pipelines.conftest import SH, TINY_END, at
from tests.pipelines.ingest_helpers import identity_holds, query, snapshot, write_hive_raw


def with_status(orders: pl.DataFrame, status: str, when: datetime) -> pl.DataFrame:
    status_at = pl.lit(when).cast(TABLES["orders"].polars_schema()["status_at"])
    return orders.with_columns(pl.lit(status).alias("status"), status_at.alias("status_at"))


def ingest(raw: Path, home: Home, run_date: date = TINY_END) -> dict:
    report = run_ingest(raw, home, run_date=run_date)
    assert isinstance(report, IngestReport)
    payload = report.to_json()
    assert identity_holds(payload)
    return payload


def test_clean_world_loads_every_row_and_reports_the_exact_json_shape(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables)
    report = run_ingest(raw, Home(tmp_path / "home"), run_date=TINY_END)
    payload = report.to_json()
    assert list(payload["tables"]) == list(LOAD_ORDER)
    for name, counts in payload["tables"].items():
        assert set(counts) == {"read", "loaded", "duplicates", "quarantined"}
        assert counts == {"read": tiny_tables[name].height, "loaded": tiny_tables[name].height,
                          "duplicates": 0, "quarantined": 0}
    assert payload["fatal"] is None
    text = report.render()
    assert "orders" in text and "quarantined" in text


def test_loaded_rows_keep_their_values_and_types(tmp_path, tiny_tables, write_raw):
    raw = write_raw(tmp_path / "raw", tiny_tables, fmt="csv")
    home = Home(tmp_path / "home")
    ingest(raw, home)
    frames = load_frames(home)
    for name, expected in tiny_tables.items():
        got = frames[name].sort(TABLES[name].key)
        assert got.schema == expected.schema
        assert got.equals(expected.sort(TABLES[name].key)), name


def test_reingesting_the_same_files_changes_nothing(tmp_path, tiny_tables, write_raw):
    bad = tiny_tables["orders"].with_columns(
        pl.when(pl.col("order_id") == "O2").then(-1).otherwise(pl.col("quantity")).alias("quantity"))
    tiny_tables["orders"] = pl.concat([bad, tiny_tables["orders"].head(1)])  # + an exact duplicate of O1
    raw = write_raw(tmp_path / "raw", tiny_tables)
    home = Home(tmp_path / "home")
    first = ingest(raw, home)
    assert first["tables"]["orders"] == {"read": 9, "loaded": 7, "duplicates": 1, "quarantined": 1}
    before = snapshot(home, list(TABLES))
    second = ingest(raw, home)
    assert snapshot(home, list(TABLES)) == before
    for name, counts in second["tables"].items():
        assert counts["loaded"] == 0, name
        assert counts["read"] == first["tables"][name]["read"]
    assert second["tables"]["orders"] == {"read": 9, "loaded": 0, "duplicates": 8, "quarantined": 1}
    assert query(home, "SELECT count(*) FROM ingest_files")[0][0] == len(TABLES)


def test_next_day_adds_only_what_is_new(tmp_path, tiny_tables, write_raw):
    cut = datetime(2026, 1, 10, tzinfo=SH)
    day9 = {name: frame for name, frame in tiny_tables.items()}
    day9["orders"] = tiny_tables["orders"].filter(pl.col("ordered_at") < cut)
    day9["posts"] = tiny_tables["posts"].filter(pl.col("posted_at") < cut)
    day9["feedback"] = tiny_tables["feedback"].filter(pl.col("at") < cut)
    home = Home(tmp_path / "home")
    ingest(write_raw(tmp_path / "day9", day9), home, date(2026, 1, 9))
    # the next day's export is cumulative: everything again plus the new rows
    report = ingest(write_raw(tmp_path / "day10", tiny_tables), home, date(2026, 1, 10))
    assert report["tables"]["orders"] == {"read": 8, "loaded": 3, "duplicates": 5, "quarantined": 0}
    assert report["tables"]["feedback"]["loaded"] == 2
    assert report["tables"]["groups"] == {"read": 3, "loaded": 0, "duplicates": 3, "quarantined": 0}
    assert query(home, "SELECT count(*) FROM orders")[0][0] == 8


def test_a_folder_with_only_new_feedback_is_an_incremental_drop(tmp_path, tiny_tables, write_raw):
    home = Home(tmp_path / "home")
    ingest(write_raw(tmp_path / "raw", tiny_tables), home)
    new = pl.DataFrame([("F9", "G3", "P1", "not_interested", at(10, 21))],
                       schema=TABLES["feedback"].polars_schema(), orient="row")
    folder = tmp_path / "drop" / "feedback"
    folder.mkdir(parents=True)
    new.write_parquet(folder / "2026-01-10.parquet")
    report = ingest(tmp_path / "drop", home)
    assert report["tables"] == {"feedback": {"read": 1, "loaded": 1, "duplicates": 0, "quarantined": 0}}
    assert query(home, "SELECT count(*) FROM feedback")[0][0] == 3


def test_paid_then_cancelled_later_is_an_update_not_a_conflict(tmp_path, tiny_tables, write_raw):
    home = Home(tmp_path / "home")
    ingest(write_raw(tmp_path / "raw", tiny_tables), home)
    o1 = tiny_tables["orders"].filter(pl.col("order_id") == "O1")
    later = with_status(o1, "cancelled", at(9, 8))
    (tmp_path / "upd").mkdir()
    later.write_parquet(tmp_path / "upd" / "orders.parquet")
    report = ingest(tmp_path / "upd", home)
    assert report["tables"]["orders"] == {"read": 1, "loaded": 1, "duplicates": 0, "quarantined": 0}
    # counted as loaded, and said: a stored line changed (a black-box trial saw 5 arrive silently)
    assert any(w.startswith("orders: 1 line arrived again with a later status")
               for w in report["warnings"]), report["warnings"]
    assert query(home, "SELECT status, status_at::VARCHAR FROM orders WHERE order_id = 'O1'") == [
        ("cancelled", "2026-01-09 08:00:00+08")]
    assert query(home, "SELECT count(*) FROM orders")[0][0] == 8
    # the first day's file again: the paid version is older than what is stored -> a duplicate
    again = ingest(tmp_path / "raw", home)
    assert again["tables"]["orders"] == {"read": 8, "loaded": 0, "duplicates": 8, "quarantined": 0}
    assert query(home, "SELECT status FROM orders WHERE order_id = 'O1'") == [("cancelled",)]
    assert query(home, "SELECT count(*) FROM quarantine")[0][0] == 0


def test_a_member_leaving_later_is_an_update_and_a_changed_leaving_day_a_conflict(tmp_path, tiny_tables,
                                                                                  write_raw):
    from datetime import date

    home = Home(tmp_path / "home")
    members = tiny_tables["memberships"].with_columns(pl.lit(None, pl.Date).alias("left_on"))
    ingest(write_raw(tmp_path / "raw", {**tiny_tables, "memberships": members}), home)
    first = members.head(1)
    member, group = first["member_id"][0], first["group_id"][0]
    left = first.with_columns(pl.lit(date(2026, 1, 8)).alias("left_on"))
    (tmp_path / "left").mkdir()
    left.write_parquet(tmp_path / "left" / "memberships.parquet")
    report = ingest(tmp_path / "left", home)
    assert report["tables"]["memberships"] == {"read": 1, "loaded": 1, "duplicates": 0, "quarantined": 0}
    where = f"WHERE member_id = '{member}' AND group_id = '{group}'"
    assert query(home, f"SELECT left_on::VARCHAR FROM memberships {where}") == [("2026-01-08",)]
    # the first delivery again (the member still open there): older, a duplicate; the leaving day kept
    again = ingest(tmp_path / "raw", home)
    assert again["tables"]["memberships"]["duplicates"] == members.height
    assert query(home, f"SELECT left_on::VARCHAR FROM memberships {where}") == [("2026-01-08",)]
    # another leaving day for the same membership is a conflict, said so
    (tmp_path / "moved").mkdir()
    first.with_columns(pl.lit(date(2026, 1, 9)).alias("left_on")).write_parquet(
        tmp_path / "moved" / "memberships.parquet")
    moved = ingest(tmp_path / "moved", home)
    assert moved["tables"]["memberships"]["quarantined"] == 1
    assert query(home, "SELECT rule FROM quarantine WHERE table_name = 'memberships'") == [
        ("duplicate_id_conflict",)]


def test_status_update_within_one_run_applies_the_latest(tmp_path, tiny_tables, write_raw):
    o1 = tiny_tables["orders"].filter(pl.col("order_id") == "O1")
    refunded = with_status(o1, "refunded", at(9, 9))
    raw = write_raw(tmp_path / "raw", {k: v for k, v in tiny_tables.items() if k != "orders"})
    (raw / "orders").mkdir()
    tiny_tables["orders"].write_parquet(raw / "orders" / "part-0.parquet")
    refunded.write_csv(raw / "orders" / "part-1.csv")
    home = Home(tmp_path / "home")
    report = ingest(raw, home)
    assert report["tables"]["orders"] == {"read": 9, "loaded": 9, "duplicates": 0, "quarantined": 0}
    assert query(home, "SELECT status FROM orders WHERE order_id = 'O1'") == [("refunded",)]
    assert any(w.startswith("orders: 1 line arrived again with a later status") for w in report["warnings"])


def test_mixed_formats_optional_columns_absent_and_unknown_columns_warned(tmp_path, tiny_tables, write_raw):
    products = tiny_tables.pop("products")
    raw = write_raw(tmp_path / "raw", tiny_tables)
    folder = raw / "products"
    folder.mkdir()
    products.head(2).drop("subcategory", "brand", "cost").with_columns(pl.lit("x").alias("colour")) \
        .write_parquet(folder / "part-0.parquet")
    products.tail(2).write_csv(folder / "part-1.csv")
    (raw / "_truth").mkdir()
    (raw / "_truth" / "dirty_rows.csv").write_text("table,source_file,row_number,rule\n")
    home = Home(tmp_path / "home")
    report = run_ingest(raw, home, run_date=TINY_END)
    assert report.tables["products"].loaded == 4
    assert any("colour" in w and "products/part-0.parquet" in w for w in report.warnings)
    assert query(home, "SELECT brand FROM products WHERE product_id = 'P1'") == [(None,)]
    assert query(home, "SELECT brand FROM products WHERE product_id = 'P3'") == [("Crunch",)]


def test_a_hive_partitioned_table_folder_loads_as_its_files_and_day_is_no_column(
        tmp_path, tiny_tables, write_raw):
    """RAW/orders/day=2026-01-08/part-0.parquet (and posts as CSV parts): the `day=` folders are where
    the files lie, not a column: no 'not in the contract' warning, the same rows as the flat files,
    and a bad row is quarantined under its part's path."""
    bad = tiny_tables["orders"].with_columns(
        pl.when(pl.col("order_id") == "O2").then(-1).otherwise(pl.col("quantity")).alias("quantity"))
    tiny_tables["orders"] = bad
    flat, hive = Home(tmp_path / "flat"), Home(tmp_path / "hive")
    want = ingest(write_raw(tmp_path / "raw-flat", tiny_tables), flat)
    raw = write_hive_raw(tmp_path / "raw-hive", tiny_tables)
    assert (raw / "orders" / "day=2026-01-08" / "part-0.parquet").exists()
    assert (raw / "posts" / "day=2026-01-09" / "part-0.csv").exists()
    report = run_ingest(raw, hive, run_date=TINY_END)
    got = report.to_json()
    assert identity_holds(got) and got["fatal"] is None
    assert got["tables"] == want["tables"] and got["tables"]["orders"]["quarantined"] == 1
    assert report.warnings == [], report.warnings
    contract = [name for name in LOAD_ORDER if name in tiny_tables]
    assert {k: v for k, v in snapshot(hive, contract).items() if k != "quarantine"} == \
        {k: v for k, v in snapshot(flat, contract).items() if k != "quarantine"}
    assert query(hive, "SELECT table_name, source_file, row_number FROM quarantine") == [
        ("orders", "orders/day=2026-01-08/part-0.parquet", 2)]
    assert sorted(r[0] for r in query(hive, "SELECT path FROM ingest_files WHERE table_name = 'posts'")) == [
        "posts/day=2026-01-08/part-0.csv", "posts/day=2026-01-09/part-0.csv",
        "posts/day=2026-01-10/part-0.csv"]
    columns = [r[0] for r in query(hive, "SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = 'orders'")]
    assert "day" not in columns


def test_large_tables_load_in_one_chunk_per_column_with_their_values(tmp_path):
    # DuckDB hands a large table over in one Arrow batch per ~1 M rows; frames that kept those
    # chunks would keep every whole batch alive (1.1 GiB more resident on the M world's tables).
    # Member ids longer than 12 bytes take the other path (copied through Arrow).
    home = Home(tmp_path / "home")
    con = connect(home)
    create_tables(con)
    con.execute(
        "INSERT INTO memberships SELECT 'member-' || lpad(i::VARCHAR, 16, '0'), 'g' || (i % 997)::VARCHAR, "
        "DATE '2024-01-01' + (i % 300)::INTEGER, NULL FROM range(1200000) t(i)"
    )
    con.close()
    frame = load_frames(home, ["memberships"])["memberships"]
    assert frame.height == 1_200_000
    assert frame.n_chunks("all") == [1, 1, 1, 1]
    assert frame.schema == TABLES["memberships"].polars_schema()
    for row in (0, 999_999, 1_000_000, 1_199_999):
        joined = date(2024, 1, 1) + timedelta(days=row % 300)
        assert frame.row(row) == (f"member-{row:016d}", f"g{row % 997}", joined, None)

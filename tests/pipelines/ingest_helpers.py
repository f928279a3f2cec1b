"""Helpers shared by the ingest tests: text rows for dirty CSV parts, warehouse reads."""

from __future__ import annotations

import io
from pathlib import Path

import duckdb
import polars as pl

from common.home import Home


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as its CSV text (every column a string), as a dirty CSV part would hold it."""
    return pl.read_csv(io.StringIO(frame.write_csv()), infer_schema=False)


def write_dirty_part(raw: Path, table: str, clean: pl.DataFrame, rows: list[dict[str, str | None]]) -> Path:
    """RAW/<table>/part-0.parquet (clean) + RAW/<table>/part-dirty.csv (text rows); removes <table>.*."""
    for old in raw.glob(f"{table}.*"):
        old.unlink()
    folder = raw / table
    folder.mkdir(parents=True, exist_ok=True)
    clean.write_parquet(folder / "part-0.parquet")
    text = pl.DataFrame(rows, schema={c: pl.String for c in clean.columns}, orient="row")
    text.write_csv(folder / "part-dirty.csv")
    return folder / "part-dirty.csv"


def query(home: Home, sql: str) -> list[tuple]:
    """Run one read-only query on the warehouse (timestamps cast to text by the caller)."""
    con = duckdb.connect(str(home.warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'Asia/Shanghai'")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def snapshot(home: Home, tables: list[str]) -> dict[str, list[tuple]]:
    """Every row of the named tables (and quarantine without loaded_at), as sorted text tuples."""
    out = {}
    for name in tables:
        out[name] = sorted(query(home, f'SELECT COLUMNS(*)::VARCHAR FROM "{name}"'), key=str)
    out["quarantine"] = sorted(
        query(home, "SELECT table_name, source_file, row_number, rule, detail, raw FROM quarantine"), key=str
    )
    return out


def identity_holds(report_json: dict) -> bool:
    return all(
        t["read"] == t["loaded"] + t["duplicates"] + t["quarantined"] for t in report_json["tables"].values()
    )


def write_hive_raw(raw: Path, tables: dict[str, pl.DataFrame]) -> Path:
    """RAW with orders and posts as Hive-partitioned folders, a part per platform day
    (`orders/day=2026-01-08/part-0.parquet`, `posts/day=2026-01-09/part-0.csv`), written as Spark's
    `partitionBy("day")` writes them: `day` lives in the folder's name, not in the files. The other
    tables stay one Parquet file each."""
    raw.mkdir(parents=True, exist_ok=True)
    split = {"orders": ("ordered_at", "parquet"), "posts": ("posted_at", "csv")}
    for name, frame in tables.items():
        if name not in split:
            frame.write_parquet(raw / f"{name}.parquet")
            continue
        column, fmt = split[name]
        days = frame.with_columns(pl.col(column).dt.date().alias("_day"))
        for (day,), part in days.partition_by("_day", as_dict=True, maintain_order=True).items():
            folder = raw / name / f"day={day}"
            folder.mkdir(parents=True)
            part = part.drop("_day")
            if fmt == "csv":
                part.write_csv(folder / "part-0.csv")
            else:
                part.write_parquet(folder / "part-0.parquet")
    return raw

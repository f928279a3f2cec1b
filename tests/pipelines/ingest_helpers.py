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

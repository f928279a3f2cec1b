"""The embedded engine: the definitions' SQL runs as written, on one DuckDB connection.

On the warehouse's connection (ingest), inside its open transaction, so that a failure rolls every
table back; on an in-memory connection over registered frames (the other stages).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb
import polars as pl

from common.clock import PLATFORM_TZ
from common.errors import UnparseableFileError


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def csv_scan(path: Path) -> str:
    """DuckDB's table function for a raw CSV: all text, the strict standard dialect. A file is read as
    a file: folders named `key=value` above it (a Hive-partitioned table, `orders/day=2026-01-01/`)
    add no column (DuckDB would otherwise derive one from the path); Spark reads a single file so too."""
    return (f"read_csv({_lit(str(path))}, all_varchar = true, header = true, delim = ',', quote = '\"', "
            "escape = '\"', comment = '', auto_detect = true, hive_partitioning = false)")


def parquet_scan(path: Path) -> str:
    """DuckDB's table function for a raw Parquet file, with each row's number in the file; as for
    CSV, a `key=value` folder above it adds no column."""
    return f"read_parquet({_lit(str(path))}, file_row_number = true, hive_partitioning = false)"


class DuckDBEngine:
    """Runs DuckDB-dialect SELECTs on `con` (a new in-memory connection when none is given)."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.con = con if con is not None else duckdb.connect()
        if con is None:
            self.con.execute(f"SET TimeZone = {_lit(PLATFORM_TZ)}")
        self._kinds: dict[str, str] = {}  # relation -> VIEW | TABLE, for drop

    def read_csv_text(self, name: str, path: Path) -> None:
        """Copied into a temp table whose rowids count the rows in file order (inside a transaction
        they start at a large offset, hence the minimum)."""
        scan = csv_scan(path)
        copy = f"_csv_{name}"
        try:
            self.con.execute("SET preserve_insertion_order = true")
            self.con.execute(f"CREATE OR REPLACE TEMP TABLE {copy} AS SELECT * FROM {scan}")
            self.con.execute("SET preserve_insertion_order = false")
        except duckdb.Error as exc:  # the transaction is aborted; the caller rolls it back
            raise UnparseableFileError(f"{path.name}: cannot be read as CSV: {_first_line(exc)}") from None
        self._kinds[copy] = "TABLE"
        row = f"(rowid - (SELECT min(rowid) FROM {copy}) + 1)::BIGINT"
        self.view(name, f"SELECT *, {row} AS _row FROM {copy}")

    def read_parquet(self, name: str, path: Path) -> None:
        self.view(name, f"SELECT * EXCLUDE (file_row_number), (file_row_number + 1)::BIGINT AS _row "
                        f"FROM {parquet_scan(path)}")

    def register(self, name: str, frame: pl.DataFrame) -> None:
        self.con.register(f"_arrow_{name}", frame.to_arrow())
        self._kinds[f"_arrow_{name}"] = "ARROW"
        self.view(name, f"SELECT * FROM _arrow_{name}")

    def view(self, name: str, sql: str, *, reused: bool = False) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
        self._kinds[name] = "VIEW"

    def table(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
        self._kinds[name] = "TABLE"

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def frame(self, sql: str) -> pl.DataFrame:
        return self.con.execute(sql).pl()

    def insert(self, table: str, sql: str) -> int:
        return self.con.execute(f"INSERT INTO {table} {sql}").fetchone()[0]

    def update(self, table: str, key: Sequence[str], columns: Sequence[str], sql: str) -> int:
        sets = ", ".join(f"{c} = _u.{c}" for c in columns)
        match = " AND ".join(f"{table}.{k} = _u.{k}" for k in key)
        return self.con.execute(f"UPDATE {table} SET {sets} FROM ({sql}) AS _u WHERE {match}").fetchone()[0]

    def drop(self, *names: str) -> None:
        for name in names:
            kind = self._kinds.pop(name, None)
            if kind == "ARROW":
                self.con.unregister(name)
            elif kind:
                self.con.execute(f"DROP {kind} IF EXISTS {name}")
            for helper in (f"_csv_{name}", f"_arrow_{name}"):  # what read_csv_text / register made
                if helper in self._kinds:
                    self.drop(helper)

    def attach(self, con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> None:
        """The warehouse's tables are already relations here (on its own connection)."""

    def replay(self, con: duckdb.DuckDBPyConnection) -> None:
        """Inserts and updates went to the warehouse as they ran: nothing to replay."""

    def close(self) -> None:
        """Drop what this engine created (the connection stays the caller's)."""
        self.drop(*list(self._kinds))

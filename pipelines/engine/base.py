"""The engine seam: what a set-based stage asks of an engine, whichever runs it.

A stage is written once as DuckDB-dialect SELECTs over named relations (see pipelines/ingest and
pipelines/engine/definitions.py). An engine registers relations (raw files, frames, the warehouse's
tables), runs those SELECTs as views, materialized tables, inserts and updates, and hands results
back as polars frames. `DuckDBEngine` runs the text as it is, inside the warehouse's transaction;
`SparkEngine` transpiles it with sqlglot (pipelines/engine/dialect.py) and runs it on a
SparkSession.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import polars as pl

from common.errors import UsageError

if TYPE_CHECKING:
    import duckdb

EngineName = Literal["duckdb", "spark"]
ENGINES: tuple[str, ...] = ("duckdb", "spark")


@dataclass(frozen=True)
class EngineOptions:
    """Which engine runs the set-based stages, and for Spark where and with which settings."""

    name: EngineName = "duckdb"
    spark_master: str | None = None  # default local[2]; spark://, yarn, k8s://... pass through
    spark_conf: dict[str, str] = field(default_factory=dict)  # spark.* settings (--conf k=v)


def engine_options(name: str, master: str | None = None, conf: Sequence[str] = ()) -> EngineOptions:
    """EngineOptions from the command line (`--engine`, `--spark-master`, `--conf k=v`), checked."""
    if name not in ENGINES:
        raise UsageError(f"--engine: expected one of {', '.join(ENGINES)}; got {name!r}")
    if name != "spark" and (master or conf):
        raise UsageError("--spark-master and --conf apply to --engine spark only")
    return EngineOptions(name, master, parse_conf(conf))  # type: ignore[arg-type]


def parse_conf(pairs: Sequence[str]) -> dict[str, str]:
    """`key=value` pairs -> dict; a key must name a Spark setting (spark.*)."""
    conf: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"--conf: expected key=value, e.g. spark.sql.shuffle.partitions=8; got {pair!r}")
        if not key.startswith("spark."):
            raise UsageError(f"--conf: {key!r} is not a Spark setting (expected a key starting with "
                             f"'spark.', e.g. spark.executor.memory=4g); got {pair!r}")
        conf[key] = value
    return conf


class Engine(Protocol):
    """What a stage definition needs from an engine. Every `sql` argument is one DuckDB-dialect
    SELECT; relation names are SQL identifiers the engine resolves (temp views / tables)."""

    name: str

    def read_csv_text(self, name: str, path: Path) -> None:
        """Relation `name`: the CSV's columns, all as text, plus `_row` (1-based, file order)."""

    def read_parquet(self, name: str, path: Path) -> None:
        """Relation `name`: the Parquet file's columns as typed, plus `_row` (1-based, file order)."""

    def register(self, name: str, frame: pl.DataFrame) -> None:
        """Relation `name` holding `frame`."""

    def view(self, name: str, sql: str, *, reused: bool = False) -> None:
        """Relation `name` defined by `sql`; `reused`: read several times (an engine may cache it)."""

    def table(self, name: str, sql: str) -> None:
        """Relation `name`: the result of `sql`, materialized now."""

    def rows(self, sql: str) -> list[tuple]:
        """The result rows of `sql` (small results only)."""

    def frame(self, sql: str) -> pl.DataFrame:
        """The result of `sql` as a polars frame."""

    def insert(self, table: str, sql: str) -> int:
        """Append the rows of `sql` to `table` (columns by position); returns how many."""

    def update(self, table: str, key: Sequence[str], columns: Sequence[str], sql: str) -> int:
        """Set `columns` of `table`'s rows from the rows of `sql` (key + columns, one per key)."""

    def drop(self, *names: str) -> None:
        """Forget these relations (missing ones are ignored)."""

    def attach(self, con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> None:
        """Make the DuckDB warehouse's `tables` relations of the same names, to read and write."""

    def replay(self, con: duckdb.DuckDBPyConnection) -> None:
        """Bring the inserts and updates made to attached tables into the warehouse (`con`'s open
        transaction): a no-op where the engine wrote to the warehouse directly."""

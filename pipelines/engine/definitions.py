"""The stage definitions (common/definitions.py) run on an engine of pipelines/engine.

The SQL is written once, in common/definitions.py, where the pure layers run it in-process on
DuckDB; here the same text runs on whichever engine a stage was given (DuckDB over registered
frames or the warehouse, or Spark through SQLGlot), and comes back with the same types and order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl

from common.definitions import (  # noqa: F401  (re-exported: the engines' callers and tests)
    FAR_FUTURE,
    SCHEMAS,
    Runner,
    actuals,
    history,
    member_lines,
    pool_daily,
    post_answers,
    signal_days,
    ts,
    typed,
    valid_at,
)
from common.home import Home
from pipelines.engine.base import Engine, EngineOptions


def run(engine: Engine, sql: str, schema: str) -> pl.DataFrame:
    """One definition's result as a polars frame with the schema named, rows sorted by its keys."""
    return typed(engine.frame(sql), schema)


def runner(engine: Engine) -> Runner:
    """The definitions run on `engine`, as the pure layers call them (recsys.signal.signal_source): a
    call's own relations are registered for it and dropped after."""

    def on_engine(sql: str, schema: str, relations: Mapping[str, pl.DataFrame] | None = None) -> pl.DataFrame:
        relations = relations or {}
        for name, frame in relations.items():
            engine.register(name, frame)
        try:
            return run(engine, sql, schema)
        finally:
            engine.drop(*relations)

    return on_engine


def register_frames(engine: Engine, frames: dict[str, pl.DataFrame]) -> None:
    """Make the contract frames (as `pipelines.warehouse.load_frames` reads them) relations of `engine`."""
    for name, frame in frames.items():
        engine.register(name, frame)


@contextmanager
def warehouse_runner(home: Home, options: EngineOptions | None, tables: Sequence[str], spark: Any = None
                     ) -> Iterator[Runner]:
    """The definitions run where the warehouse is. On DuckDB (the default), on the warehouse file
    itself: its native scan needs a third of the memory of scanning the loaded frames as Arrow (S
    world: +150 MB against +490 MB for the signal's sources) and half the time. On Spark (`options`
    spark; `spark` the run's session, else one built from the options), over the warehouse's
    `tables` exported to Parquet for it."""
    from pipelines.engine.duckdb_engine import DuckDBEngine
    from pipelines.warehouse import connect

    if options is None or options.name != "spark":
        con = connect(home, read_only=True)
        try:
            yield runner(DuckDBEngine(con))
        finally:
            con.close()
        return
    from pipelines.engine.spark_engine import SparkEngine, build_session

    engine = SparkEngine(spark if spark is not None else build_session(options))
    try:
        with connect(home) as con:
            engine.attach(con, tables)
        yield runner(engine)
    finally:
        engine.close()

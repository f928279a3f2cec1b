"""Engines for the set-based stages: DuckDB (embedded, the default) and Spark (past one machine).

Each stage is defined once, as DuckDB-dialect SQL; `DuckDBEngine` runs it as written and
`SparkEngine` (imported only when asked for: pyspark is optional) runs it transpiled with sqlglot.
"""

from pipelines.engine.base import ENGINES, Engine, EngineOptions, engine_options, parse_conf
from pipelines.engine.duckdb_engine import DuckDBEngine

__all__ = ["ENGINES", "DuckDBEngine", "Engine", "EngineOptions", "engine_options", "parse_conf"]

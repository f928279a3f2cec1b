"""The SparkSession of one nightly run (or one backfill): started at the first stage that needs it,
stopped when the run ends, on failure too. pyspark is imported only when a stage asks for it."""

from __future__ import annotations

from typing import Any

from pipelines.engine.base import EngineOptions


class LazySession:
    """`get()` starts the session on first use (spark_engine.build_session: the DEFAULTS, then
    --spark-master and --conf); `close()` stops it, but only when this holder started it: a
    session the caller already had (spark-submit, a notebook, a test's shared one) stays theirs."""

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self._spark: Any = None
        self._owned = False

    @property
    def started(self) -> bool:
        return self._spark is not None

    def get(self) -> Any:
        if self._spark is None:
            from pipelines.engine.spark_engine import active_session, build_session, require_spark

            require_spark()
            existing = active_session()
            self._spark = build_session(self.options)
            self._owned = existing is None
        return self._spark

    def close(self) -> None:
        spark, self._spark = self._spark, None
        if spark is not None and self._owned:
            spark.stop()

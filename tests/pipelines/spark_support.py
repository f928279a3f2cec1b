"""What the Spark tests share: a module-level skip, saying why, where pyspark, sqlglot or Java is
missing (CI has them: `make test` installs the `spark` extra and a Java runtime), the `local[2]`
options, and one session per test module."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from pipelines.engine import EngineOptions

SPARK = EngineOptions("spark", "local[2]", {"spark.sql.shuffle.partitions": "2"})


def require_spark() -> None:
    """Skip the calling test module unless the Spark engine can run here."""
    pytest.importorskip("pyspark", reason="the Spark engine needs pyspark: pip install 'circlebuy[spark]'")
    pytest.importorskip("sqlglot", reason="the Spark engine needs sqlglot: pip install 'circlebuy[spark]'")
    if not shutil.which("java"):
        pytest.skip("the Spark engine needs a Java 17+ runtime (`make java`)", allow_module_level=True)


def spark_session() -> Iterator[Any]:
    """A `local[2]` SparkSession for one test module (use as a module-scoped fixture), stopped after."""
    from pipelines.engine.spark_engine import build_session

    session = build_session(SPARK)
    yield session
    session.stop()

"""Choosing an engine: options checked at the command line, clear errors where Spark cannot run,
the embedded default free of pyspark, and the transpiler's rewrites (no Spark needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from common.errors import UsageError
from pipelines.engine import EngineOptions, engine_options
from pipelines.engine.spark_engine import EngineUnavailableError, build_session, require_spark

ROOT = Path(__file__).resolve().parents[2]


def test_options_are_checked():
    assert engine_options("duckdb") == EngineOptions()
    spark = engine_options("spark", "local[1]",
                           ["spark.sql.shuffle.partitions = 8", "spark.executor.memory=4g"])
    assert spark.spark_conf == {"spark.sql.shuffle.partitions": "8", "spark.executor.memory": "4g"}
    with pytest.raises(UsageError, match="expected key=value"):
        engine_options("spark", None, ["spark.sql.shuffle.partitions"])
    with pytest.raises(UsageError, match="not a Spark setting"):
        engine_options("spark", None, ["shuffle=2"])
    with pytest.raises(UsageError, match="expected one of duckdb, spark; got 'flink'"):
        engine_options("flink")
    with pytest.raises(UsageError, match="apply to --engine spark only"):
        engine_options("duckdb", "local[2]")


def test_missing_pyspark_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)
    with pytest.raises(EngineUnavailableError, match=r"pip install 'circlebuy\[spark\]'"):
        build_session(EngineOptions("spark"))


def test_missing_java_says_what_to_install(monkeypatch):
    pytest.importorskip("pyspark")
    pytest.importorskip("sqlglot")
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EngineUnavailableError, match="Java 17"):
        require_spark()


def test_the_embedded_default_imports_no_spark():
    code = ("import sys, pipelines.cli, pipelines.ingest.loader, pipelines.engine, "
            "pipelines.engine.definitions; "
            "bad = [m for m in ('pyspark', 'sqlglot', 'py4j') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_transpiled_functions_mean_the_same_on_spark():
    pytest.importorskip("sqlglot")
    from pipelines.engine.dialect import to_spark

    sql = to_spark("SELECT hash(a, b)::UBIGINT AS h, json_object('k', v)::VARCHAR AS j, "
                   "regexp_full_match(x, '[0-9]+') AS r, isfinite(y) AS f FROM t "
                   "QUALIFY row_number() OVER (PARTITION BY a ORDER BY b) = 1")
    assert "XXHASH64(A, B, ISNULL(A), ISNULL(B))" in sql.upper()
    assert "TO_JSON(NAMED_STRUCT('K', V))" in sql.upper()
    assert "RLIKE '^(?:[0-9]+)$'" in sql.upper()
    assert "ISNAN" in sql.upper() and "QUALIFY" not in sql.upper() and "UBIGINT" not in sql.upper()


def test_spark_defaults_conf_and_spark_submit_settings_win_over_the_defaults(monkeypatch, tmp_path):
    """A data engineer's spark-defaults.conf (or spark-submit's settings) is kept: the built-in
    DEFAULTS fill in only what it leaves unset, and --conf wins over both."""
    from pipelines.engine.spark_engine import DEFAULTS, effective_settings, launcher_settings

    (tmp_path / "spark-defaults.conf").write_text(
        "# site settings\nspark.master  yarn\nspark.sql.shuffle.partitions   400\nspark.driver.memory 8g\n"
        "spark.sql.session.timeZone UTC\n")
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    launcher = launcher_settings()
    assert launcher == {"spark.master": "yarn", "spark.sql.shuffle.partitions": "400",
                        "spark.driver.memory": "8g", "spark.sql.session.timeZone": "UTC"}
    settings = effective_settings({"spark.driver.memory": "16g"}, launcher)
    assert "spark.sql.shuffle.partitions" not in settings  # left to the file: the session reads 400
    assert settings["spark.driver.memory"] == "16g"  # --conf wins
    # what results depend on is kept: the platform's zone makes CAST(ts AS DATE) the platform day
    assert settings["spark.sql.session.timeZone"] == DEFAULTS["spark.sql.session.timeZone"]


def test_a_collect_past_the_drivers_limit_says_which_setting_to_raise():
    """The M world's first Spark ingest died collecting its rows to the driver (Py4JJavaError, exit 1,
    no hint): now one line with Spark's reason and the settings to raise."""
    from common.errors import CircleBuyError
    from pipelines.engine.spark_engine import to_arrow

    class TooBig:
        def toArrow(self):  # noqa: N802 - pyspark's name
            raise RuntimeError(
                "An error occurred while calling o1151.getResult.\n"
                ": org.apache.spark.SparkException: Exception thrown in awaitResult:\n"
                "\tat org.apache.spark.util.SparkThreadUtils$.awaitResult(SparkThreadUtils.scala:56)\n"
                "Caused by: org.apache.spark.SparkException: Job aborted due to stage failure: Total size "
                "of serialized results of 2 tasks (1588.3 MiB) is bigger than spark.driver.maxResultSize "
                "(1024.0 MiB)\n\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages")

    with pytest.raises(CircleBuyError) as err:
        to_arrow(TooBig(), "the rows to write into the warehouse's orders")
    message = str(err.value)
    assert "\n" not in message and "the rows to write into the warehouse's orders" in message
    assert "bigger than spark.driver.maxResultSize (1024.0 MiB)" in message
    assert "--conf spark.driver.maxResultSize=8g" in message and "spark.driver.memory" in message

"""The Spark engine: the same definitions, transpiled to Spark SQL, on a SparkSession.

pyspark is an optional extra (`pip install 'circlebuy[spark]'`) and needs Java 17+; this module is
imported only when `--engine spark` is asked for, and says plainly what is missing.

Relations are temp views. A warehouse table the stage writes to (`attach`) is a view too: an insert
or update makes a new version of it (checkpointed, so the lineage stays short) and is logged, and
`replay` applies the log, in order, to the DuckDB warehouse inside the caller's transaction — so
both engines end with the same warehouse, and a failure anywhere leaves it untouched.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from common.clock import PLATFORM_TZ
from common.errors import CircleBuyError, UnparseableFileError, UsageError
from pipelines.engine.base import EngineOptions

if TYPE_CHECKING:
    import duckdb

INSTALL_HINT = "pip install 'circlebuy[spark]'"
# Sensible for one box; every key can be overridden with --conf (or spark-defaults.conf).
DEFAULTS: dict[str, str] = {
    "spark.app.name": "circlebuy",
    "spark.sql.shuffle.partitions": "2",  # a small world on local[2]; raise it on a cluster
    "spark.default.parallelism": "2",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": PLATFORM_TZ,  # contract timestamps read and print in platform time
    "spark.sql.jsonGenerator.ignoreNullFields": "false",  # to_json keeps nulls, as DuckDB's json_object
    "spark.ui.enabled": "false",
    "spark.sql.constraintPropagation.enabled": "false",  # a union of checkpoints trips it in 4.x
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "2g",
}
DEFAULT_MASTER = "local[2]"
# What the stages' results depend on (the platform day, nulls in JSON, a 4.x optimizer trap, Arrow for
# the executors' tasks): applied over spark-defaults.conf / spark-submit; only --conf can change them.
REQUIRED = ("spark.sql.session.timeZone", "spark.sql.jsonGenerator.ignoreNullFields",
            "spark.sql.constraintPropagation.enabled", "spark.sql.execution.arrow.pyspark.enabled")


class EngineUnavailableError(UsageError):
    """The engine asked for cannot run here (pyspark or Java missing, the master unreachable)."""


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def require_spark() -> None:
    """Raise EngineUnavailableError naming what to install when pyspark, sqlglot or Java is missing."""
    missing = []
    for module in ("pyspark", "sqlglot"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise EngineUnavailableError(
            f"--engine spark needs {' and '.join(missing)}, which is not installed; run {INSTALL_HINT}")
    java_home = os.environ.get("JAVA_HOME")
    if not shutil.which("java") and not (java_home and (Path(java_home) / "bin" / "java").exists()):
        raise EngineUnavailableError(
            "--engine spark needs a Java 17+ runtime and found none (no `java` on PATH, no $JAVA_HOME); "
            "install one (Debian: apt-get install default-jre-headless, or `make java`)")


def build_session(options: EngineOptions) -> Any:
    """A SparkSession: DEFAULTS (where spark-submit / spark-defaults.conf set nothing), then the
    --conf settings, on --spark-master (default local[2]).

    A setting Spark rejects is a UsageError naming it; so is a session that cannot start."""
    require_spark()
    from pyspark.sql import SparkSession

    launcher = launcher_settings()
    master = options.spark_master or launcher.get("spark.master") or DEFAULT_MASTER
    _python_for_workers(master, options.spark_conf)
    builder = SparkSession.builder.master(master)
    settings = effective_settings(options.spark_conf, launcher)
    for key, value in settings.items():
        if not key.startswith("spark.sql."):  # session (SQL) settings are set and checked below
            builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:
        raise EngineUnavailableError(f"--engine spark: could not start Spark on master {master!r}: "
                                     f"{_first_line(exc)}") from None
    spark.sparkContext.setLogLevel("ERROR")
    for key, value in settings.items():
        if key.startswith("spark.sql."):
            try:
                spark.conf.set(key, value)
            except Exception as exc:
                raise UsageError(f"--conf {key}={value}: rejected by Spark: {_first_line(exc)}") from None
    try:
        spark.sql("SELECT 1").collect()
    except Exception as exc:
        raise UsageError(f"--engine spark: the session does not run with these settings "
                         f"({', '.join(f'{k}={v}' for k, v in options.spark_conf.items()) or 'defaults'}): "
                         f"{_first_line(exc)}") from None
    return spark


def launcher_settings() -> dict[str, str]:
    """What the data engineer set outside the command: under spark-submit, its settings (its
    --conf and spark-defaults.conf, read from the running JVM); else the spark-defaults.conf in
    $SPARK_CONF_DIR, or $SPARK_HOME/conf (pyspark's own launcher reads the same file)."""
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # launched by spark-submit: the JVM holds them
        from pyspark import SparkConf

        return dict(SparkConf().getAll())
    folder = os.environ.get("SPARK_CONF_DIR") or (
        str(Path(os.environ["SPARK_HOME"]) / "conf") if os.environ.get("SPARK_HOME") else None)
    path = Path(folder) / "spark-defaults.conf" if folder else None
    if path is None or not path.is_file():
        return {}
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split(None, 1)
        if parts and not parts[0].startswith("#") and len(parts) == 2:
            found[parts[0]] = parts[1].strip()
    return found


def effective_settings(conf: dict[str, str], launcher: dict[str, str]) -> dict[str, str]:
    """The settings the session is built with: DEFAULTS where the launcher (spark-submit,
    spark-defaults.conf) says nothing, and always the REQUIRED ones; then every --conf."""
    return {**{k: v for k, v in DEFAULTS.items() if k not in launcher or k in REQUIRED}, **conf}


def _python_for_workers(master: str, conf: dict[str, str]) -> None:
    """The Python that runs tasks (mapInArrow: picks): `spark.pyspark.python` when given, else
    $PYSPARK_PYTHON, else this interpreter (pyspark's own default is `python3` on PATH, which may
    lack polars). On a local master the workers also import this checkout's code first, so a task
    unpickles the driver's classes; on a cluster the executors' image must carry the package."""
    python = conf.get("spark.pyspark.python") or os.environ.get("PYSPARK_PYTHON") or sys.executable
    os.environ["PYSPARK_PYTHON"] = python
    if master.startswith("local"):
        root = str(Path(__file__).resolve().parents[2])
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        if root not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])


def active_session() -> Any:
    """The SparkSession already running in this process, or None (a run stops only its own)."""
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def task_failure(error: BaseException) -> str:
    """The Python exception a Spark task died of, as one line ("RuntimeError: boom"), out of the
    Py4J / PythonException text (a Java stack trace wrapped round the worker's traceback); else
    the error's first line."""
    text = str(error)
    marker = "Traceback (most recent call last):"
    if marker in text:
        for line in text.rsplit(marker, 1)[1].splitlines()[1:]:
            if line.strip() and not line[0].isspace():
                return line.strip()
    return _first_line(error)


LIMIT_HINTS = (
    ("spark.driver.maxResultSize", "the results collected to the driver outgrew "
     "spark.driver.maxResultSize; raise it and the driver's memory (--conf spark.driver.maxResultSize=8g "
     "--conf spark.driver.memory=12g): ingest on Spark replays every loaded row into the DuckDB "
     "warehouse on the driver"),
    ("OutOfMemoryError", "Spark ran out of memory; give the driver and executors more "
     "(--conf spark.driver.memory=12g --conf spark.executor.memory=8g) or more partitions "
     "(--conf spark.sql.shuffle.partitions=200)"),
)


def to_arrow(df: Any, what: str) -> Any:
    """`df` collected to the driver as an Arrow table; a failure is one line naming `what`, Spark's own
    reason and, for the limits a larger world hits (the driver's result size, memory), the setting to
    raise — not a Py4J wall of text."""
    try:
        return df.toArrow()
    except Exception as exc:
        text = str(exc)
        reason = next((line.strip() for line in text.splitlines()
                       if "Job aborted due to stage failure" in line or "OutOfMemoryError" in line),
                      task_failure(exc))
        hint = next((h for key, h in LIMIT_HINTS if key in text), None)
        raise CircleBuyError(f"Spark could not collect {what}: {reason[:400]}"
                             + (f"; {hint}" if hint else "")) from exc


def _plain(name: str) -> str:
    """A relation's name as Spark's catalog knows it ('"orders"' in DuckDB's quoting -> 'orders')."""
    from sqlglot import exp

    return exp.to_table(name, dialect="duckdb").name


class SparkEngine:
    """Runs the DuckDB-dialect definitions on `spark`, transpiled (pipelines/engine/dialect.py)."""

    name = "spark"

    def __init__(self, spark: Any, workdir: Path | None = None) -> None:
        from pipelines.engine.dialect import to_spark

        self.spark = spark
        self._sql = to_spark
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="circlebuy-spark-"))
        self._attached: set[str] = set()
        self._log: list[tuple[str, str, tuple[str, ...], tuple[str, ...], Any]] = []  # checkpointed frames
        self._views: set[str] = set()

    # -- relations ---------------------------------------------------------------------------

    def _df(self, sql: str) -> Any:
        try:
            return self.spark.sql(self._sql(sql))
        except Exception as exc:
            raise CircleBuyError(f"Spark could not run a stage query: {_first_line(exc)}\n"
                                 f"query (DuckDB dialect): {sql[:500]}") from exc

    def _name(self, name: str, df: Any) -> None:
        name = _plain(name)
        df.createOrReplaceTempView(name)
        self._views.add(name)

    def read_csv_text(self, name: str, path: Path) -> None:
        """All columns as text; `_row` from the partition each line was read into (file splits are
        in file order, and monotonically_increasing_id counts up from partition << 33 within one):
        row = rows in earlier partitions + position in its own + 1 — distributed, no single-task sort."""
        from pyspark.sql import functions as F

        try:
            df = (self.spark.read.option("header", True).option("quote", '"').option("escape", '"')
                  .option("mode", "FAILFAST").csv(str(path)))
            df = df.select("*", F.spark_partition_id().alias("_pid"),
                           F.monotonically_increasing_id().alias("_mid")).localCheckpoint(eager=True)
            counts = sorted(df.groupBy("_pid").count().collect())
        except Exception as exc:
            raise UnparseableFileError(f"{path.name}: cannot be read as CSV: {_first_line(exc)}") from None
        before, offsets = 0, []
        for pid, n in counts:
            offsets.append((pid, before))
            before += n
        offset = self.spark.createDataFrame(offsets or [(0, 0)], "_pid INT, _before BIGINT")
        row = (F.col("_before") + F.col("_mid") - F.shiftleft(F.col("_pid").cast("bigint"), 33) + 1)
        columns = [F.col(f"`{c}`") for c in df.columns if c not in ("_pid", "_mid")]
        out = df.join(F.broadcast(offset), "_pid").select(*columns, row.cast("bigint").alias("_row"))
        self._name(name, out)

    def read_parquet(self, name: str, path: Path) -> None:
        from pyspark.sql import functions as F

        df = self.spark.read.parquet(str(path))
        self._name(name, df.select("*", (F.col("_metadata.row_index") + 1).cast("bigint").alias("_row")))

    def register(self, name: str, frame: pl.DataFrame) -> None:
        self._name(name, self.spark.createDataFrame(frame.to_arrow()))

    def view(self, name: str, sql: str, *, reused: bool = False) -> None:
        df = self._df(sql)
        self._name(name, df.cache() if reused else df)

    def table(self, name: str, sql: str) -> None:
        self._name(name, self._df(sql).cache())

    def rows(self, sql: str) -> list[tuple]:
        result = to_arrow(self._df(sql), "a stage query's rows")  # by position: names may repeat
        return list(zip(*(column.to_pylist() for column in result.columns), strict=True))

    def frame(self, sql: str) -> pl.DataFrame:
        return pl.from_arrow(to_arrow(self._df(sql), "a stage query's result"))

    # -- warehouse tables --------------------------------------------------------------------

    def attach(self, con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> None:
        """Expose the warehouse's `tables` as relations of the same names (exported to Parquet)."""
        for table in tables:
            path = self.workdir / f"{table}.parquet"
            con.execute(f"COPY (SELECT * FROM \"{table}\") TO '{path}' (FORMAT parquet)")
            self._name(table, self.spark.read.parquet(str(path)))
            self._attached.add(table)

    def insert(self, table: str, sql: str) -> int:
        table = _plain(table)
        new = self._df(sql)
        current = self.spark.table(table)
        new = new.toDF(*current.columns)  # by position, as INSERT INTO ... SELECT
        new = new.select(*[new[f.name].cast(f.dataType) for f in current.schema.fields])
        new = new.localCheckpoint(eager=True)
        count = new.count()
        if table in self._attached:
            self._log.append(("insert", table, (), (), new))
        self._name(table, current.unionAll(new))  # two checkpoints: a short lineage as it is
        return count

    def update(self, table: str, key: Sequence[str], columns: Sequence[str], sql: str) -> int:
        from pyspark.sql import functions as F

        table = _plain(table)
        updates = self._df(sql).select(*key, *columns).localCheckpoint(eager=True)
        current = self.spark.table(table)
        hits = updates.select(*key, *[F.col(c).alias(f"_u_{c}") for c in columns],
                              F.lit(True).alias("_u_hit"))
        joined = current.join(hits, list(key), "left")

        def value(c: str) -> Any:
            if c not in columns:
                return F.col(c)
            changed = F.when(F.col("_u_hit"), F.col(f"_u_{c}")).otherwise(F.col(c))
            return changed.cast(current.schema[c].dataType).alias(c)

        out = joined.select(*[value(c) for c in current.columns])
        matched = joined.where(F.col("_u_hit")).count()
        if table in self._attached:
            self._log.append(("update", table, tuple(key), tuple(columns), updates))
        self._name(table, out.localCheckpoint(eager=True))
        return matched

    def replay(self, con: duckdb.DuckDBPyConnection) -> None:
        """Apply every insert and update made to attached tables, in order, to the warehouse."""
        for index, (op, table, key, columns, rows) in enumerate(self._log):
            batch = f"_spark_batch{index}"
            con.register(batch, to_arrow(rows, f"the rows to write into the warehouse's {table}"))
            try:
                if op == "insert":
                    con.execute(f'INSERT INTO "{table}" SELECT * FROM {batch}')
                else:
                    sets = ", ".join(f'"{c}" = _u."{c}"' for c in columns)
                    match = " AND ".join(f'"{table}"."{k}" = _u."{k}"' for k in key)
                    con.execute(f'UPDATE "{table}" SET {sets} FROM {batch} AS _u WHERE {match}')
            finally:
                con.unregister(batch)
        self._log.clear()

    def drop(self, *names: str) -> None:
        for name in map(_plain, names):
            if name in self._views:
                self.spark.catalog.dropTempView(name)
                self._views.discard(name)

    def close(self) -> None:
        self.drop(*list(self._views))
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def spark_engine(options: EngineOptions) -> Iterator[SparkEngine]:
    """A SparkEngine on a session built from `options`; the session is left running for reuse
    in the process (getOrCreate), the engine's relations and files are cleaned up."""
    engine = SparkEngine(build_session(options))
    try:
        yield engine
    finally:
        engine.close()

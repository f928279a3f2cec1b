"""The Spark engine: the same definitions, transpiled to Spark SQL, on a SparkSession.

pyspark is an optional extra (`pip install 'circlebuy[spark]'`) and needs Java 17+; this module is
imported only when `--engine spark` is asked for, and says plainly what is missing.

Relations are temp views. A warehouse table the stage writes to (`attach`) is a view too: an insert
or update makes a new version of it (checkpointed, so the lineage stays short) and is logged, and
`replay` applies the log, in order, to the DuckDB warehouse inside the caller's transaction — so
both engines end with the same warehouse, and a failure anywhere leaves it untouched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
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
    """Raise EngineUnavailableError naming what to install when pyspark, sqlglot or Java is missing
    (or the Java found cannot run this pyspark), before anything is started."""
    missing = []
    for module in ("pyspark", "sqlglot"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise EngineUnavailableError(
            f"--engine spark needs {' and '.join(missing)}, which is not installed; run {INSTALL_HINT}")
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):  # under spark-submit its JVM runs already
        require_java()


JAVA_HINT = "`make java` installs one (Debian: apt-get install default-jre-headless)"


def minimum_java() -> int:
    """The oldest Java the installed pyspark runs on: 17 for Spark 4, 8 before."""
    import pyspark

    return 17 if int(pyspark.__version__.split(".")[0]) >= 4 else 8


def require_java() -> None:
    """The Java that pyspark's launcher (spark-class) will run must be there and new enough: it runs
    $JAVA_HOME/bin/java when JAVA_HOME is set, else `java` on PATH. Each problem is one line naming
    JAVA_HOME and how to fix it, instead of spark-class's `CMD: bad array subscript` and pyspark's
    JAVA_GATEWAY_EXITED."""
    need = minimum_java()
    java_home = os.environ.get("JAVA_HOME", "")
    on_path = shutil.which("java")
    if java_home:
        java = Path(java_home) / "bin" / "java"
        if not (java.is_file() and os.access(java, os.X_OK)):
            where = "does not exist" if not Path(java_home).exists() else "holds no bin/java"
            instead = f"unset it to use {on_path}, " if on_path else ""
            raise EngineUnavailableError(
                f"--engine spark: JAVA_HOME is {java_home!r}, which {where}; point JAVA_HOME at a Java "
                f"{need}+ runtime or {instead}or install one: {JAVA_HINT}")
        said = f"JAVA_HOME={java_home}"
    elif on_path:
        java, said = Path(on_path), f"`java` on PATH ({on_path}; JAVA_HOME is not set)"
    else:
        raise EngineUnavailableError(
            f"--engine spark needs a Java {need}+ runtime and found none (no `java` on PATH, no $JAVA_HOME); "
            f"install one: {JAVA_HINT}")
    version, problem = java_version(str(java))
    if version is None:
        raise EngineUnavailableError(f"--engine spark: {said} does not run ({problem}); point JAVA_HOME "
                                     f"at a working Java {need}+ runtime, or {JAVA_HINT}")
    if version < need:
        raise EngineUnavailableError(
            f"--engine spark: {said} is Java {version}, and this pyspark needs Java {need}+; point JAVA_HOME "
            f"at a Java {need}+ runtime, or {JAVA_HINT}")


@lru_cache(maxsize=8)
def java_version(java: str) -> tuple[int | None, str]:
    """(the major version `java -version` reports, or None and why it could not be read)."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    text = f"{done.stderr}\n{done.stdout}"
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if done.returncode != 0 or not found:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "no output")
        return None, f"`java -version` exited {done.returncode}: {first[:200]}"
    major, minor = int(found.group(1)), int(found.group(2) or 0)
    return (minor if major == 1 else major), ""  # "1.8.0_392" is Java 8


def check_master(master: str, timeout_s: float = 5.0) -> None:
    """A standalone master (`spark://host:port[,host2:port2]`) that accepts no connection is one line
    now, not Spark's three 20-second registration attempts (fixed in StandaloneAppClient, no setting
    shortens them) and their stack traces. Other masters (local, yarn, k8s://) are left to Spark,
    once their URL is one spark-submit takes (else it dies with a Java stack trace)."""
    if not (master == "yarn" or master.startswith(("spark", "k8s", "local"))):  # spark-submit's own rule
        raise EngineUnavailableError(
            f"--spark-master {master!r}: expected local[N], spark://HOST:PORT, yarn or k8s://https://HOST:PORT")
    if not master.startswith("spark://"):
        return
    failures = []
    for address in master[len("spark://"):].split(","):
        host, _, port = address.strip().rpartition(":")
        host, port = (host or address.strip()), (port if host else "7077")
        if not port.isdigit():
            raise EngineUnavailableError(f"--spark-master {master!r}: expected spark://HOST:PORT (e.g. "
                                         f"spark://{host or 'master'}:7077); got the port {port!r}")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return  # one master answering is enough: Spark registers with whichever leads
        except OSError as exc:
            reason = ("connection refused" if isinstance(exc, ConnectionRefusedError)
                      else "timed out" if isinstance(exc, TimeoutError)
                      else exc.strerror or type(exc).__name__)
            failures.append(f"{host}:{port}: {reason}")
    raise EngineUnavailableError(
        f"--engine spark: could not reach the Spark master {master!r} ({'; '.join(failures)}); is the "
        "master running there (start-master.sh), and is --spark-master its URL as its log prints it?")


def build_session(options: EngineOptions) -> Any:
    """A SparkSession: DEFAULTS (where spark-submit / spark-defaults.conf set nothing), then the
    --conf settings, on --spark-master (default local[2]).

    A setting Spark rejects is a UsageError naming it; so is a session that cannot start. Before a
    JVM is started: Java is checked (require_spark) and a standalone master must accept a connection
    (check_master); Spark's own log goes to a file (named in a start failure), its console gets its
    errors without stack traces (quiet_spark_log); py4j is made fork-safe and quiet (quiet_py4j)."""
    require_spark()
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    launcher = launcher_settings()
    master = options.spark_master or launcher.get("spark.master") or DEFAULT_MASTER
    starting = SparkContext._active_spark_context is None and not os.environ.get("PYSPARK_GATEWAY_PORT")
    if starting:
        check_master(master)
    quiet_py4j()
    _python_for_workers(master, options.spark_conf)
    builder = SparkSession.builder.master(master)
    settings = effective_settings(options.spark_conf, launcher)
    spark_log = quiet_spark_log(settings, launcher) if starting and SparkContext._gateway is None else None
    for key, value in settings.items():
        if not key.startswith("spark.sql."):  # session (SQL) settings are set and checked below
            builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:
        raise EngineUnavailableError(f"--engine spark: could not start Spark on master {master!r}: "
                                     f"{start_failure(exc, spark_log)}"
                                     + (f" (Spark's log: {spark_log})" if spark_log else "")) from None
    if spark_log is None:
        spark.sparkContext.setLogLevel("ERROR")  # else the console already shows errors only
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


def start_failure(error: BaseException, spark_log: Path | None = None) -> str:
    """Why a session did not start, in one line: the Java exception out of Py4J's "An error occurred
    while calling None.org.apache.spark..."; a standalone master that took the connection but never
    registered the application (Spark's log says "All masters are unresponsive") is said so."""
    text = str(error)
    try:
        logged = spark_log.read_text(encoding="utf-8", errors="replace") if spark_log else ""
    except OSError:
        logged = ""
    if "All masters are unresponsive" in text or "All masters are unresponsive" in logged:
        return ("the master never registered this application (All masters are unresponsive, after 3 "
                "tries of 20 s): is a Spark master of this pyspark's version running at that URL?")
    for line in text.splitlines():
        if line.startswith(": ") and line[2:].strip():
            return line[2:].strip()[:400]
    if "JAVA_GATEWAY_EXITED" in text:
        return ("the Java process that runs Spark exited before it started (Java's own message is just "
                "above; a --conf of spark.driver.* it cannot take, e.g. spark.driver.memory, is the usual "
                "cause)")
    return _first_line(error)[:400]


# one folder per user (mode 0700): another user's files are never read, followed or pruned
SPARK_LOG_DIR = Path(tempfile.gettempdir()) / f"circlebuy-spark-{os.getuid()}"
SPARK_LOG_KEEP_S = 7 * 86400
# Spark's log on the driver (log4j2): everything from WARN with stack traces to a file; the console
# (stderr) gets ERROR lines alone, without their stack traces (the run's own error says what failed).
LOG4J2 = """\
status = error
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
rootLogger.appenderRef.console.ref = console
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c: %m%n%ex
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = error
appender.console.layout.type = PatternLayout
appender.console.layout.alwaysWriteExceptions = false
appender.console.layout.pattern = %d{{yy/MM/dd HH:mm:ss}} %p %c{{1}}: %m%n
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
logger.hive.name = org.apache.hadoop.hive
logger.hive.level = error
"""


def quiet_spark_log(settings: dict[str, str], launcher: dict[str, str]) -> Path | None:
    """Point the driver's log4j2 at LOG4J2 (through spark.driver.extraJavaOptions, which pyspark's
    launcher passes to the JVM it starts) and return the log file; adds to `settings` in place. Left
    alone (None) where the data engineer configured Spark's logging: a log4j2.properties in
    $SPARK_CONF_DIR (or $SPARK_HOME/conf), or a -Dlog4j2.configurationFile of their own."""
    options_key = "spark.driver.extraJavaOptions"
    theirs = settings.get(options_key) or launcher.get(options_key) or ""
    folder = os.environ.get("SPARK_CONF_DIR") or (
        str(Path(os.environ["SPARK_HOME"]) / "conf") if os.environ.get("SPARK_HOME") else None)
    if "log4j" in theirs or (folder and (Path(folder) / "log4j2.properties").is_file()):
        return None
    try:
        SPARK_LOG_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        if SPARK_LOG_DIR.is_symlink() or SPARK_LOG_DIR.stat().st_uid != os.getuid():
            return None  # not ours: Spark logs as it would by default
        for old in SPARK_LOG_DIR.glob("driver-*"):
            if time.time() - old.stat().st_mtime > SPARK_LOG_KEEP_S:
                old.unlink(missing_ok=True)
        stem = f"driver-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        log, config = SPARK_LOG_DIR / f"{stem}.log", SPARK_LOG_DIR / f"{stem}.log4j2.properties"
        config.write_text(LOG4J2.format(log=log), encoding="utf-8")
    except OSError:
        return None  # no temp folder to write to: Spark logs as it would by default
    settings[options_key] = f"-Dlog4j2.configurationFile=file:{config} {theirs}".strip()
    return log


def quiet_py4j() -> None:
    """py4j, the driver's bridge to the JVM, made fork-safe and quiet (idempotent).

    Fork-safe: py4j keeps one socket to the JVM per Python thread, and closes a thread's socket with
    shutdown() when its Python object goes away. A child forked from the driver (statsforecast's
    process pool in the evaluate stage, any multiprocessing) drops its copies of the other threads'
    connections at the fork, and shutdown() there cut the driver's own sockets: the next call on one
    failed with `ConnectionResetError` / `Py4JNetworkError: Error while sending`, which py4j retried
    and logged with tracebacks. In a process that did not open a connection, close() now only lets go
    of its copy of the socket.

    Quiet: py4j logs its connection housekeeping, and every error it then raises to the caller, at
    INFO, one record through the root logger (`logging.info`), with tracebacks; the CLI logs INFO to
    stderr. What py4j raises still reaches the caller, and a stage that fails says so as the run's
    error; py4j's own records below CRITICAL are dropped unless its logger was configured already."""
    from py4j import clientserver

    connection = clientserver.ClientServerConnection
    if not getattr(connection.close, "_fork_safe", False):
        close = connection.close
        owner = os.getpid()

        def fork_safe_close(self: Any, reset: bool = False) -> None:
            if os.getpid() == owner:
                return close(self, reset)
            stream, sock = self.stream, self.socket  # the driver's socket, inherited: never shutdown()
            self.stream = self.socket = None
            for handle in (stream, sock):
                try:
                    if handle is not None:
                        handle.close()
                except OSError:
                    pass
            return None

        fork_safe_close._fork_safe = True  # type: ignore[attr-defined]
        connection.close = fork_safe_close
    py4j = logging.getLogger("py4j")
    if py4j.level == logging.NOTSET:
        py4j.setLevel(logging.CRITICAL)
    root = logging.getLogger()
    if not any(isinstance(f, _Py4JRootRecords) for f in root.filters):
        root.addFilter(_Py4JRootRecords())


class _Py4JRootRecords(logging.Filter):
    """Drops what py4j logs through the root logger itself (`logging.info("Exception while sending
    command.", exc_info=True)` before a retry) below CRITICAL; every other record passes."""

    def __init__(self) -> None:
        super().__init__()
        import py4j

        self.folder = str(Path(py4j.__file__).resolve().parent)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL or record.name != "root":
            return True
        return not str(Path(record.pathname).resolve()).startswith(self.folder)


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

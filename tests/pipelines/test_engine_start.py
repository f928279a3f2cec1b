"""Starting and running the Spark engine's session: what cannot start is one line, said before a JVM
is launched where it can be (Java, the master), Spark's own log kept off the terminal, and py4j quiet
and safe across forks (a successful run prints no tracebacks)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.engine import EngineOptions
from tests.pipelines.spark_support import require_spark, spark_session

require_spark()

from pipelines.engine import spark_engine  # noqa: E402  (after the skip: pyspark is optional)
from pipelines.engine.spark_engine import (  # noqa: E402
    EngineUnavailableError,
    build_session,
    check_master,
    quiet_py4j,
    quiet_spark_log,
    require_java,
)

ROOT = Path(__file__).resolve().parents[2]


def _fake_java(folder: Path, says: str) -> Path:
    """A JAVA_HOME whose bin/java prints `says` for -version, as a real one does (on stderr)."""
    (folder / "bin").mkdir(parents=True)
    java = folder / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '{says}' >&2\n", encoding="utf-8")
    java.chmod(0o755)
    return folder


def test_a_java_home_without_java_is_one_line_naming_it(monkeypatch, tmp_path):
    """spark-class runs $JAVA_HOME/bin/java whenever JAVA_HOME is set, `java` on PATH or not."""
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nonexistent"))
    with pytest.raises(EngineUnavailableError) as missing:
        require_java()
    said = str(missing.value)
    assert "\n" not in said and f"JAVA_HOME is '{tmp_path / 'nonexistent'}', which does not exist" in said
    assert "make java" in said and "17+" in said
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "empty"))
    with pytest.raises(EngineUnavailableError, match="which holds no bin/java"):
        require_java()


@pytest.mark.parametrize(("says", "version"), [('openjdk version "11.0.2" 2019-01-15', 11),
                                                ('java version "1.8.0_392"', 8)])
def test_a_java_too_old_for_this_pyspark_is_named(monkeypatch, tmp_path, says, version):
    monkeypatch.setenv("JAVA_HOME", str(_fake_java(tmp_path / f"jdk{version}", says)))
    with pytest.raises(EngineUnavailableError) as old:
        require_java()
    assert f"is Java {version}, and this pyspark needs Java 17+" in str(old.value)
    assert "JAVA_HOME=" in str(old.value) and "make java" in str(old.value)


def test_require_spark_checks_java_before_a_jvm_is_started(monkeypatch, tmp_path):
    monkeypatch.delenv("PYSPARK_GATEWAY_PORT", raising=False)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "nonexistent"))
    with pytest.raises(EngineUnavailableError, match="JAVA_HOME is"):
        spark_engine.require_spark()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_master_is_one_quick_line(monkeypatch):
    """Spark itself tries a standalone master 3 times, 20 s apart, printing Java stack traces (72 s,
    134 lines), then says only "An error occurred while calling None...SparkSession"."""
    from pyspark import SparkContext

    monkeypatch.setattr(SparkContext, "_active_spark_context", None)
    port = _closed_port()
    started = time.monotonic()
    with pytest.raises(EngineUnavailableError) as refused:
        build_session(EngineOptions("spark", f"spark://127.0.0.1:{port}"))
    assert time.monotonic() - started < 15
    said = str(refused.value)
    assert "\n" not in said and "connection refused" in said
    assert f"could not reach the Spark master 'spark://127.0.0.1:{port}'" in said
    with pytest.raises(EngineUnavailableError, match="expected local"):
        check_master("bogus://x")  # spark-submit would die with a stack trace
    check_master("local[2]")
    check_master("yarn")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from pipelines.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def test_spark_start_failures_at_the_command_line_are_one_line(tmp_path, tiny_tables, write_raw):
    """What the black-box trial ran: `ingest --engine spark` with a master nobody listens on, and with a
    JAVA_HOME that holds no Java: exit 2 and one line on stderr, within seconds."""
    raw = write_raw(tmp_path / "raw", tiny_tables)
    started = time.monotonic()
    master = _cli("ingest", str(raw), "--home", str(tmp_path / "h1"), "--engine", "spark",
                  "--spark-master", f"spark://127.0.0.1:{_closed_port()}")
    assert master.returncode == 2, master.stderr
    assert master.stderr.strip().count("\n") == 0 and "connection refused" in master.stderr, master.stderr
    java = _cli("ingest", str(raw), "--home", str(tmp_path / "h2"), "--engine", "spark",
                env={"JAVA_HOME": str(tmp_path / "nonexistent")})
    assert java.returncode == 2, java.stderr
    assert java.stderr.strip().count("\n") == 0 and "JAVA_HOME is" in java.stderr, java.stderr
    assert "bad array subscript" not in java.stderr and "JAVA_GATEWAY_EXITED" not in java.stderr
    assert time.monotonic() - started < 60


def test_spark_logs_to_a_file_unless_its_logging_is_configured(monkeypatch, tmp_path):
    monkeypatch.setattr(spark_engine, "SPARK_LOG_DIR", tmp_path / "logs")
    monkeypatch.delenv("SPARK_CONF_DIR", raising=False)
    monkeypatch.delenv("SPARK_HOME", raising=False)
    settings = {"spark.driver.extraJavaOptions": "-XX:+UseG1GC"}
    log = quiet_spark_log(settings, {})
    assert log is not None and log.parent == tmp_path / "logs"
    option = settings["spark.driver.extraJavaOptions"]
    assert option.startswith("-Dlog4j2.configurationFile=file:") and option.endswith(" -XX:+UseG1GC")
    config = Path(option.split()[0].split("file:", 1)[1]).read_text(encoding="utf-8")
    assert f"appender.file.fileName = {log}" in config and "alwaysWriteExceptions = false" in config
    # the data engineer's own logging is theirs: a -Dlog4j2... option, or a log4j2.properties
    theirs = {"spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile=file:/etc/spark/log4j2.xml"}
    assert quiet_spark_log(dict(theirs), {}) is None
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "log4j2.properties").write_text("rootLogger.level = info\n", encoding="utf-8")
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path / "conf"))
    assert quiet_spark_log({}, {}) is None


def test_py4j_housekeeping_stays_off_the_log_but_other_records_pass(caplog):
    """py4j logs at INFO (the CLI's level), with tracebacks, and once through the root logger itself."""
    import py4j.java_gateway

    quiet_py4j()
    caplog.set_level(logging.INFO)
    logging.getLogger("py4j.clientserver").info("Closing down clientserver connection")
    root = logging.getLogger()
    record = root.makeRecord("root", logging.INFO, py4j.java_gateway.__file__, 1056,
                             "Exception while sending command.", (), None)
    root.handle(record)
    logging.getLogger("circlebuy.nightly").info("stage evaluate")
    logging.info("a root record of our own")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["stage evaluate", "a root record of our own"]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    yield from spark_session()


def test_a_forked_child_leaves_the_drivers_py4j_connections_alone(spark):
    """The evaluate stage forks (statsforecast's process pool) while the run's session is up. A child
    dropped its copies of the driver's other threads' py4j connections at the fork and shut their
    sockets down, cutting them in the driver too: `ConnectionResetError` / `Py4JNetworkError: Error
    while sending` tracebacks in a run that succeeded."""
    ready, go = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def helper() -> None:  # a second thread with its own py4j connection (pinned threads), alive at the fork
        seen["first"] = spark.range(3).count()
        # its socket only: holding the connection itself would keep it alive in the child too
        seen["socket"] = spark.sparkContext._gateway._gateway_client.get_thread_connection().socket
        ready.set()
        go.wait(60)
        try:
            seen["after"] = spark.range(4).count()
        except Exception as exc:  # pragma: no cover - what the test is for
            seen["error"] = exc

    thread = threading.Thread(target=helper, daemon=True)
    thread.start()
    assert ready.wait(120)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
    # still open in the driver: nothing to read yet (EOF, b"", is what a child's shutdown() left)
    with pytest.raises(BlockingIOError):
        seen["socket"].recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    go.set()
    thread.join(120)
    assert seen.get("after") == 4 and "error" not in seen
    assert spark.range(5).count() == 5

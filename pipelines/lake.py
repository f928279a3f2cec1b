"""The output lake: each published day's per-day tables as Parquet folders partitioned by day.

    <lake>/picks/day=2026-11-20/part-*.parquet
    <lake>/demand/day=2026-11-20/part-*.parquet

`<lake>` is `HOME/lake` unless `--lake PATH` says otherwise. The day is the run's date (the picks'
`for_date`, the demand's `as_of` day); `day` is the folder's name only, not a column in the files
(a Hive-partitioned reader derives it: DuckDB `read_parquet('<lake>/picks/*/*.parquet',
hive_partitioning = true)`, Spark `spark.read.parquet('<lake>/picks')`, polars
`scan_parquet(..., hive_partitioning=True)`). The rows are the published snapshot's table, read
back from the snapshot folder, so the lake never holds what the API does not serve.

A day is replaced whole, never edited: the nightly's publish stage `stage`s the day's partitions
into `<lake>/.staging/<run_id>/<table>/day=D/` (on `--engine spark` written by Spark's executors,
`DataFrame.write.parquet`; else by polars on the driver), `commit`s them (each table: the old
`day=D` folder renamed into `<lake>/.replaced/<run_id>/`, the new one renamed in) just before the
snapshot is switched live, `rollback`s them if that switch fails, and `discard`s the replaced
folders once it has succeeded. Other days are never touched; a run that fails, at any stage, leaves
every partition as it was. Between the two renames of one table a reader listing it does not see
that day (never half of it).

With `--lake-catalog DB` (on `--engine spark`), the lake's tables are also tables of the Spark
session's catalog, `DB.picks` and `DB.demand` (external Parquet tables over `<lake>/<table>`,
partitioned by `day`; a Hive metastore where the session is configured with one, e.g. `--conf
spark.sql.catalogImplementation=hive`, else Spark's in-memory catalog), their partitions synced to
the lake's folders after the day's commit and before the snapshot switch (`sync_catalog`).

Timestamps are written as UTC instants on both engines (Spark's Parquet writer stores instants in
UTC; the driver's writer converts to UTC to match), so one table has one schema whichever engine
wrote each day. The lake is a local path (on a cluster: a mount the driver and every executor see
at the same path); the swap is a rename on the driver's file system.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from common.errors import UsageError

log = logging.getLogger("circlebuy.lake")

TABLES = ("picks", "demand")  # the snapshot's tables that are one day's output
STAGING = ".staging"
REPLACED = ".replaced"


def partition(lake: Path, table: str, day: date) -> Path:
    """The folder holding `table`'s rows for `day`."""
    return lake / table / f"day={day.isoformat()}"


@dataclass
class StagedDay:
    """One run's partitions for one day: written under `staging`, not yet visible in the lake."""

    lake: Path
    day: date
    run_id: str
    staged: dict[str, Path] = field(default_factory=dict)     # table -> its new partition, staged
    replaced: dict[str, Path] = field(default_factory=dict)   # table -> where its old partition went
    committed: list[str] = field(default_factory=list)        # tables whose new partition is in place
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def staging(self) -> Path:
        return self.lake / STAGING / self.run_id

    @property
    def trash(self) -> Path:
        return self.lake / REPLACED / self.run_id


def stage(lake: Path, run_id: str, day: date, snapshot: Path, spark: Any = None) -> StagedDay:
    """Write the day's partition of each table of `snapshot` (picks.parquet, demand.parquet; a table
    the snapshot lacks is skipped) under the lake's staging folder. Nothing in the lake changes; on
    failure what was staged is removed and the error raised."""
    staged = StagedDay(Path(lake), day, run_id)
    try:
        for table in TABLES:
            source = snapshot / f"{table}.parquet"
            if not source.exists():
                continue
            frame = pl.read_parquet(source)
            if "day" in frame.columns:
                raise ValueError(f"{source}: a column named 'day' would clash with the lake's partition")
            folder = partition(staged.staging, table, day)
            folder.parent.mkdir(parents=True, exist_ok=True)
            write_partition(frame, folder, spark)
            staged.staged[table] = folder
            staged.rows[table] = frame.height
    except BaseException:
        discard(staged, keep_replaced=False)
        raise
    return staged


def in_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """Zone-aware timestamps as UTC (the same instants), as Spark's Parquet writer stores them."""
    return frame.with_columns(pl.col(name).dt.convert_time_zone("UTC") for name, dtype in frame.schema.items()
                              if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None)


def write_partition(frame: pl.DataFrame, folder: Path, spark: Any = None) -> None:
    """`frame` as `folder/part-*.parquet` (the folder must not exist): by Spark's executors when a
    session is given (`DataFrame.write.parquet`, TIMESTAMP_MICROS instants), else by polars."""
    if spark is None:
        folder.mkdir()
        in_utc(frame).write_parquet(folder / "part-0.parquet")
        return
    key = "spark.sql.parquet.outputTimestampType"  # Spark's default is INT96, which readers misread
    before = spark.conf.get(key, None)
    spark.conf.set(key, "TIMESTAMP_MICROS")
    try:
        df = spark.createDataFrame(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))
        # "file://" + the path as it is: Hadoop reads a path string unescaped (as_uri's %3D would
        # name the folder "day%3D2026-...")
        df.write.mode("errorifexists").parquet(f"file://{folder.resolve()}")
    except Exception as exc:
        from common.errors import CircleBuyError
        from pipelines.engine.spark_engine import task_failure

        raise CircleBuyError(f"Spark could not write {folder.parent.name}/{folder.name}: "
                             f"{task_failure(exc)}") from exc
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)
    for marker in [*folder.glob("_SUCCESS"), *folder.glob(".*.crc")]:  # Hadoop's bookkeeping
        marker.unlink()


def commit(staged: StagedDay) -> None:
    """Put each staged partition in place of the lake's (its old one moved aside, kept until
    `discard`). On failure the tables already swapped are swapped back, and the error raised."""
    try:
        for table, folder in staged.staged.items():
            final = partition(staged.lake, table, staged.day)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists():
                aside = staged.trash / table / final.name
                aside.parent.mkdir(parents=True, exist_ok=True)
                os.rename(final, aside)
                staged.replaced[table] = aside
            os.rename(folder, final)
            staged.committed.append(table)
        _fsync(staged.lake, staged.staged)
    except BaseException:
        rollback(staged)
        raise


def rollback(staged: StagedDay) -> None:
    """Undo `commit`: the new partitions out, the replaced ones back; then remove the run's folders."""
    for table in staged.staged:
        final = partition(staged.lake, table, staged.day)
        aside = staged.replaced.pop(table, None)
        try:
            if table in staged.committed:
                shutil.rmtree(final)
            if aside is not None:
                os.rename(aside, final)
        except OSError as exc:  # never hide the run's own error; say where the old files are
            log.error("lake: could not restore %s for %s (%s); its previous files are under %s",
                      table, staged.day, exc, aside)
    staged.committed.clear()
    discard(staged, keep_replaced=bool(staged.replaced))


def discard(staged: StagedDay, keep_replaced: bool = False) -> None:
    """Remove the run's staging folder and, unless `keep_replaced`, the partitions it replaced."""
    shutil.rmtree(staged.staging, ignore_errors=True)
    _remove_if_empty(staged.lake / STAGING)
    if not keep_replaced:
        shutil.rmtree(staged.trash, ignore_errors=True)
        _remove_if_empty(staged.lake / REPLACED)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (another run's), or already gone
        folder.rmdir()


def _fsync(lake: Path, tables: dict[str, Path]) -> None:
    """Make the renames durable: fsync each table's folder (where `day=D` changed)."""
    from common.snapshot_format import fsync_path

    for table in tables:
        fsync_path(lake / table)


CATALOG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_catalog_database(name: str) -> str:
    """`--lake-catalog` as a database name Spark accepts unquoted (letters, digits, underscores)."""
    if not CATALOG_NAME.match(name):
        raise UsageError(f"--lake-catalog: expected a database name of letters, digits and underscores "
                         f"(not starting with a digit); got {name!r}")
    return name


def sync_catalog(spark: Any, lake: Path, database: str) -> dict[str, int]:
    """The lake's tables as external Parquet tables `database.<table>` of the session's catalog (the
    Hive metastore where the session has one, else Spark's in-memory catalog), partitioned by day,
    their partitions made the lake's folders exactly (`MSCK REPAIR TABLE ... SYNC PARTITIONS`: added
    and removed), the cached file listings refreshed. Returns the partitions per table."""
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
    partitions: dict[str, int] = {}
    for table in TABLES:
        folder = lake / table
        if not folder.is_dir():
            continue
        name = f"{database}.{table}"
        location = folder.resolve().as_posix().replace("'", "\\'")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING parquet LOCATION '{location}'")
        spark.sql(f"MSCK REPAIR TABLE {name} SYNC PARTITIONS")
        spark.sql(f"REFRESH TABLE {name}")
        partitions[table] = len(spark.sql(f"SHOW PARTITIONS {name}").collect())
    return partitions

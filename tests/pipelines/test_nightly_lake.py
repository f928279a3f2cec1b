"""The output lake (pipelines/lake.py): each published day's picks and demand as Parquet folders
partitioned by day, `<lake>/<table>/day=YYYY-MM-DD/part-*.parquet`, written by the nightly's publish
stage together with the snapshot (default engine here; Spark's in test_nightly_spark.py).

On a small generated world, backfilled over two days through the CLI with `--lake`: one partition
per published day holding that day's snapshot table; a re-run replaces its own day only; a run that
fails (injected at publish, while writing the lake, or while switching the snapshot) leaves every
partition as it was, and the live snapshot too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from common.errors import StageFailedError
from common.home import Home
from pipelines.generate import run_generate
from pipelines.ingest import run_ingest
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly.snapshot import live_snapshot

END = date(2026, 11, 20)
DAYS = [date(2026, 11, 19), END]
TABLES = ("picks", "demand")


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Home, Path]:
    """30 groups, 30 days, ingested; `circlebuy backfill` over DAYS with --lake outside the home."""
    from pipelines import cli

    root = tmp_path_factory.mktemp("lake")
    run_generate(root / "raw", groups=30, days=30, end=END, seed=3, fmt="parquet", progress=False)
    home = Home(root / "home")
    run_ingest(root / "raw", home, run_date=END)
    lake = root / "lake"
    result = CliRunner().invoke(cli.app, ["backfill", "--from", str(DAYS[0]), "--to", str(DAYS[-1]),
                                          "--home", str(home.root), "--lake", str(lake), "--skip-evaluate"])
    assert result.exit_code == 0, (result.output, result.exception)
    return home, lake


def snapshots_by_day(home: Home) -> dict[date, Path]:
    """The newest published snapshot of each day."""
    out: dict[date, tuple[str, Path]] = {}
    for folder in home.snapshots.iterdir():
        manifest = folder / "manifest.json"
        if folder.name.startswith(".") or not manifest.exists():
            continue
        meta = json.loads(manifest.read_text())
        day = date.fromisoformat(meta["date"])
        if day not in out or meta["run_id"] > out[day][0]:
            out[day] = (meta["run_id"], folder)
    return {day: folder for day, (_, folder) in out.items()}


def utc(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).dt.convert_time_zone("UTC") for c, t in frame.schema.items()
                              if isinstance(t, pl.Datetime) and t.time_zone is not None)


def part(folder: Path) -> pl.DataFrame:
    """A partition's rows, as its files hold them (no column derived from the folder's name)."""
    return pl.read_parquet(folder / "*.parquet", hive_partitioning=False)


def tree(lake: Path) -> dict[str, tuple]:
    """Every file and folder under the lake: its inode and, for a file, its mtime and the sha256 of
    its bytes — the very same files (a folder's mtime moves with renames of its entries)."""
    out = {}
    for path in sorted(lake.rglob("*")):
        stat = path.stat()
        if path.is_file():
            entry = (stat.st_ino, stat.st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            entry = (stat.st_ino, None, None)
        out[path.relative_to(lake).as_posix()] = entry
    return out


def copy(backfilled, tmp_path: Path, lake_in_home: bool) -> tuple[Home, Path]:
    """A copy of the backfilled home and lake (the lake at HOME/lake, the default, if `lake_in_home`)."""
    home, lake = backfilled
    copied = Home(tmp_path / "home")
    shutil.copytree(home.root, copied.root, symlinks=True)
    target = copied.lake if lake_in_home else tmp_path / "lake"
    shutil.copytree(lake, target)
    return copied, target


def config(day: date, lake: Path | None) -> NightlyConfig:
    return NightlyConfig(run_date=day, evaluate=False, lake=lake)


def test_each_published_day_is_one_partition_holding_the_snapshots_table(backfilled):
    home, lake = backfilled
    published = snapshots_by_day(home)
    assert sorted(published) == DAYS
    assert sorted(p.name for p in lake.iterdir()) == sorted(TABLES)  # nothing left staged or set aside
    for table in TABLES:
        assert sorted(p.name for p in (lake / table).iterdir()) == [f"day={d}" for d in DAYS]
        for day in DAYS:
            folder = lake / table / f"day={day}"
            assert [p.name for p in folder.iterdir()] == ["part-0.parquet"]
            want = pl.read_parquet(published[day] / f"{table}.parquet")
            assert want.height > 0
            assert_frame_equal(part(folder), utc(want))
    # read as one table, `day` is derived from the folders: the picks' for_date, the demand's as_of day
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    picks = con.sql(f"SELECT day, for_date, count(*) FROM read_parquet('{lake}/picks/*/*.parquet', "
                    "hive_partitioning = true) GROUP BY ALL ORDER BY day").fetchall()
    assert [(d, f) for d, f, _ in picks] == [(d, d) for d in DAYS]
    demand = con.sql(f"SELECT DISTINCT day, CAST(as_of AS DATE) FROM read_parquet("
                     f"'{lake}/demand/*/*.parquet', hive_partitioning = true) ORDER BY day").fetchall()
    assert demand == [(d, d) for d in DAYS]


def test_a_rerun_replaces_its_own_day_only(backfilled, tmp_path, monkeypatch):
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    home, lake = copy(backfilled, tmp_path, lake_in_home=False)
    before = tree(lake)
    result = run_nightly(home, config(END, lake))
    assert result["status"] == "succeeded"
    after = tree(lake)
    assert set(after) == set(before)  # the same days and files, nothing left staged or set aside
    for path, entry in before.items():
        if f"day={END}" in path:
            assert after[path][0] != entry[0], path  # a new folder and new files for END
        else:
            assert after[path] == entry, path  # the other day (and the table folders) untouched
    for table in TABLES:
        assert_frame_equal(part(lake / table / f"day={END}"),
                           utc(pl.read_parquet(live_snapshot(home) / f"{table}.parquet")))


def test_a_failed_run_leaves_the_lake_and_the_live_snapshot_as_they_were(backfilled, tmp_path, monkeypatch):
    """Into the default lake (HOME/lake): a failure injected at publish; one while writing the lake
    (its picks partition already written aside); and one while switching the snapshot live, after
    the lake's partitions were swapped in (they are swapped back)."""
    from pipelines import lake as lake_mod

    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    home, lake = copy(backfilled, tmp_path, lake_in_home=True)
    before, live = tree(lake), live_snapshot(home)
    assert any(f"picks/day={END}/" in p for p in before) and any(f"demand/day={END}/" in p for p in before)

    def unchanged() -> None:
        assert tree(lake) == before
        assert live_snapshot(home) == live

    monkeypatch.setenv("CIRCLEBUY_FAIL_STAGE", "publish")
    with pytest.raises(StageFailedError, match="injected by CIRCLEBUY_FAIL_STAGE=publish"):
        run_nightly(home, config(END, None))
    unchanged()
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE")

    written = []
    real_write = lake_mod.write_partition

    def write_then_fail(frame, folder, spark=None):
        if written:  # the second table (demand): picks is already written aside
            raise OSError("disk full (injected)")
        written.append(folder)
        real_write(frame, folder, spark)

    monkeypatch.setattr(lake_mod, "write_partition", write_then_fail)
    with pytest.raises(StageFailedError, match=r"stage publish failed: the lake's partitions for "
                                               r"2026-11-20 could not be written .*disk full"):
        run_nightly(home, config(END, None))
    assert written and not written[0].exists()  # the staged picks partition was removed
    unchanged()
    monkeypatch.undo()
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)

    swapped = []

    def publish_fails(home_, folder):
        swapped.append(tree(lake))  # the new partitions are in place when the snapshot is switched
        raise OSError("rename failed (injected)")

    monkeypatch.setattr("pipelines.nightly.stages.publish", publish_fails)
    with pytest.raises(StageFailedError, match="stage publish failed: OSError: rename failed"):
        run_nightly(home, config(END, None))
    assert swapped and swapped[0] != before
    unchanged()


def test_the_cli_takes_lake_on_nightly_and_backfill(monkeypatch, tmp_path):
    from pipelines import cli

    seen: dict[str, object] = {}
    monkeypatch.setattr("pipelines.nightly.run_nightly", lambda home, cfg: seen.setdefault(
        "nightly", cfg.lake) and {"run_id": "r", "status": "succeeded", "snapshot": None})
    monkeypatch.setattr("pipelines.nightly.run_backfill",
                        lambda home, start, end, base: seen.setdefault("backfill", base.lake) and [])
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "warehouse.duckdb").touch()  # the CLI's nightly wants a warehouse (or --raw)
    runner = CliRunner()
    for args in (["nightly", "--date", "2026-11-20", "--lake", "out/lake"],
                 ["backfill", "--from", "2026-11-19", "--to", "2026-11-20", "--lake", "out/lake"]):
        result = runner.invoke(cli.app, [*args, "--home", str(tmp_path / "home")])
        assert result.exit_code == 0, (args, result.output, result.exception)
    assert seen == {"nightly": tmp_path / "out" / "lake", "backfill": tmp_path / "out" / "lake"}
    (tmp_path / "a-file").write_text("")
    result = runner.invoke(cli.app, ["nightly", "--date", "2026-11-20", "--lake", str(tmp_path / "a-file")])
    assert result.exit_code != 0 and "--lake" in str(result.exception)

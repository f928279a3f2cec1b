"""`nightly --engine spark` publishes what the default engine publishes (DESIGN.md, "Engines").

On a small generated world (60 groups, ingested once by DuckDB; each home then gets the same API
feedback landing file, which the nightly's ingest stage loads on its own engine): the picks, made
on the executors by mapInArrow over chunks of groups with the fitted Production broadcast, are the
same rows as on the driver, and the demand table agrees up to float tolerance (the live campaigns'
nowcast made on the executors by applyInArrow, a task per warehouse, the fitted forecaster
broadcast; also against the driver on campaigns serving every warehouse); the day's lake
partitions (HOME/lake/<table>/day=D/), written by Spark itself, hold the same rows as DuckDB's. A
failure inside a Spark task surfaces as a one-line StageFailedError naming the stage, leaves the live
snapshot and the lake's files untouched, and the next run succeeds; so does a failure inside a
nowcast task (stage forecast). The CLI takes --engine /
--spark-master / --conf on nightly, backfill and evaluate. One local[2] session for the module;
skipped only where pyspark or Java is missing.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from common.errors import CircleBuyError, StageFailedError
from common.home import Home
from pipelines.engine import EngineOptions
from pipelines.generate import run_generate
from pipelines.ingest import run_ingest
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly.snapshot import live_snapshot, verify_snapshot
from pipelines.settings import Settings
from pipelines.warehouse import connect
from tests.pipelines.spark_support import SPARK, require_spark, spark_session

require_spark()


END = date(2026, 11, 20)
WORLD = {"groups": 60, "days": 50, "end": END, "seed": 3}


def settings() -> Settings:
    """The defaults, with the learned ranker kept whatever its validation says, so that the
    LightGBM ranker (not only a generator) is what the executors unpickle and run."""
    base = Settings()
    ranker = replace(base.production.ranker, min_gain=-1.0)
    return replace(base, production=replace(base.production, ranker=ranker))


def config(engine: EngineOptions) -> NightlyConfig:
    return NightlyConfig(run_date=END, settings=settings(), evaluate=False, engine=engine)


spark = pytest.fixture(spark_session, scope="module", name="spark")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, spark) -> dict:
    """The world ingested once; a copy of the home per engine, each with the same feedback landing
    file (so each nightly's ingest stage runs on its engine), then `nightly` on each."""
    root = tmp_path_factory.mktemp("nightly-spark")
    run_generate(root / "raw", fmt="parquet", progress=False, **WORLD)
    base = Home(root / "base")
    run_ingest(root / "raw", base, run_date=END)
    groups = pl.read_parquet(root / "raw" / "groups.parquet")["group_id"].sort().head(4).to_list()
    products = pl.read_parquet(root / "raw" / "products.parquet")["product_id"].sort().head(4).to_list()
    lines = ["feedback_id,group_id,product_id,action,at"] + [
        f"k1:f{n},{g},{p},{a},2026-11-19T20:0{n}:00+08:00"
        for n, (g, p, a) in enumerate(zip(groups, products, ["posted", "skip", "not_interested", "posted"],
                                          strict=True))]
    out = {}
    for name, engine in (("duckdb", EngineOptions()), ("spark", SPARK)):
        home = Home(root / name)
        shutil.copytree(base.root, home.root, symlinks=True)
        (home.landing / "feedback").mkdir(parents=True, exist_ok=True)
        (home.landing / "feedback" / "2026-11-19.csv").write_text("\n".join(lines) + "\n")
        out[name] = (home, run_nightly(home, config(engine)))
    return out


def published(home: Home, table: str) -> pl.DataFrame:
    return pl.read_parquet(live_snapshot(home) / f"{table}.parquet")


def test_spark_publishes_the_same_picks_and_demand(runs):
    (duck_home, duck), (spark_home, sp) = runs["duckdb"], runs["spark"]
    assert duck["status"] == sp["status"] == "succeeded"
    assert [s["name"] for s in sp["stages"]] == [s["name"] for s in duck["stages"]]
    assert sp["stages"][0]["rows_in"] == duck["stages"][0]["rows_in"] == 4  # the landing file
    picks = published(duck_home, "picks")
    assert picks.height > 0 and picks["group_id"].n_unique() > 1
    assert picks["model_version"].unique().to_list() == [f"ranker@{END}"]  # LightGBM, broadcast
    assert_frame_equal(published(spark_home, "picks"), picks)  # same seed: identical rows
    demand = published(duck_home, "demand")
    assert demand.height > 0
    assert_frame_equal(published(spark_home, "demand"), demand, check_exact=False, rel_tol=1e-9,
                       abs_tol=1e-9)
    for home in (duck_home, spark_home):
        verify_snapshot(live_snapshot(home))  # the same writer: manifest, hashes, atomic link


def test_the_api_serves_the_snapshot_spark_published_as_the_defaults(runs):
    """The API does not care which engine wrote the snapshot: the same picks for each group asked,
    and the same demand download for a supplier, from the Spark home and the DuckDB home."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.keys import create_key
    from tests.api.conftest import FAST

    answers = {}
    for name, (home, _) in runs.items():
        key = {"Authorization": f"Bearer {create_key(home, 'admin', 'ops')}"}
        picks = published(home, "picks")
        groups = picks["group_id"].unique().sort().head(3).to_list()
        supplier = published(home, "demand")["supplier_id"].drop_nulls().sort().to_list()[0]
        with TestClient(create_app(home, FAST)) as client:
            got = [client.get(f"/v1/groups/{g}/picks", headers=key) for g in groups]
            demand = client.get(f"/v1/suppliers/{supplier}/demand?format=csv", headers=key)
        assert all(r.status_code == 200 for r in got) and demand.status_code == 200, demand.text
        answers[name] = ([r.json()["picks"] for r in got], pl.read_csv(io.BytesIO(demand.content)))
    assert answers["spark"][0] == answers["duckdb"][0] and len(answers["spark"][0][0]) > 0
    (spark_rows, duck_rows) = answers["spark"][1], answers["duckdb"][1]
    assert duck_rows.height > 0
    assert_frame_equal(spark_rows, duck_rows, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def test_spark_nowcasts_the_live_campaigns_on_the_executors(runs):
    """The demand compared above is the campaigns' nowcast, made by applyInArrow tasks on Spark."""
    (duck_home, _), (spark_home, _) = runs["duckdb"], runs["spark"]
    demand = published(spark_home, "demand")
    assert demand["campaign_id"].null_count() == 0 and demand["warehouse_id"].n_unique() > 1
    report = (live_snapshot(spark_home) / "report.html").read_text()
    assert (f"forecast: {demand.height} live campaign x warehouse nowcast(s) computed on the Spark "
            f"executors, {demand['warehouse_id'].n_unique()} warehouse task(s)") in report
    assert "on the Spark executors" not in (live_snapshot(duck_home) / "report.html").read_text()
    pooled = ("forecast: the final totals and booking states of the closed campaigns (or the daily history) "
              "were pooled on Spark")
    assert pooled in report


def test_spark_aggregates_the_trainings_signal(runs):
    """The picks compared above were trained on a signal whose aggregates Spark computed (the SQL of
    common/definitions.py, transpiled), once for the whole training; the default engine's in-process."""
    (duck_home, _), (spark_home, _) = runs["duckdb"], runs["spark"]
    said = "orders, posts and memberships of the recommendation signal were aggregated on Spark"
    assert said in (live_snapshot(spark_home) / "report.html").read_text()
    assert said not in (live_snapshot(duck_home) / "report.html").read_text()


def test_spark_pools_the_daily_history_of_data_without_campaigns(tmp_path: Path, spark):
    """Data without campaigns (Online Retail's kind) is forecast daily from the pooled history: on
    Spark the history is pooled by Spark (common/definitions.py's `history`, transpiled), and the
    published demand is the default engine's."""
    run_generate(tmp_path / "raw", fmt="parquet", progress=False, groups=20, days=40, end=END, seed=5)
    base = Home(tmp_path / "base")
    run_ingest(tmp_path / "raw", base, run_date=END)
    with connect(base) as con:
        con.execute("UPDATE orders SET campaign_id = NULL")
        con.execute("DELETE FROM campaigns")
    demand, reports = {}, {}
    for name, engine in (("duckdb", EngineOptions()), ("spark", SPARK)):
        home = Home(tmp_path / name)
        shutil.copytree(base.root, home.root, symlinks=True)
        assert run_nightly(home, config(engine))["status"] == "succeeded"
        demand[name] = published(home, "demand")
        reports[name] = (live_snapshot(home) / "report.html").read_text()
    daily = demand["duckdb"]
    assert daily.height > 0 and daily["campaign_id"].null_count() == daily.height
    assert_frame_equal(demand["spark"], demand["duckdb"], check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    said = "(or the daily history) were pooled on Spark"
    assert said in reports["spark"] and said not in reports["duckdb"]


def test_the_executors_nowcast_equals_the_driver_on_campaigns_serving_every_warehouse(spark):
    """nowcast_on_spark against nowcast_rows on the driver, on a world with campaigns without a
    warehouse, orders and posts of groups for another warehouse's campaign (see
    tests/aggregation/test_nowcast_split.py): the same rows, one task per warehouse."""
    from aggregation.decision import DecisionConfig
    from aggregation.demand import DEMAND_SCHEMA, live_campaigns, nowcast_rows
    from aggregation.presale import PresaleForecaster
    from pipelines.spark_stages import nowcast_on_spark
    from tests.aggregation.test_nowcast_split import AS_OF, CONFIG, SORT, _demand_config, mixed_world

    frames = mixed_world()
    model = PresaleForecaster(CONFIG).fit(frames, AS_OF)
    live = live_campaigns(frames["campaigns"], AS_OF, _demand_config())
    want = nowcast_rows(model, frames, live, AS_OF, True, DecisionConfig())
    got, where = nowcast_on_spark(spark, model, frames, live, AS_OF, True, DecisionConfig())
    assert where["engine"] == "spark" and where["tasks"] == 2 and where["units"] == want.height > 0
    assert where["rows_shipped"]["orders"] < 2 * frames["orders"].height
    assert list(got.schema.items()) == list(DEMAND_SCHEMA.items())
    want = want.select([pl.col(c).cast(t) for c, t in DEMAND_SCHEMA.items()])
    assert_frame_equal(got.sort(SORT), want.sort(SORT), check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def lake_part(home: Home, table: str) -> pl.DataFrame:
    """The run's day in HOME/lake, its part files read in order (no column from the folder's name)."""
    return pl.read_parquet(home.lake / table / f"day={END}" / "*.parquet", hive_partitioning=False)


def lake_files(home: Home) -> dict[str, tuple]:
    """Every file in HOME/lake: inode and bytes (the very same files)."""
    return {p.relative_to(home.lake).as_posix(): (p.stat().st_ino, p.read_bytes())
            for p in sorted(home.lake.rglob("*")) if p.is_file()}


def test_spark_writes_the_lake_partitions_with_the_same_rows_as_duckdb(runs):
    """HOME/lake/<table>/day=END/: on Spark its parts are written by Spark (DataFrame.write.parquet
    of the published table: Spark's writer metadata in every file), on DuckDB by polars; the same
    schema (timestamps as UTC instants) and the same rows, which are the published snapshot's."""
    import pyarrow.parquet as pq

    (duck_home, _), (spark_home, _) = runs["duckdb"], runs["spark"]
    for table in ("picks", "demand"):
        folder = spark_home.lake / table / f"day={END}"
        parts = sorted(folder.iterdir())
        assert parts and all(p.name.startswith("part-") and p.name.endswith(".parquet") for p in parts)
        assert all(b"org.apache.spark.version" in pq.read_metadata(p).metadata for p in parts)
        assert [p.name for p in (duck_home.lake / table / f"day={END}").iterdir()] == ["part-0.parquet"]
        got, want = lake_part(spark_home, table), lake_part(duck_home, table)
        assert want.height > 0 and got.schema == want.schema
        assert_frame_equal(got, want, check_exact=table == "picks", rel_tol=1e-9, abs_tol=1e-9)
        snapshot = published(duck_home, table)
        assert_frame_equal(want, snapshot.with_columns(
            pl.col(c).dt.convert_time_zone("UTC") for c, t in snapshot.schema.items()
            if isinstance(t, pl.Datetime) and t.time_zone is not None))


def _ledger(home: Home) -> tuple:
    con = connect(home, read_only=True)
    try:
        return con.execute("SELECT status, failed_stage, error FROM runs ORDER BY started_at DESC "
                           "LIMIT 1").fetchone()
    finally:
        con.close()


def test_a_failed_spark_task_leaves_the_live_snapshot_and_the_next_run_succeeds(
        runs, spark, monkeypatch, tmp_path):
    home = Home(tmp_path / "home")
    shutil.copytree(runs["spark"][0].root, home.root, symlinks=True)
    live = live_snapshot(home)
    manifest = (live / "manifest.json").read_text()
    lake = lake_files(home)
    assert lake, "no lake partitions written by the Spark run"

    def broken_make_picks(*args, **kwargs):  # shipped to the executors, raises inside the task
        raise RuntimeError("injected inside a Spark task")

    monkeypatch.setattr("pipelines.spark_stages.make_picks", broken_make_picks)
    assert_a_task_failure_is_one_line(home, "picks", "stage picks failed: a Spark task",
                                      "RuntimeError: injected inside a Spark task", live, manifest)
    monkeypatch.undo()

    monkeypatch.setenv("CIRCLEBUY_FAIL_STAGE", "picks")
    with pytest.raises(StageFailedError, match="injected by CIRCLEBUY_FAIL_STAGE=picks"):
        run_nightly(home, config(SPARK))
    assert live_snapshot(home) == live
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE")
    assert lake_files(home) == lake  # the failed runs left the lake's files as they were

    def broken_catalog(*args, **kwargs):
        raise RuntimeError("metastore unreachable")

    monkeypatch.setattr("pipelines.lake.sync_catalog", broken_catalog)
    with pytest.raises(CircleBuyError, match="the lake's catalog tables in 'circlebuy_lake' could not be "
                                             "updated; nothing was published: RuntimeError: metastore"):
        run_nightly(home, replace(config(SPARK), lake_catalog="circlebuy_lake"))
    monkeypatch.undo()
    assert live_snapshot(home) == live and lake_files(home) == lake  # the lake's day rolled back

    again = run_nightly(home, replace(config(SPARK), lake_catalog="circlebuy_lake"))
    assert again["status"] == "succeeded" and live_snapshot(home) != live
    assert_frame_equal(published(home, "picks"), published(runs["duckdb"][0], "picks"))
    assert lake_files(home) != lake  # the day's partition replaced, by the same rows
    assert_frame_equal(lake_part(home, "picks"), lake_part(runs["duckdb"][0], "picks"))
    # the lake's tables in the Spark catalog, partitioned by day: the published rows
    table = spark.table("circlebuy_lake.picks")
    assert [r[0] for r in spark.sql("SHOW PARTITIONS circlebuy_lake.picks").collect()] == [f"day={END}"]
    got = pl.from_arrow(table.where(f"day = DATE'{END}'").drop("day").toArrow())
    assert_frame_equal(got.sort("group_id", "rank"), lake_part(home, "picks").sort("group_id", "rank"))


def test_the_catalog_tables_follow_the_lakes_days(runs, spark, tmp_path):
    """sync_catalog makes a table's partitions the lake's day folders: a day added appears, a day
    removed (a rollback) disappears, on Spark's in-memory catalog."""
    from pipelines.lake import sync_catalog

    root = tmp_path / "lake"
    shutil.copytree(runs["spark"][0].lake, root)
    earlier = root / "picks" / f"day={date(2026, 11, 19)}"
    shutil.copytree(root / "picks" / f"day={END}", earlier)
    assert sync_catalog(spark, root, "lake_days") == {"picks": 2, "demand": 1}
    assert spark.table("lake_days.picks").where("day = DATE'2026-11-19'").count() == lake_part(
        runs["spark"][0], "picks").height
    shutil.rmtree(earlier)
    assert sync_catalog(spark, root, "lake_days") == {"picks": 1, "demand": 1}
    assert spark.table("lake_days.picks").count() == lake_part(runs["spark"][0], "picks").height


def test_lake_catalog_needs_spark_and_a_plain_name(tmp_path):
    for extra, said in ((["--lake-catalog", "lake"], "the catalog tables are Spark's; give --engine spark"),
                        (["--lake-catalog", "my-lake", "--engine", "spark"], "expected a database name")):
        done = subprocess.run([sys.executable, "-m", "pipelines.cli", "nightly", "--date", "2026-11-20",
                               "--home", str(tmp_path), *extra], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[2])
        assert done.returncode == 2 and said in done.stderr, done.stderr


def test_a_failed_nowcast_task_is_one_line_and_leaves_the_live_snapshot(runs, monkeypatch, tmp_path):
    home = Home(tmp_path / "home")
    shutil.copytree(runs["spark"][0].root, home.root, symlinks=True)
    live = live_snapshot(home)
    manifest = (live / "manifest.json").read_text()

    def broken_nowcast(*args, **kwargs):  # shipped to the executors, raises inside the task
        raise RuntimeError("injected inside a nowcast task")

    monkeypatch.setattr("pipelines.spark_stages.nowcast_rows", broken_nowcast)
    assert_a_task_failure_is_one_line(
        home, "forecast", "stage forecast failed: a Spark task nowcasting the live campaigns",
        "RuntimeError: injected inside a nowcast task", live, manifest)


def assert_a_task_failure_is_one_line(home, stage: str, starts: str, names: str, live, manifest: str) -> None:
    """A Spark run of `home` fails at `stage` with one line (no Py4J text) starting `starts` and
    naming the task's exception `names`; the live snapshot, its manifest and the ledger say so."""
    with pytest.raises(StageFailedError) as failed:
        run_nightly(home, config(SPARK))
    message = str(failed.value)
    assert message.startswith(starts)
    assert names in message
    assert "py4j" not in message.lower() and "\tat " not in message and len(message.splitlines()) == 1
    assert live_snapshot(home) == live and (live / "manifest.json").read_text() == manifest
    assert _ledger(home)[:2] == ("failed", stage)


def test_a_setting_spark_rejects_is_a_clear_usage_error(runs, tmp_path):
    """Fails at the first stage that starts Spark (ingest: the landing file), exit 2, named."""
    home = Home(tmp_path / "home")
    shutil.copytree(runs["spark"][0].root, home.root, symlinks=True)
    (home.landing / "feedback").mkdir(parents=True, exist_ok=True)
    (home.landing / "feedback" / "2026-11-19.csv").write_text("feedback_id,group_id,product_id,action,at\n")
    bad = replace(SPARK, spark_conf={"spark.sql.shuffle.partitions": "many"})
    with pytest.raises(StageFailedError, match=r"stage ingest failed: --conf spark.sql.shuffle.partitions="
                                               r"many: rejected by Spark") as failed:
        run_nightly(home, config(bad))
    assert failed.value.exit_code == 2


def test_evaluate_on_spark_aggregates_the_signal_there_and_scores_as_the_default(runs, monkeypatch):
    """`evaluate --engine spark` at two dates: the signal aggregated on Spark once per date (each
    date's training reads the order lines as they stood at its own instant); the same scores as the
    default engine's."""
    from pipelines.engine import definitions
    from pipelines.evaluate.run import EvaluateConfig, run_evaluate

    on_spark: list[str] = []  # the engine of each definition run
    runner = definitions.runner

    def spied(engine):
        run = runner(engine)
        return lambda sql, schema, relations=None: on_spark.append(engine.name) or run(sql, schema, relations)

    monkeypatch.setattr(definitions, "runner", spied)

    duck_home = runs["duckdb"][0]
    dates = [date(2026, 11, 6), date(2026, 11, 13)]  # whole horizons: the world ends on 11-20
    config = EvaluateConfig.from_settings(dates[0], settings())
    got = {name: run_evaluate(duck_home, config, dates=dates, engine=engine)
           for name, engine in (("duckdb", EngineOptions()), ("spark", SPARK))}
    # one aggregation per date (days, post answers, member lines): the warehouse file's, then Spark's
    assert on_spark == ["duckdb"] * 6 + ["spark"] * 6
    for spark_date, default in zip(got["spark"]["dates"], got["duckdb"]["dates"], strict=True):
        assert spark_date["recsys"]["models"] == default["recsys"]["models"]
        assert spark_date["recsys"]["models"]["production"]["ndcg@10"] > 0


def test_the_cli_threads_engine_options_to_nightly_backfill_and_evaluate(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from pipelines import cli

    seen: dict[str, object] = {}
    monkeypatch.setattr("pipelines.nightly.run_nightly",
                        lambda home, cfg: seen.setdefault("nightly", cfg.engine) and {
                            "run_id": "r", "status": "succeeded", "snapshot": None})
    monkeypatch.setattr("pipelines.nightly.run_backfill",
                        lambda home, start, end, base: seen.setdefault("backfill", base.engine) and [])
    monkeypatch.setattr("pipelines.evaluate.run.run_evaluate",
                        lambda *a, **k: seen.setdefault("evaluate", k["engine"]) and {})
    monkeypatch.setattr("pipelines.evaluate.report.render_evaluation", lambda result: "")
    spark = ["--engine", "spark", "--spark-master", "local[1]", "--conf", "spark.sql.shuffle.partitions=3"]
    home = ["--home", str(tmp_path)]
    (tmp_path / "warehouse.duckdb").touch()  # the CLI's nightly wants a warehouse (or --raw)
    runner = CliRunner()
    for args in (["nightly", "--date", "2026-11-20", *home, *spark],
                 ["backfill", "--from", "2026-11-19", "--to", "2026-11-20", *home, *spark],
                 ["evaluate", "--as-of", "2026-11-13", *home, *spark]):
        result = runner.invoke(cli.app, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    want = EngineOptions("spark", "local[1]", {"spark.sql.shuffle.partitions": "3"})
    assert seen == {"nightly": want, "backfill": want, "evaluate": want}


@pytest.mark.parametrize("command", [["nightly", "--date", "2026-11-20"],
                                     ["backfill", "--from", "2026-11-19", "--to", "2026-11-20"],
                                     ["evaluate", "--as-of", "2026-11-13"]])
def test_a_bad_conf_is_exit_2_with_the_setting_named(command, tmp_path):
    done = subprocess.run([sys.executable, "-m", "pipelines.cli", *command, "--home", str(tmp_path),
                           "--engine", "spark", "--conf", "spark.executor.memory"],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == ("error: --conf: expected key=value, e.g. spark.sql.shuffle.partitions=8; "
                                   "got 'spark.executor.memory'")

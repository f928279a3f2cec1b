"""Both engines run the same stage definitions to the same result (DESIGN.md, "Engines").

On a small dirty world: ingest gives the same warehouse rows and the same quarantine by rule; the
signal's sources and the pooled daily demand as of an instant agree up to float tolerance; a signal
read from Spark's sources is the embedded default's; the pooled demand is what the pure layers get
in-process (aggregation.pooling / aggregation.daily run the same definitions on DuckDB over frames).
Spark runs `local[2]`, one session for the module. Skipped only where pyspark or Java is missing
(`make test` installs both: the `spark` extra and `make java`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from common.clock import TZ, day_start
from common.contract import TABLES
from common.home import Home
from pipelines.engine import DuckDBEngine, EngineOptions
from pipelines.engine import definitions as d
from pipelines.generate import run_generate
from pipelines.ingest import run_ingest
from pipelines.warehouse import MODEL_DROP, connect, load_frames
from tests.pipelines.conftest import TINY_END, build_tiny_tables
from tests.pipelines.ingest_helpers import write_hive_raw
from tests.pipelines.spark_support import SPARK, require_spark, spark_session

require_spark()

from pipelines.engine.spark_engine import SparkEngine  # noqa: E402

END = date(2026, 10, 31)
WORLD = {"groups": 30, "days": 10, "end": END, "seed": 3}


spark = pytest.fixture(spark_session, scope="module", name="spark")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory, spark) -> dict:
    """The dirty world ingested by each engine into its own home."""
    root = tmp_path_factory.mktemp("parity")
    raw = root / "raw"
    run_generate(raw, dirty=True, fmt="parquet", progress=False, **WORLD)
    out = {}
    for name in ("duckdb", "spark"):
        home = Home(root / name)
        options = SPARK if name == "spark" else EngineOptions()
        out[name] = (home, run_ingest(raw, home, run_date=END, engine=options).to_json())
    return out


def table_rows(home: Home, sql: str) -> set[tuple]:
    con = connect(home, read_only=True)
    try:
        return set(con.execute(sql).fetchall())
    finally:
        con.close()


def test_ingest_counts_and_quarantine_rules_agree(ingested):
    (_, duck), (_, spark) = ingested["duckdb"], ingested["spark"]
    assert spark["tables"] == duck["tables"]
    assert spark["quarantine_rules"] == duck["quarantine_rules"]
    assert sum(c["quarantined"] for c in duck["tables"].values()) > 0, "the dirty world planted no bad rows"


def test_ingest_gives_the_same_warehouse(ingested):
    duck, spark = ingested["duckdb"][0], ingested["spark"][0]
    for table in TABLES:
        sql = f'SELECT * FROM "{table}"'
        assert table_rows(spark, sql) == table_rows(duck, sql), table
    # detail and raw text may print timestamps differently (DuckDB '+08', Spark without the zone)
    sql = "SELECT table_name, source_file, row_number, rule FROM quarantine"
    assert table_rows(spark, sql) == table_rows(duck, sql)


def test_a_hive_partitioned_raw_table_loads_the_same_on_both_engines(tmp_path, spark):
    """orders as `orders/day=D/part-0.parquet`, posts as `posts/day=D/part-0.csv` (a bad order row
    among them): `day` is no column on either engine (no warning), and both load the same rows and
    quarantine the bad one under its part's path. O8, refunded only after the run's date, loads as it
    stood then (paid) on both."""
    tables = {name: frame for name, frame in build_tiny_tables().items()
              if name not in ("shopkeepers", "feedback")}  # fewer tables: fewer Spark jobs
    refunded_at = pl.lit(datetime(2026, 1, 12, 10, tzinfo=TZ)).cast(tables["orders"].schema["status_at"])
    tables["orders"] = tables["orders"].with_columns(
        pl.when(pl.col("order_id") == "O2").then(-1).otherwise(pl.col("quantity")).alias("quantity"),
        pl.when(pl.col("order_id") == "O8").then(refunded_at).otherwise("status_at").alias("status_at"))
    raw = write_hive_raw(tmp_path / "raw", tables)
    reports, homes = {}, {}
    for name, options in (("duckdb", EngineOptions()), ("spark", SPARK)):
        homes[name] = Home(tmp_path / name)
        reports[name] = run_ingest(raw, homes[name], run_date=TINY_END, engine=options).to_json()
    assert reports["spark"]["tables"] == reports["duckdb"]["tables"]
    assert reports["spark"]["tables"]["orders"] == {"read": 8, "loaded": 7, "duplicates": 0, "quarantined": 1}
    assert reports["spark"]["tables"]["posts"]["loaded"] == 4
    assert reports["spark"]["warnings"] == reports["duckdb"]["warnings"]
    assert [w[:30] for w in reports["spark"]["warnings"]] == ["orders: 1 line placed by the e"]
    for table in tables:
        sql = f'SELECT * FROM "{table}"'
        assert table_rows(homes["spark"], sql) == table_rows(homes["duckdb"], sql), table
    sql = "SELECT status, status_at FROM orders WHERE order_id = 'O8'"
    assert table_rows(homes["spark"], sql) == table_rows(homes["duckdb"], sql) == {("paid", None)}
    sql = "SELECT table_name, source_file, row_number, rule FROM quarantine"
    assert table_rows(homes["spark"], sql) == table_rows(homes["duckdb"], sql)
    assert {r[:3] for r in table_rows(homes["spark"], sql)} == {
        ("orders", "orders/day=2026-01-08/part-0.parquet", 2)}


@pytest.fixture(scope="module")
def engines(ingested, spark):
    """The warehouse's tables registered in an in-memory DuckDB and in Spark."""
    frames = load_frames(ingested["duckdb"][0], drop=MODEL_DROP)
    duck, sp = DuckDBEngine(), SparkEngine(spark)
    for engine in (duck, sp):
        d.register_frames(engine, frames)
    yield frames, duck, sp
    sp.close()


def both(engines, sql: str, schema: str) -> pl.DataFrame:
    _, duck, sp = engines
    got = d.run(sp, sql, schema)
    want = d.run(duck, sql, schema)
    assert_frame_equal(got, want, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)
    return want


def test_pooled_daily_demand_as_of_an_instant_agrees(engines):
    from aggregation.daily import actuals, history
    from aggregation.pooling import pool_daily

    frames = engines[0]
    instant = datetime(2026, 10, 29, 15, 30, tzinfo=TZ)  # mid-day: some lines cancelled later
    pooled = both(engines, d.pool_daily(instant), "daily")
    assert pooled.height > 0
    assert_frame_equal(pooled, pool_daily(frames["orders"], frames["groups"], frames["campaigns"], instant))
    hist = both(engines, d.history(day_start(END)), "daily")
    assert_frame_equal(hist, history(frames, day_start(END)))
    start = day_start(END - timedelta(days=3))
    truth = both(engines, d.actuals(start, 3), "daily")
    assert_frame_equal(truth, actuals(frames, start, 3).sort("product_id", "warehouse_id", "day"))


def test_campaign_pooling_and_live_curves_agree(engines):
    """Pooling each campaign as of its own instant, the live booking curves and the closed campaigns'
    booking states (the presale's training), on Spark (the call's own relations, the instants and the
    campaigns asked for, registered for it) are the embedded default's."""
    from aggregation.booking import booking_snapshots, live_booking_curves
    from aggregation.pooling import pool_campaigns_at

    frames, _, sp = engines
    orders, camps, groups = frames["orders"], frames["campaigns"], frames["groups"]
    products = frames["products"]
    at = day_start(END - timedelta(days=2)) + timedelta(hours=10)
    window = pl.col("closes_at") - pl.col("opens_at")
    instants = camps.filter(pl.col("opens_at") <= at).select(
        "campaign_id", (pl.col("opens_at") + window * 0.4).alias("instant"))
    for detail in (True, False):
        want = pool_campaigns_at(orders, camps, groups, products, instants, detail=detail)
        got = pool_campaigns_at(orders, camps, groups, products, instants, detail=detail, run=d.runner(sp))
        assert want["ordered_qty"].sum() > 0
        assert_frame_equal(got, want)
    live = camps.filter((pl.col("opens_at") <= at) & (pl.col("closes_at") > at))["campaign_id"]
    want = live_booking_curves(orders, groups, camps, live, at)
    assert want.height > 0
    assert_frame_equal(live_booking_curves(orders, groups, camps, live, at, run=d.runner(sp)), want)
    closed = camps.filter(pl.col("closes_at") <= at)
    want = booking_snapshots(orders, closed, groups, products, frames["posts"], grid=4)
    assert want["qty_at"].sum() > 0 and want["posts_at"].sum() > 0
    assert_frame_equal(booking_snapshots(orders, closed, groups, products, frames["posts"], grid=4,
                                         run=d.runner(sp)), want)


def test_signal_aggregates_agree(engines):
    """The signal's sources agree on both engines, and a signal read from Spark's source (at its instant
    and at a fold's day start before it) is the one read from the embedded default's source. (A source
    holds the order lines as they stood at its own instant, so a fold's signal read from it knows the
    cancellations up to the training's instant, as the nightly on that day did.)"""
    from recsys.signal import build_signal, signal_source

    frames, duck, sp = engines
    until = day_start(END - timedelta(days=2))
    days = both(engines, d.signal_days(until), "signal_days")
    answers = both(engines, d.post_answers(until), "post_answers")
    lines = both(engines, d.member_lines(until), "member_lines")
    assert days.height > 0 and answers["answered_at"].null_count() < answers.height and lines.height > 0
    source, embedded_source = signal_source(frames, until, run=d.runner(sp)), signal_source(frames, until)
    for as_of in (until, day_start(END - timedelta(days=5))):
        on_spark = build_signal(frames, as_of, source=source)
        embedded = build_signal(frames, as_of, source=embedded_source)
        for name in ("daily", "exposures", "member_cross"):
            assert_frame_equal(getattr(on_spark, name).sort("g", "i"), getattr(embedded, name).sort("g", "i"),
                               check_exact=False)


def test_platform_day_is_the_same_on_both_engines(spark):
    """An order at 23:30 and one at 00:30 platform time (15:30 / 16:30 UTC) fall on two platform
    days on both engines, whatever zone the JVM or the Python process runs in."""
    orders = pl.DataFrame({
        "order_id": ["a", "b"], "member_id": ["m", "m"], "group_id": ["g", "g"], "product_id": ["p", "p"],
        "campaign_id": [None, None], "quantity": [1, 2], "unit_price": [1.0, 1.0],
        "ordered_at": [datetime(2026, 10, 30, 23, 30, tzinfo=TZ), datetime(2026, 10, 31, 0, 30, tzinfo=TZ)],
        "status": ["paid", "paid"], "status_at": [None, None],
    }, schema_overrides={"campaign_id": pl.String, "status_at": pl.Datetime("us", str(TZ))})
    groups = pl.DataFrame({"group_id": ["g"], "warehouse_id": ["w"]})
    campaigns = pl.DataFrame(schema={"campaign_id": pl.String, "warehouse_id": pl.String})
    frames = {"orders": orders.with_columns(pl.col("ordered_at").dt.convert_time_zone("UTC")),
              "groups": groups, "campaigns": campaigns}
    sp = SparkEngine(spark)
    try:
        got = {}
        for name, engine in (("duckdb", DuckDBEngine()), ("spark", sp)):
            d.register_frames(engine, frames)
            got[name] = d.run(engine, d.pool_daily(datetime(2026, 11, 1, tzinfo=TZ)), "daily")
    finally:
        sp.close()
    assert got["duckdb"]["day"].to_list() == [date(2026, 10, 30), date(2026, 10, 31)]
    assert_frame_equal(got["spark"], got["duckdb"])


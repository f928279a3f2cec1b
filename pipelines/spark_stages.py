"""The nightly's per-group and per-campaign Python on Spark executors (`nightly --engine spark`).

The picks stage: a DataFrame of the group ids, in chunks of consecutive groups spread over a few
partitions; `mapInArrow` runs one task per partition, and each task calls the same pure
`recsys.picks.make_picks` for its groups with the fitted Production, broadcast once (pickled on the
driver, cut down to what the picks read: `recsys.picks.picks_payload`), and returns the picks as
Arrow record batches. The driver collects them into the PICKS_SCHEMA frame, sorted as make_picks
sorts. A task that fails surfaces as one line naming the Python exception, not the Py4J text.

The forecast stage's nowcast of the live campaigns (nowcast_on_spark): the fit and its gate stay on
the driver; the rows each warehouse's live campaign × warehouse units read
(aggregation.demand.nowcast_routes) are one tagged DataFrame, grouped by warehouse with
`applyInArrow`, and each group's task calls the same pure aggregation.demand.nowcast_rows with the
fitted PresaleForecaster, broadcast once; the driver collects the demand rows.

pyspark is imported only by the functions here that run on Spark, never at import time.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import numpy as np
import polars as pl

from aggregation.decision import DecisionConfig
from aggregation.demand import DEMAND_SCHEMA, KEY, NowcastFn, nowcast_routes, nowcast_rows
from aggregation.presale import PresaleForecaster
from common.errors import CircleBuyError
from recsys.picks import PICKS_SCHEMA, SLOTS, PicksConfig, make_picks, picks_payload
from recsys.production import GROUP_CHUNK, Production

INFO = "_info"  # one row per task carries make_picks' accounting for its groups (JSON)
COUNTS = ("available_pairs", "candidates", "after_rules")


class SparkTaskError(CircleBuyError):
    """A task on the executors failed; the message names the Python exception it died of."""


def broadcast(spark: Any, obj: Any, what: str) -> Any:
    """`obj` broadcast to the executors: pickled once here, unpickled once per Python worker (the
    worker keeps it across its tasks); one that does not pickle is a clear error naming `what`."""
    try:
        return spark.sparkContext.broadcast(obj)
    except Exception as exc:
        raise CircleBuyError(f"{what} cannot be shipped to the Spark executors: it does not pickle "
                             f"({type(exc).__name__}: {str(exc).strip().splitlines()[0]})") from exc


def collect(df: Any, failed: str) -> pl.DataFrame:
    """The rows of a DataFrame computed by Python tasks, on the driver; a task that died is one
    SparkTaskError, `failed` followed by the task's exception (not the Py4J text)."""
    try:
        result = pl.from_arrow(df.toArrow())
    except Exception as exc:
        from pipelines.engine.spark_engine import task_failure

        raise SparkTaskError(f"{failed}: {task_failure(exc)}") from exc
    assert isinstance(result, pl.DataFrame)
    return result


def _types(schema: dict[str, Any]) -> tuple[str, Any]:
    """A polars schema of strings, dates, 64-bit ints, floats and zoned timestamps as (Spark DDL,
    Arrow schema)."""
    import pyarrow as pa

    known = {pl.String: ("string", pa.string()), pl.Date: ("date", pa.date32()),
             pl.Int64: ("bigint", pa.int64()), pl.Float64: ("double", pa.float64())}
    ddl, fields = [], []
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Datetime):  # an instant: Spark's TIMESTAMP, UTC in Arrow
            spark_type, arrow_type = "timestamp", pa.timestamp("us", tz="UTC")
        else:
            spark_type, arrow_type = known[dtype]
        ddl.append(f"`{name}` {spark_type}")
        fields.append(pa.field(name, arrow_type))
    return ", ".join(ddl), pa.schema(fields)


def _picks_task(payload: Any, for_date: date, config: PicksConfig, excluded: pl.DataFrame | None,
                pick: Callable[..., tuple[pl.DataFrame, dict]]) -> Callable[[Iterator[Any]], Iterator[Any]]:
    """The mapInArrow function: one partition's group ids -> its picks, plus one row of accounting."""
    schema = {**PICKS_SCHEMA, INFO: pl.String}

    def task(batches: Iterator[Any]) -> Iterator[Any]:
        _, arrow_schema = _types(schema)
        ids = [value for batch in batches for value in batch.column("group_id").to_pylist()]
        if not ids:
            return
        picks, info = pick(payload.value, for_date, config, groups=pl.Series(ids, dtype=pl.String),
                           excluded=excluded)
        info_row = pl.DataFrame({INFO: [json.dumps(info, default=str)]})
        out = pl.concat([picks.with_columns(pl.lit(None, pl.String).alias(INFO)), info_row],
                        how="diagonal_relaxed").select(list(schema)).cast(schema)
        yield from out.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(arrow_schema).to_batches()

    return task


def merged_info(infos: list[dict], picks: pl.DataFrame) -> dict:
    """make_picks' accounting for every group out of its tasks' (the same keys as one call gives)."""
    if not infos:
        return {"available_pairs": 0}
    info = {k: v for k, v in infos[0].items() if k not in (*COUNTS, "picks", "slots", "warning")}
    if all("warning" in i for i in infos):  # nothing on sale for any group
        return {**info, "available_pairs": 0, "warning": infos[0]["warning"]}
    info.update({k: sum(i.get(k, 0) for i in infos) for k in COUNTS})
    info["picks"] = picks.height
    info["slots"] = {s: int((picks["slot"] == s).sum()) for s in SLOTS}
    return info


def partitions_for(n_groups: int, parallelism: int) -> int:
    """At least one partition per core, more when there are more chunks of GROUP_CHUNK groups."""
    return max(1, parallelism, math.ceil(n_groups / GROUP_CHUNK))


def make_picks_on_spark(
    spark: Any, prod: Production, for_date: date, config: PicksConfig | None = None,
    excluded: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, dict]:
    """make_picks(prod, for_date, config, excluded=excluded) for every group, run on the executors:
    the same picks table and accounting, collected to the driver."""
    import pyarrow as pa

    config = config or PicksConfig()
    signal = prod.signal
    group_ids = signal.groups.decode(np.arange(len(signal.groups)))
    n = len(group_ids)
    if n == 0:
        return make_picks(prod, for_date, config, excluded=excluded)
    parts = partitions_for(n, spark.sparkContext.defaultParallelism)
    size = math.ceil(n / parts)
    payload = broadcast(spark, picks_payload(prod), "the fitted recommendation models (Production)")
    try:
        ids = pa.table({"group_id": pa.array(list(group_ids), pa.string()),
                        "_chunk": pa.array(np.arange(n) // size, pa.int64())})
        ddl, _ = _types({**PICKS_SCHEMA, INFO: pl.String})
        task = _picks_task(payload, for_date, config, excluded, make_picks)
        df = (spark.createDataFrame(ids).repartition(parts, "_chunk").select("group_id")
              .mapInArrow(task, ddl))
        result = collect(df, "a Spark task picking for a chunk of groups failed")
    finally:
        payload.unpersist()
    infos = [json.loads(v) for v in result.get_column(INFO).drop_nulls().to_list()]
    picks = (result.filter(pl.col(INFO).is_null()).select(list(PICKS_SCHEMA)).cast(PICKS_SCHEMA)
             .sort("group_id", "rank"))
    return picks, merged_info(infos, picks)


TABLE = "_table"  # which contract table a row of the nowcast's shipped rows belongs to


def _nowcast_task(payload: Any, as_of: datetime, passed: bool, decision: DecisionConfig,
                  schemas: dict[str, dict[str, pl.DataType]], nowcast: NowcastFn
                  ) -> Callable[[Any], Any]:
    """The applyInArrow function: one warehouse's rows of every table -> its demand rows."""

    def task(table: Any) -> Any:
        _, arrow_schema = _types(DEMAND_SCHEMA)
        shipped = pl.from_arrow(table)
        assert isinstance(shipped, pl.DataFrame)
        share = {name: shipped.filter(pl.col(TABLE) == name).select(list(schema)).cast(schema)
                 for name, schema in schemas.items()}
        rows = nowcast(payload.value, share, share["campaigns"], as_of, passed, decision)
        rows = rows.with_columns(pl.lit(None).alias(c) for c in DEMAND_SCHEMA if c not in rows.columns)
        rows = rows.select([pl.col(c).cast(t) for c, t in DEMAND_SCHEMA.items()])
        return rows.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(arrow_schema)

    return task


def nowcast_on_spark(spark: Any, model: PresaleForecaster, frames: dict[str, pl.DataFrame],
                     live: pl.DataFrame, as_of: datetime, passed: bool, decision: DecisionConfig
                     ) -> tuple[pl.DataFrame, dict]:
    """aggregation.demand.nowcast_rows(model, frames, live, as_of, passed, decision), run on the
    executors, one task per warehouse (the same rows; build_demand sorts them). Its signature less
    `spark` is build_demand's `nowcast` hook. Returns the rows and where they were computed."""
    routes = nowcast_routes(model, frames, live, as_of)
    warehouses = routes["campaigns"][KEY].n_unique()
    if warehouses == 0:  # no live campaign × warehouse unit: nothing to ship
        return nowcast_rows(model, frames, live, as_of, passed, decision), {"engine": "driver", "tasks": 0}
    schemas = {name: dict(frames[name].schema) for name in routes}
    shipped = pl.concat([rows.with_columns(pl.lit(name).alias(TABLE)) for name, rows in routes.items()],
                        how="diagonal_relaxed")
    payload = broadcast(spark, model, "the fitted pre-sale forecaster (PresaleForecaster)")
    try:
        ddl, _ = _types(DEMAND_SCHEMA)
        task = _nowcast_task(payload, as_of, passed, decision, schemas, nowcast_rows)
        df = (spark.createDataFrame(shipped.to_arrow(compat_level=pl.CompatLevel.oldest()))
              .groupBy(KEY).applyInArrow(task, ddl))
        result = collect(df, "a Spark task nowcasting the live campaigns of a warehouse failed")
    finally:
        payload.unpersist()
    rows = result.cast(dict(DEMAND_SCHEMA))
    return rows, {"engine": "spark", "tasks": warehouses, "units": rows.height,
                  "rows_shipped": {name: r.height for name, r in routes.items()}}

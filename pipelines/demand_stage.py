"""The nightly demand stage's I/O: forecast vintages in DuckDB (the table itself is built by
aggregation.demand.build_demand)."""

from __future__ import annotations

import duckdb
import polars as pl

from pipelines.warehouse import replace_rows

VINTAGE_COLUMNS = ("as_of", "campaign_id", "product_id", "supplier_id", "warehouse_id", "delivery_on",
                   "ordered_qty", "groups_ordering", "forecast_p10", "forecast_p50", "forecast_p90",
                   "suggested_qty", "method", "model_version")


def store_vintages(con: duckdb.DuckDBPyConnection, demand: pl.DataFrame) -> int:
    """Append the demand rows to `forecast_vintages`; the same as_of re-run replaces, never duplicates."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS forecast_vintages (as_of TIMESTAMPTZ, campaign_id VARCHAR, "
        "product_id VARCHAR, supplier_id VARCHAR, warehouse_id VARCHAR, delivery_on DATE, "
        "ordered_qty BIGINT, groups_ordering BIGINT, forecast_p10 DOUBLE, forecast_p50 DOUBLE, "
        "forecast_p90 DOUBLE, suggested_qty BIGINT, method VARCHAR, model_version VARCHAR, "
        "stored_at TIMESTAMPTZ DEFAULT current_timestamp)"
    )
    if demand.height == 0:
        return 0
    return replace_rows(con, "forecast_vintages", demand, "as_of", VINTAGE_COLUMNS)

"""The nightly demand stage's typed outcome and its I/O: forecast vintages in DuckDB (the table
itself is built by aggregation.demand.build_demand)."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import polars as pl

from pipelines.gates import GateVerdict
from pipelines.warehouse import replace_rows


@dataclass(frozen=True)
class DemandRun:
    """What the forecast stage published and why: campaigns or daily mode, the quality gate, and
    build_demand's accounting (timings, campaigns, series) kept for the ledger."""

    mode: str  # "campaigns", "daily", or "none" (nothing to forecast from)
    gate: GateVerdict
    rows: int = 0
    accounting: dict = field(default_factory=dict)

    @classmethod
    def of(cls, info: dict) -> DemandRun:
        """From aggregation.demand.build_demand's info (the one place its keys are read)."""
        gate = dict(info.get("gate") or {})
        missing = "" if gate else "no quality gate reported"
        verdict = GateVerdict(passed=bool(gate.pop("passed", True)), reason=gate.pop("reason", "") or missing,
                              trained=gate.pop("trained", None), details=gate)
        rest = {k: v for k, v in info.items() if k not in ("gate", "mode", "rows")}
        return cls(mode=info.get("mode", "none"), gate=verdict, rows=int(info.get("rows", 0)),
                   accounting=rest)

    @classmethod
    def untrained(cls, reason: str) -> DemandRun:
        """Nothing was ordered before the date: no forecast is published."""
        return cls(mode="none", gate=GateVerdict(passed=False, reason=reason, trained=False))

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

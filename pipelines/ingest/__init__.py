"""Validated, idempotent loading of raw CSV / Parquet into HOME/warehouse.duckdb (`circlebuy ingest`)."""

from pipelines.ingest.loader import IngestConfig, run_ingest
from pipelines.ingest.report import IngestReport, TableCounts

__all__ = ["IngestConfig", "IngestReport", "TableCounts", "run_ingest"]

"""What the nightly hands the run report: one plain value object, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl


@dataclass
class ReportContext:
    """Everything the report shows about one nightly run; every part after `model_version` may be empty.

    - stages: [{"name", "seconds", "rows_in", "rows_out"}, ...] in run order, those finished when the
      report is written; `stages_after` names the rest (counted, not timed).
    - ingest: the `ingest --json` report {"tables": {t: {"read", "loaded", "duplicates", "quarantined"}},
      "warnings": [...]} (the warnings listed under the counts); a run whose ingest failed before any
      count carries {"failed": the error in words} instead.
    - quarantine_by_rule: [{"table_name", "rule", "rows"}, ...].
    - recsys / forecast: the `evaluate --json` blocks of the same names.
    - gates: [{"part", "passed", "message"}, ...], the message in plain words.
    - booking_curves: campaign_id, label, at, cum_qty, forecast_p10/p50/p90, closes_at (one row per point);
      booking_curves_missing: why there are none, when the run knows (no campaigns, none open yet).
    - business: what `business_view` returns.
    - vintages: the last nights' published pick lists scored after the fact (`evaluate --vintages`).
    """

    run_id: str
    date: date
    status: str
    model_version: str
    stages: list[dict] = field(default_factory=list)
    ingest: dict | None = None
    quarantine_by_rule: list[dict] = field(default_factory=list)
    recsys: dict | None = None
    forecast: dict | None = None
    gates: list[dict] = field(default_factory=list)
    booking_curves: pl.DataFrame | None = None
    booking_curves_missing: str | None = None  # why there is no curve to draw, in words
    business: dict | None = None
    notes: list[str] = field(default_factory=list)
    vintages: dict | None = None  # pipelines.vintages.run_vintages over the last nights' lists
    # the run's stages not in `stages` because they run while or after the report is written (the
    # nightly: report, publish): counted in the summary, not timed
    stages_after: list[str] = field(default_factory=list)

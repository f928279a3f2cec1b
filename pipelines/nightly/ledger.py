"""The run ledger: one row per nightly run in the warehouse table `runs`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY,
    run_date DATE,
    started_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ,
    status VARCHAR,           -- running / succeeded / failed / killed
    failed_stage VARCHAR,
    error VARCHAR,
    snapshot VARCHAR,
    stages VARCHAR,           -- JSON list of {name, seconds, rows_in, rows_out}
    row_counts VARCHAR,       -- JSON
    model_versions VARCHAR,   -- JSON
    metrics VARCHAR,          -- JSON headline metrics
    gates VARCHAR,            -- JSON list of quality-gate outcomes
    evaluation VARCHAR        -- JSON: the evaluate block this run computed (null when reused)
)
"""


@dataclass
class RunRecord:
    run_id: str
    run_date: date
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended_at: datetime | None = None
    status: str = "running"
    failed_stage: str | None = None
    error: str | None = None
    snapshot: str | None = None
    stages: list[dict] = field(default_factory=list)
    row_counts: dict = field(default_factory=dict)
    model_versions: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    gates: list[dict] = field(default_factory=list)
    evaluation: dict | None = None
    # not columns of the ledger (the `publish` gate says it there): for `nightly --json`
    live: bool = False             # HOME/current points at this run's snapshot
    not_live: str | None = None    # why a succeeded run's snapshot was kept but not made live
    # the stage started and not yet finished: kept in the ledger's `stages` as {"name", "status":
    # "running"} so that a run killed in it (kill -9) is marked killed IN that stage
    running_stage: str | None = None

    def row(self) -> list:
        dump = lambda v: json.dumps(v, default=str, sort_keys=True)  # noqa: E731
        return [
            self.run_id, self.run_date, self.started_at, self.ended_at, self.status,
            self.failed_stage, self.error, self.snapshot, dump(self.ledger_stages()),
            dump(self.row_counts), dump(self.model_versions), dump(self.metrics), dump(self.gates),
            None if self.evaluation is None else dump(self.evaluation),
        ]


    def ledger_stages(self) -> list[dict]:
        """The stages as the ledger keeps them: the finished ones, then the one running, if any."""
        if self.running_stage is None:
            return self.stages
        return [*self.stages, {"name": self.running_stage, "status": "running"}]


def ensure_ledger(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(LEDGER_DDL)


def write_record(con: duckdb.DuckDBPyConnection, record: RunRecord) -> None:
    """Insert or replace the run's row (called at start, after each stage, and at the end)."""
    ensure_ledger(con)
    con.execute("INSERT OR REPLACE INTO runs VALUES (" + ", ".join("?" * 14) + ")", record.row())


def mark_abandoned_runs(con: duckdb.DuckDBPyConnection) -> int:
    """Runs still 'running' while nobody holds the lock were killed: say so in the ledger, with the
    stage they died in when the ledger knows it (the stage recorded as started and not finished)."""
    ensure_ledger(con)
    rows = con.execute("SELECT run_id, stages FROM runs WHERE status = 'running'").fetchall()
    for run_id, stages in rows:
        stage = running_stage_of(stages)
        where = f" during stage {stage}" if stage else ""
        if stage == "publish":  # killed after the switch and before the last ledger write?
            where += " (its snapshot may already be live: see HOME/current)"
        con.execute(
            "UPDATE runs SET status = 'killed', failed_stage = coalesce(failed_stage, ?), "
            "error = coalesce(error, ?) WHERE run_id = ?",
            [stage, f"the process ended{where} before the run finished (killed?)", run_id],
        )
    return len(rows)


def running_stage_of(stages_json: str | None) -> str | None:
    """The stage a ledger row's `stages` marks as started and not finished, or None."""
    try:
        stages = json.loads(stages_json or "[]")
    except ValueError:
        return None
    running = [s.get("name") for s in stages if isinstance(s, dict) and s.get("status") == "running"]
    return running[-1] if running else None


def recent_evaluation(con: duckdb.DuckDBPyConnection, run_date: date, within_days: int) -> dict | None:
    """The newest evaluation computed by a succeeded run dated in (run_date - within_days, run_date]."""
    ensure_ledger(con)
    row = con.execute(
        "SELECT run_id, run_date, evaluation FROM runs WHERE status = 'succeeded' "
        "AND evaluation IS NOT NULL AND run_date <= ? AND run_date > ? "
        "ORDER BY run_date DESC, started_at DESC LIMIT 1",
        [run_date, run_date - timedelta(days=within_days)],
    ).fetchone()
    if row is None:
        return None
    return {"run_id": row[0], "run_date": row[1], "evaluation": json.loads(row[2])}


def recent_tuning(con: duckdb.DuckDBPyConnection, run_date: date, within_days: int) -> dict | None:
    """Hyper-parameters from a grid search made fewer than `within_days` days before run_date."""
    return _recent_version(con, run_date, within_days, "recsys_tuning", "tuned_on", "params")


def recent_ranker(con: duckdb.DuckDBPyConnection, run_date: date, within_days: int) -> dict | None:
    """The recsys training (its saved file, relative to the home) made fewer than `within_days`
    days before run_date."""
    return _recent_version(con, run_date, within_days, "recsys_ranker", "trained_on", "file")


def _recent_version(
    con: duckdb.DuckDBPyConnection, run_date: date, within_days: int, key: str, dated_by: str, needs: str
) -> dict | None:
    """The newest model_versions[key] of a succeeded run whose `dated_by` day is fewer than
    `within_days` days before run_date (and not after it), with its run's id and date."""
    ensure_ledger(con)
    rows = con.execute(
        "SELECT run_id, run_date, model_versions FROM runs WHERE status = 'succeeded' "
        "AND run_date <= ? AND run_date > ? ORDER BY run_date DESC, started_at DESC",
        [run_date, run_date - timedelta(days=within_days)],
    ).fetchall()
    for run_id, day, versions in rows:
        entry = json.loads(versions or "{}").get(key)
        if not entry or entry.get(dated_by) is None or not entry.get(needs):
            continue
        age = (run_date - date.fromisoformat(entry[dated_by])).days
        if 0 <= age < within_days:
            return {"run_id": run_id, "run_date": day, **entry}
    return None


def run_evaluation(con: duckdb.DuckDBPyConnection, run_id: str) -> dict | None:
    """The evaluation a run recorded, or None."""
    ensure_ledger(con)
    row = con.execute("SELECT evaluation FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def read_ledger(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    ensure_ledger(con)
    return con.sql("SELECT * FROM runs ORDER BY started_at").pl()

"""The run ledger: one row per nightly run in the warehouse table `runs`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

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
    evaluation VARCHAR,       -- JSON: the evaluate block this run computed (null when reused)
    snapshot_removed_at TIMESTAMPTZ  -- when retention (--keep) removed `snapshot`'s folder; null: on disk
)
"""

# columns added after the first warehouses were made: ensure_ledger adds them to an existing `runs`
# (ALTER TABLE ... ADD COLUMN, null for the rows already there), so an old warehouse keeps working
LEDGER_ADDED_COLUMNS = {"snapshot_removed_at": "TIMESTAMPTZ"}
# the columns a RunRecord writes, in `RunRecord.row()` order (the added ones are set by UPDATEs only)
RECORD_COLUMNS = ("run_id", "run_date", "started_at", "ended_at", "status", "failed_stage", "error",
                  "snapshot", "stages", "row_counts", "model_versions", "metrics", "gates", "evaluation")


@dataclass
class RunRecord:
    run_id: str
    run_date: date
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    ended_at: datetime | None = None
    status: str = "running"
    failed_stage: str | None = None
    error: str | None = None
    report: str | None = None  # a failed run's report (HOME/failed/<run_id>/report.html); not in the ledger
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
    """The `runs` table, created when missing; on a warehouse made before a column was added, that
    column is added (a safe migration: the existing rows get null)."""
    con.execute(LEDGER_DDL)
    have = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'runs' "
        "AND table_schema = current_schema()").fetchall()}
    for column, kind in LEDGER_ADDED_COLUMNS.items():
        if column not in have:
            con.execute(f"ALTER TABLE runs ADD COLUMN IF NOT EXISTS {column} {kind}")


def write_record(con: duckdb.DuckDBPyConnection, record: RunRecord) -> None:
    """Insert or replace the run's row (called at start, after each stage, and at the end). The columns
    are named: a replace keeps the ones a record does not write (`snapshot_removed_at`)."""
    ensure_ledger(con)
    con.execute(f"INSERT OR REPLACE INTO runs ({', '.join(RECORD_COLUMNS)}) VALUES "
                f"({', '.join('?' * len(RECORD_COLUMNS))})", record.row())


def mark_snapshots_removed(con: duckdb.DuckDBPyConnection, folders: list, at: datetime | None = None) -> int:
    """Say in the ledger that retention removed these snapshot folders (HOME/snapshots/<run_id>): the
    runs that point at them get `snapshot_removed_at` (their `snapshot` path is kept, for the record).
    Returns how many ledger rows were marked."""
    ensure_ledger(con)
    if not folders:
        return 0
    at = at or datetime.now(UTC)
    names = [Path(f).name for f in folders]
    paths = [str(f) for f in folders]
    marked = con.execute(
        "UPDATE runs SET snapshot_removed_at = ? WHERE snapshot_removed_at IS NULL AND snapshot IS NOT NULL "
        "AND (list_contains(?, run_id) OR list_contains(?, snapshot))", [at, names, paths]).fetchone()
    return int(marked[0]) if marked else 0


def mark_abandoned_runs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Runs still 'running' while nobody holds the lock were killed: say so in the ledger, with the
    stage they died in when the ledger knows it (the stage recorded as started and not finished).
    Returns one phrase per run marked, naming it, its date and that stage, for the log."""
    ensure_ledger(con)
    rows = con.execute("SELECT run_id, run_date, stages FROM runs WHERE status = 'running'").fetchall()
    said = []
    for run_id, run_date, stages in rows:
        stage = running_stage_of(stages)
        where = f" during stage {stage}" if stage else ""
        if stage == "publish":  # killed after the switch and before the last ledger write?
            where += " (its snapshot may already be live: see HOME/current)"
        con.execute(
            "UPDATE runs SET status = 'killed', failed_stage = coalesce(failed_stage, ?), "
            "error = coalesce(error, ?) WHERE run_id = ?",
            [stage, f"the process ended{where} before the run finished (killed?)", run_id],
        )
        said.append(f"run {run_id} of {run_date}{where}")
    return said


def running_stage_of(stages_json: str | None) -> str | None:
    """The stage a ledger row's `stages` marks as started and not finished, or None."""
    try:
        stages = json.loads(stages_json or "[]")
    except ValueError:
        return None
    running = [s.get("name") for s in stages if isinstance(s, dict) and s.get("status") == "running"]
    return running[-1] if running else None


def mark_missing_snapshots(con: duckdb.DuckDBPyConnection, snapshots: Path,
                           at: datetime | None = None) -> int:
    """Mark the runs whose snapshot folder is no longer under `snapshots` (HOME/snapshots/<run_id>;
    matched by the folder's name, so a home that was moved still matches): removed by a retention
    that did not record it (before this column existed) or by hand. Returns how many were marked."""
    ensure_ledger(con)
    rows = con.execute("SELECT run_id, snapshot FROM runs WHERE snapshot IS NOT NULL "
                       "AND snapshot_removed_at IS NULL AND status <> 'running'").fetchall()
    gone = [snapshot for _, snapshot in rows if not (snapshots / Path(snapshot).name).exists()]
    return mark_snapshots_removed(con, gone, at) if gone else 0


def recent_evaluation(con: duckdb.DuckDBPyConnection, run_date: date, within_days: int) -> dict | None:
    """The newest forecast evaluation COMPUTED by a succeeded run dated in (run_date - within_days,
    run_date]. A run that itself reused an earlier run's forecast evaluation (its block has
    `reused_from_run`) is passed over: reusing it would name the wrong run and, night after night,
    keep an evaluation older than `within_days` alive forever."""
    ensure_ledger(con)
    rows = con.execute(
        "SELECT run_id, run_date, evaluation FROM runs WHERE status = 'succeeded' "
        "AND evaluation IS NOT NULL AND run_date <= ? AND run_date > ? "
        "ORDER BY run_date DESC, started_at DESC",
        [run_date, run_date - timedelta(days=within_days)],
    ).fetchall()
    for run_id, day, evaluation in rows:
        try:
            parsed = json.loads(evaluation)
        except ValueError:
            continue
        forecast = parsed.get("forecast") if isinstance(parsed, dict) else None
        if not isinstance(forecast, dict) or forecast.get("reused_from_run"):
            continue
        return {"run_id": run_id, "run_date": day, "evaluation": parsed}
    return None


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

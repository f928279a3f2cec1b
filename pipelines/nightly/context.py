"""What the stages of one nightly run hand to each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from common.home import Home
from pipelines.engine.session import LazySession
from pipelines.nightly.config import NightlyConfig
from pipelines.nightly.ledger import RunRecord
from pipelines.nightly.snapshot import SnapshotWriter

if TYPE_CHECKING:  # imported for the type only: the context stays cheap to import
    from pipelines.demand_stage import DemandRun
    from pipelines.recsys_stage import RecsysRun
    from recsys.production import Production


@dataclass
class RunContext:
    home: Home
    config: NightlyConfig
    record: RunRecord
    writer: SnapshotWriter
    as_of: datetime
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)
    ingest: dict | None = None
    quarantine_by_rule: list[dict] = field(default_factory=list)
    production: Production | None = None  # trained by the `train` stage
    picks: pl.DataFrame | None = None
    # (version the picks are made with, version to publish): a ranker reused from an earlier night's
    # training is named by that night ("ranker@<trained_on>"), not by the run's date
    picks_version: tuple[str, str] | None = None
    recsys: RecsysRun | None = None  # the training's report and the picks' accounting
    pick_arms: pl.DataFrame | None = None  # group_id, arm, experiment: the groups in A/B experiments
    demand: pl.DataFrame | None = None
    demand_run: DemandRun | None = None  # the forecast stage's mode, gate and accounting
    booking_curves: pl.DataFrame | None = None
    evaluation: dict | None = None
    snapshot_dir: str | None = None
    publish_refusal: str | None = None  # why this snapshot must not replace the live one (None: it may)
    publish_checked: bool = False
    # why this snapshot is kept but not made live (its date is older than the live snapshot's and
    # --make-live was not given); None: it goes live when published
    not_live: str | None = None
    notes: list[str] = field(default_factory=list)
    # warnings a stage raised, by stage name (ingest: its report's `warnings`): logged by the runner,
    # kept in the stage's entry of the ledger, the manifest and `nightly --json`
    stage_warnings: dict[str, list[str]] = field(default_factory=dict)
    # more keys of a stage's entry in the ledger, the manifest and `nightly --json`, by stage name
    # (ingest: `quarantined` {table: rows}, `quarantine_rules` {table: {rule: rows}}, `not_yet_due`)
    stage_extras: dict[str, dict] = field(default_factory=dict)
    session: LazySession | None = None  # the run's SparkSession on --engine spark (started lazily)

    def spark(self):
        """The run's SparkSession, started by the first stage that asks (--engine spark only)."""
        if self.session is None:
            self.session = LazySession(self.config.engine)
        return self.session.get()

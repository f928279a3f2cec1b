"""Settings of one nightly run, built once at the edge (CLI) and passed down as values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipelines.engine.base import EngineOptions
from pipelines.settings import Settings

FAIL_STAGE_ENV = "CIRCLEBUY_FAIL_STAGE"


@dataclass(frozen=True)
class NightlyConfig:
    run_date: date
    raw: Path | None = None
    keep_snapshots: int = 5
    settings: Settings = field(default_factory=Settings)  # every model setting (seed, k, horizon, ...)
    evaluate: bool = True          # score the last horizon (as-of D - horizon) for the report
    evaluate_every_days: int = 7   # reuse a forecast evaluation made by a run fewer days ago than this
    evaluate_max_products: int = 400  # the nightly's daily-forecast evaluation reads a product sample
    full_evaluation: bool = False  # retrain recsys as of D - horizon to score it (slow)
    retune_every_days: int = 7     # reuse generator hyper-parameters tuned fewer days ago than this
    retrain_every_days: int = 7    # reuse the recsys ranker trained fewer days ago than this
    progress: bool = False
    fail_stage: str | None = None  # from $CIRCLEBUY_FAIL_STAGE, for tests of failure handling
    allow_empty: bool = False      # publish even when a table drops to 0 rows (or under min_row_share)
    min_row_share: float = 0.0     # refuse when a table falls under this share of the live one's rows
    make_live: bool = False        # make the snapshot live even when its date is older than the live one's
    engine: EngineOptions = field(default_factory=EngineOptions)  # --engine, --spark-master, --conf
    lake: Path | None = None       # the output lake (--lake); None: HOME/lake
    lake_catalog: str | None = None  # --lake-catalog DB: the lake's tables in the Spark catalog (spark only)

    @property
    def on_spark(self) -> bool:
        return self.engine.name == "spark"

    @property
    def seed(self) -> int:
        return self.settings.seed

    @property
    def k(self) -> int:
        return self.settings.k

    @property
    def horizon_days(self) -> int:
        return self.settings.horizon_days

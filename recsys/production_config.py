"""Everything a production training needs, with defaults (one value, passed down)."""

from __future__ import annotations

from dataclasses import dataclass, field

from common.settings import DEFAULT_SEED
from recsys.ranker import RankerConfig
from recsys.signal import SignalConfig
from recsys.tuning import TuningConfig


@dataclass(frozen=True)
class ProductionConfig:
    """Everything the production training needs, with defaults."""

    horizon_days: int = 7
    k: int = 10
    seed: int = DEFAULT_SEED
    max_validation_groups: int = 5000  # groups (with an order in a fold) scored, over all folds
    # above this many groups, tuning, validation and the ranker's label windows read a sample of the
    # groups (and every order, post and membership of theirs); the final refit reads every group
    max_tuning_groups: int = 6000
    validation_folds: int = 4  # weekly validation folds before the as-of day (tuning, gate, fallback)
    signal: SignalConfig = field(default_factory=SignalConfig)
    tuning: TuningConfig = field(default_factory=TuningConfig)
    ranker: RankerConfig = field(default_factory=RankerConfig)

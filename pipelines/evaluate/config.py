"""What `circlebuy evaluate` is asked: the as-of date, the horizon, k and the seed, and the settings of
the models it trains (built once at the edge and passed down as values; shared by the evaluate
modules without importing one another)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from aggregation.presale import PresaleConfig
from aggregation.timeseries import TimeSeriesConfig
from common.settings import DEFAULT_SEED
from recsys.production import ProductionConfig


@dataclass(frozen=True)
class EvaluateConfig:
    as_of: date
    horizon_days: int = 7
    k: int = 10
    seed: int = DEFAULT_SEED
    # the models' settings; horizon, k and seed above override theirs
    production: ProductionConfig = field(default_factory=ProductionConfig)
    forecast: TimeSeriesConfig = field(default_factory=TimeSeriesConfig)
    presale: PresaleConfig = field(default_factory=PresaleConfig)
    # the daily block on a sample of the products (every series of theirs; seeded) when there are
    # more: the nightly's report reads the daily models' accuracy at a cost that stops growing with
    # the catalogue. None: every product (`circlebuy evaluate`)
    max_products: int | None = None

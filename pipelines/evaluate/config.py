"""What `circlebuy evaluate` is asked: the as-of date, the horizon, k and the seed, and the settings of
the models it trains (built once at the edge and passed down as values; shared by the evaluate
modules without importing one another)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from aggregation.presale import PresaleConfig
from aggregation.timeseries import TimeSeriesConfig
from common.settings import DEFAULT_SEED
from recsys.production import ProductionConfig

if TYPE_CHECKING:
    from pipelines.settings import Settings


@dataclass(frozen=True)
class EvaluateConfig:
    as_of_day: date  # `--as-of`: the models learn from what happened before its 00:00
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

    @classmethod
    def from_settings(cls, as_of_day: date, settings: Settings, max_products: int | None = None
                      ) -> EvaluateConfig:
        """The evaluation of the models `settings` describes (the nightly's and the CLI's one tree)."""
        return cls(as_of_day=as_of_day, horizon_days=settings.horizon_days, k=settings.k, seed=settings.seed,
                   production=settings.production, forecast=settings.demand.timeseries,
                   presale=settings.demand.presale, max_products=max_products)

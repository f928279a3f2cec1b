"""What `circlebuy evaluate` is asked: the as-of date, the horizon, k and the seed (shared by the
evaluate modules without importing one another)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class EvaluateConfig:
    as_of: date
    horizon_days: int = 7
    k: int = 10
    seed: int = 7

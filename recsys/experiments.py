"""A/B arms per group: which generator's picks a group is served in an experiment. Pure.

A group is enrolled when a stable hash of (experiment, group) falls below the experiment's share;
an enrolled group's arm is a second stable hash of the same pair over the arms. Stable: the same
group gets the same arm every night and on every machine (SHA-256, not Python's salted hash), and
adding groups never moves the others. The control arm is `production` when it is one of the arms,
else the first.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

PRODUCTION = "production"


@dataclass(frozen=True)
class Experiment:
    name: str
    arms: tuple[str, ...]
    share: float = 1.0

    @property
    def control(self) -> str:
        return PRODUCTION if PRODUCTION in self.arms else self.arms[0]


def _unit(text: str) -> float:
    """A stable number in [0, 1) from text."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


def assign_arms(group_ids: pl.Series | list[str], experiment: Experiment) -> pl.DataFrame:
    """(group_id, arm) for the enrolled groups of `experiment` (the others are not in it)."""
    arms = experiment.arms
    rows = []
    for g in pl.Series(group_ids, dtype=pl.String).unique().sort().to_list():
        if _unit(f"{experiment.name}\x1fenrol\x1f{g}") >= experiment.share:
            continue
        k = min(int(_unit(f"{experiment.name}\x1farm\x1f{g}") * len(arms)), len(arms) - 1)
        rows.append((g, arms[k]))
    return pl.DataFrame(rows, schema={"group_id": pl.String, "arm": pl.String}, orient="row")

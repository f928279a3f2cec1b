"""A quality gate's verdict as the nightly reports it: passed or not, why, and whether the model could
train at all. Each stage's typed outcome (recsys_stage.RecsysRun, demand_stage.DemandRun) gives one;
nightly.reporting.gate_outcome turns it into the plain-words line of the ledger and the report."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    reason: str
    trained: bool | None = None  # False: too little history to train the production model at all
    details: dict = field(default_factory=dict)  # the numbers behind the verdict (kept in the ledger)

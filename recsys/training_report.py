"""What a production training learned and decided, typed: the report `train_production` returns
inside `Production`, read by the nightly, `evaluate` and the report by attribute, not by string keys.
`to_dict()` is its JSON (the ledger, saved trainings, `evaluate --json`); `from_dict` reads it back,
older saved trainings included (missing parts default)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Gate:
    """Production against popularity and the best generator on the mean of the validation folds."""

    production_ndcg: float
    popularity_ndcg: float
    best_generator_ndcg: float
    passed: bool
    folds: int
    reason: str


@dataclass(frozen=True)
class TunedGenerator:
    params: dict
    validation: dict[str, float]  # mean over the folds of every metric, for the chosen parameters
    folds: list[float] = field(default_factory=list)  # NDCG@k per fold, newest first
    # what the production fit derived from the parameters and the data (Recommender.fitted_values:
    # ALS's L2 weight, BPR's epochs, ...)
    fitted: dict[str, bool | int | float] = field(default_factory=dict)


@dataclass
class TrainingReport:
    model: str  # "ranker", or the generator production fell back to
    fallback_reason: str | None
    best_generator: str
    tuning: dict[str, TunedGenerator]
    ranker_validation: dict
    gate: Gate
    training_rows: int = 0
    windows: dict = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)
    tuned_on: str | None = None  # the day the hyper-parameters were chosen (the nightly reuses them)

    @property
    def params(self) -> dict[str, dict]:
        """Each generator's chosen hyper-parameters."""
        return {name: t.params for name, t in self.tuning.items()}

    def to_dict(self) -> dict:
        out = asdict(self)
        tuned_on = out.pop("tuned_on")
        if tuned_on is not None:
            out["tuning_info"] = {"tuned_on": tuned_on}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> TrainingReport:
        gate = data.get("gate") or {}
        return cls(
            model=data["model"],
            fallback_reason=data.get("fallback_reason"),
            best_generator=data.get("best_generator", data["model"]),
            tuning={name: TunedGenerator(t.get("params", {}), t.get("validation", {}), t.get("folds", []),
                                         t.get("fitted", {}))
                    for name, t in (data.get("tuning") or {}).items()},
            ranker_validation=data.get("ranker_validation") or {},
            gate=Gate(
                production_ndcg=gate.get("production_ndcg", 0.0),
                popularity_ndcg=gate.get("popularity_ndcg", 0.0),
                best_generator_ndcg=gate.get("best_generator_ndcg", 0.0),
                passed=bool(gate.get("passed", False)),
                folds=int(gate.get("folds", 1)), reason=gate.get("reason", "")),
            training_rows=int(data.get("training_rows", 0)),
            windows=data.get("windows") or {},
            timings_s=data.get("timings_s") or {},
            tuned_on=(data.get("tuning_info") or {}).get("tuned_on"),
        )

"""The nightly's recsys stages: train on everything before --date 00:00, then pick for that date."""

from __future__ import annotations

import logging
import pickle
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from common.definitions import Runner
from common.settings import DEFAULT_SEED
from pipelines.gates import GateVerdict
from recsys.experiments import PRODUCTION, Experiment, assign_arms
from recsys.picks import PicksConfig, make_picks
from recsys.production import Production, ProductionConfig, refit_production, train_production
from recsys.training_report import TrainingReport
from recsys.tuning import TuningConfig

log = logging.getLogger("circlebuy.recsys")


@dataclass
class RecsysRun:
    """What the nightly's train and picks stages learned and decided: the typed training report,
    the model version the picks carry, the stages' timings and the picks' own accounting."""

    report: TrainingReport
    model_version: str
    timings_s: dict[str, float]
    picks: dict = field(default_factory=dict)  # make_picks' accounting (source, candidates, slots, ...)
    groups_with_picks: int = 0

    def verdict(self) -> GateVerdict:
        gate = asdict(self.report.gate)
        return GateVerdict(passed=gate.pop("passed"), reason=gate.pop("reason"), details=gate)

    def to_dict(self) -> dict:
        """The JSON of the run's recsys part (benchmarks, `build_picks` callers)."""
        return {**self.report.to_dict(), "model_version": self.model_version, "timings_s": self.timings_s,
                "picks": self.picks, "groups_with_picks": self.groups_with_picks}


def _run_of(prod: Production, for_date: date, started: float) -> RecsysRun:
    return RecsysRun(report=prod.report, model_version=f"{prod.chosen}@{for_date.isoformat()}",
                     timings_s={**prod.report.timings_s,
                                "train_total": round(time.perf_counter() - started, 3)})


def train_recsys(
    frames: dict[str, pl.DataFrame],
    for_date: date,
    config: PicksConfig | None = None,
    seed: int = DEFAULT_SEED,
    tuned_params: dict[str, dict] | None = None,
    production: ProductionConfig | None = None,
    run: Runner | None = None,
) -> tuple[Production, RecsysRun]:
    """Tune the generators, train the ranker (or fall back), refit at the cutoff; the run has the gate.

    run: the engine that aggregates the orders and posts for the training's signals (common/definitions.py;
    by default in-process DuckDB over `frames`).

    tuned_params: hyper-parameters chosen by a recent run ({generator: params}); when given, the
    grid search is skipped and each generator is fitted once with them (still validated).
    production: the training's settings (the settings tree's); by default k = the list length and `seed`.
    """
    config = config or PicksConfig()
    tick = time.perf_counter()
    notes: list[str] = []
    production = production or ProductionConfig(k=config.n, seed=seed)
    if tuned_params:
        production = replace(production, tuning=TuningConfig(
            models=tuple(tuned_params), grids={n: [dict(p)] for n, p in tuned_params.items()}))
    prod = train_production(frames, for_date, production, notes, run)
    for note in notes:
        log.warning(note)
    return prod, _run_of(prod, for_date, tick)


SAVED_FORMAT = 1


def save_trained(prod: Production, path: Path) -> None:
    """Keep what a later night needs to reuse this training: the ranker (or the generator it fell
    back to), the generators' hyper-parameters and the training info. Written atomically."""
    state = {
        "format": SAVED_FORMAT,
        "ranker": prod.ranker,
        "chosen": prod.chosen,
        "params": prod.report.params,
        "info": {k: v for k, v in prod.report.to_dict().items() if k != "timings_s"},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("wb") as f:
        pickle.dump(state, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def reuse_recsys(
    frames: dict[str, pl.DataFrame], for_date: date, path: Path, config: PicksConfig | None = None,
    seed: int = DEFAULT_SEED, production: ProductionConfig | None = None,
) -> tuple[Production, RecsysRun]:
    """Production for `for_date` from a training saved by an earlier night (save_trained): the
    generators are refitted on today's data, the ranker is reused. The file is the home's own."""
    config = config or PicksConfig()
    tick = time.perf_counter()
    with path.open("rb") as f:
        state = pickle.load(f)  # noqa: S301 - written by save_trained into the same home
    if state.get("format") != SAVED_FORMAT:
        raise ValueError(f"{path}: saved training of format {state.get('format')!r}, expected {SAVED_FORMAT}")
    production = production or ProductionConfig(k=config.n, seed=seed)
    prod = refit_production(frames, for_date, state["params"], state["ranker"], state["chosen"],
                            state["info"], production)
    return prod, _run_of(prod, for_date, tick)


def pick_for_day(
    prod: Production,
    for_date: date,
    run: RecsysRun,
    config: PicksConfig | None = None,
    excluded: pl.DataFrame | None = None,
    spark: Any = None,
) -> tuple[pl.DataFrame, RecsysRun]:
    """The picks table of DESIGN.md "Outputs" for every group, under the rules; the run, with the
    picks' accounting and timing added.
    `excluded` (product_id): platform-wide exclusions no list may hold (`common.exclusions`).
    `spark`: a SparkSession to pick on its executors, chunks of groups per task (the same picks)."""
    config = config or PicksConfig()
    tick = time.perf_counter()
    if spark is not None:
        from pipelines.spark_stages import make_picks_on_spark

        picks, picks_info = make_picks_on_spark(spark, prod, for_date, config, excluded=excluded)
    else:
        picks, picks_info = make_picks(prod, for_date, config, excluded=excluded)
    return picks, replace(run, picks=picks_info, groups_with_picks=picks["group_id"].n_unique(),
                          timings_s={**run.timings_s, "picks": round(time.perf_counter() - tick, 3)})


def build_picks(
    frames: dict[str, pl.DataFrame], for_date: date, config: PicksConfig | None = None,
    seed: int = DEFAULT_SEED, production: ProductionConfig | None = None,
) -> tuple[pl.DataFrame, RecsysRun]:
    """Train and pick in one call: the picks table and the run (model chosen, fallback reason,
    validation metrics, the quality gate, training rows, timings)."""
    prod, run = train_recsys(frames, for_date, config, seed, production=production)
    return pick_for_day(prod, for_date, run, config)


def enrolment(groups: pl.Series | list[str], experiments: list[Experiment],
              held_by: dict[str, list[str]] | None = None) -> tuple[dict[str, pl.DataFrame], dict[str, str]]:
    """Each experiment's groups (group_id, arm, experiment), in the order given: the groups its hash
    draws (recsys.experiments.assign_arms) less those held by the experiments named in `held_by[name]`
    (default: every earlier one in the list). Held means held for good: a group held by an experiment
    whose window overlapped this one's goes back to production when that one stops, never to this one
    (its arms would mix groups with nights of another treatment). Returns ({name: groups}, {name: a
    note saying how many of the groups it drew are held elsewhere})."""
    notes: dict[str, str] = {}
    enrolled: dict[str, pl.DataFrame] = {}
    for i, e in enumerate(experiments):
        holders = [n for n in (held_by or {}).get(e.name, [x.name for x in experiments[:i]]) if n in enrolled]
        drawn = assign_arms(groups, e)
        held = [enrolled[n].select("group_id") for n in holders]
        a = (drawn.join(pl.concat(held), on="group_id", how="anti") if held else drawn).with_columns(
            pl.lit(e.name).alias("experiment"))
        if a.height < drawn.height:  # said, or a later experiment looks enrolled and gets no list
            notes[e.name] = (f"experiment {e.name}: {drawn.height - a.height} of the {drawn.height} groups "
                             f"it drew are in an earlier experiment ({', '.join(holders)}) whose nights "
                             "overlap its own, and stay out of it (in that one while it runs, then "
                             f"production); it has {a.height}")
        enrolled[e.name] = a
    return enrolled, notes


ARMS_SCHEMA = {"group_id": pl.String, "arm": pl.String, "experiment": pl.String}


def picks_with_arms(
    prod: Production,
    for_date: date,
    picks: pl.DataFrame,
    experiments: list[Experiment],
    config: PicksConfig | None = None,
    excluded: pl.DataFrame | None = None,
    held_by: dict[str, list[str]] | None = None,
    tonight: list[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """The groups enrolled in the experiments served tonight get their arm's list: the arm's generator
    ranks in place of production, under the same rules (on sale, slots, reasons, exclusions).
    `experiments` in order of creation, with `held_by` (enrolment: whose groups each leaves; default
    every earlier one) and `tonight` (the names served on `for_date`; default all: the others are
    there for their groups only, pipelines.vintages.plan_night). An arm that knows nothing of its own
    on this history (`informative()` false: year_ago before a year of orders) is said.
    Returns (picks, arms: group_id, arm, experiment, notes)."""
    groups = prod.signal.groups.decode(np.arange(len(prod.signal.groups)))
    enrolled, said = enrolment(groups, experiments, held_by)
    serving = [e.name for e in experiments if tonight is None or e.name in tonight]
    notes = [said[n] for n in serving if n in said]
    parts = [enrolled[n] for n in serving]
    arms = pl.concat(parts) if parts else pl.DataFrame(schema=ARMS_SCHEMA)
    arms = arms.unique("group_id", keep="first", maintain_order=True)  # never two lists for one group
    for arm in arms["arm"].unique().sort().to_list():
        if arm == PRODUCTION:
            continue
        members = arms.filter(pl.col("arm") == arm)["group_id"]
        if arm not in prod.models:
            notes.append(f"arm {arm!r} is not a trained generator tonight: its {members.len()} groups "
                         "are served production")
            arms = arms.with_columns(pl.when(pl.col("arm") == arm).then(pl.lit(PRODUCTION))
                                     .otherwise(pl.col("arm")).alias("arm"))
            continue
        if not prod.models[arm].informative():
            where = ", ".join(arms.filter(pl.col("arm") == arm)["experiment"].unique().sort().to_list())
            notes.append(f"arm {arm} ({where}) knows nothing of its own on this night's history ({arm} needs "
                         f"a year of it): its {members.len()} groups are served recent popularity's "
                         "fill, not the method")
        variant = replace(prod, ranker=None, chosen=arm)
        arm_picks, _ = make_picks(variant, for_date, config, groups=members, excluded=excluded)
        picks = pl.concat([picks.filter(~pl.col("group_id").is_in(members.implode())),
                           arm_picks.select(picks.columns)], how="vertical_relaxed")
    return picks.sort("group_id", "rank"), arms, notes

"""The nightly stages, in order. Each takes the run context and returns (rows_in, rows_out).

ingest -> load -> train -> picks -> forecast -> evaluate -> report -> publish
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import pickle
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from common.clock import PLATFORM_TZ
from common.definitions import DEMAND_TABLES, SIGNAL_TABLES
from pipelines import lake
from pipelines.nightly.context import RunContext
from pipelines.nightly.ledger import (
    mark_missing_snapshots,
    mark_snapshots_removed,
    recent_evaluation,
    recent_ranker,
    recent_tuning,
    run_evaluation,
)
from pipelines.nightly.reporting import gate_outcome, model_version, model_version_of, recsys_gate_outcome
from pipelines.nightly.signals import deferred_signals
from pipelines.nightly.snapshot import (
    PublishRefusedError,
    newer_live,
    not_live_message,
    prune_snapshots,
    publish,
    publish_refusal,
    refusal_message,
)
from pipelines.warehouse import MODEL_DROP, connect, create_tables, group_names, load_frames

if TYPE_CHECKING:
    from common.definitions import Runner
    from pipelines.recsys_stage import RecsysRun

log = logging.getLogger("circlebuy.nightly")

StageFn = Callable[[RunContext], tuple[int, int]]


def _total_rows(frames: dict[str, pl.DataFrame]) -> int:
    return sum(f.height for f in frames.values())


def stage_ingest(ctx: RunContext) -> tuple[int, int]:
    """Load --raw (when given) and the API's landing files into the warehouse. The ingest reports'
    warnings (`ingest --json`'s: a table quarantined whole first, then keys left unchecked, files
    re-encoded or ignored, ...) become the stage's warnings, those of the landing files marked so.

    Landing files dated after the run's date (HOME/landing/feedback/<YYYY-MM-DD>.csv, the API's
    platform day) are not due yet for a run of an earlier date (a backfill): they are left for a later
    run, neither read nor quarantined as future rows, and the stage says how many rows wait
    (`not_yet_due`). The stage's entry also counts the rows quarantined per table and per rule."""
    from pipelines.ingest import run_ingest

    read = loaded = 0
    tables: dict[str, dict] = {}
    rules: dict[str, dict[str, int]] = {}
    warnings = ctx.stage_warnings.setdefault("ingest", [])  # filled per source: kept if a later one fails
    extras = ctx.stage_extras.setdefault("ingest", {})
    sources = [ctx.config.raw] if ctx.config.raw else []
    if (ctx.home.landing / "feedback").exists() and any((ctx.home.landing / "feedback").iterdir()):
        sources.append(ctx.home.landing)
    waiting = _landing_not_yet_due(ctx)
    if waiting:
        extras["not_yet_due"] = {"feedback": sum(waiting.values())}
        shown = ", ".join(f"{name}: {n:,}" for name, n in sorted(waiting.items()))
        note = (f"ingest: {sum(waiting.values()):,} feedback row(s) in landing file(s) dated after "
                f"{ctx.config.run_date} ({shown}) are later than the run's date: left for a later run, "
                "neither loaded nor quarantined (a run for their date reads them)")
        ctx.notes.append(note)
        log.info("%s", note)
    with _due_landing(ctx, waiting) as landing:
        for source in sources:
            read_from = landing if source == ctx.home.landing else source
            if read_from is None:  # every landing file is for a later date
                continue
            if ctx.config.on_spark:
                ctx.spark()  # the run's session: the loader's engine runs on it (getOrCreate)
            report = run_ingest(read_from, ctx.home, run_date=ctx.config.run_date,
                                progress=ctx.config.progress, engine=ctx.config.engine).to_json()
            where = "" if source == ctx.config.raw else f" (landing files in {source})"
            warnings.extend(f"{w}{where}" for w in report["warnings"])
            for name, counts in report["tables"].items():
                merged = tables.setdefault(name, dict.fromkeys(counts, 0))
                for key, value in counts.items():
                    merged[key] = merged.get(key, 0) + value
                read += counts["read"]
                loaded += counts["loaded"]
            for name, by_rule in (report.get("quarantine_rules") or {}).items():
                merged_rules = rules.setdefault(name, {})
                for rule, n in by_rule.items():
                    merged_rules[rule] = merged_rules.get(rule, 0) + n
            extras["quarantined"] = {name: c["quarantined"] for name, c in tables.items()}
            extras["quarantine_rules"] = {name: dict(sorted(r.items())) for name, r in rules.items()}
    ctx.ingest = {"tables": tables, "sources": [str(s) for s in sources], "warnings": list(warnings),
                  "quarantine_rules": rules, **({"not_yet_due": extras["not_yet_due"]} if waiting else {})}
    extras.setdefault("quarantined", {})
    extras.setdefault("quarantine_rules", {})
    with connect(ctx.home) as con:
        create_tables(con)
        ctx.quarantine_by_rule = (
            con.sql("SELECT table_name, rule, count(*) AS rows FROM quarantine "
                    "GROUP BY ALL ORDER BY table_name, rule").pl().to_dicts()
        )
    return read, loaded


def _landing_not_yet_due(ctx: RunContext) -> dict[str, int]:
    """The landing feedback files dated after the run's date ({file name: data rows}). The API writes
    HOME/landing/feedback/<platform day>.csv, every row stamped within that day, so such a file's rows
    all lie after the run's cutoff (the end of its date). A file not named by a date is always read."""
    from datetime import date

    folder = ctx.home.landing / "feedback"
    if not folder.is_dir():
        return {}
    waiting = {}
    for path in sorted(folder.iterdir()):
        try:
            day = date.fromisoformat(path.name.split(".", 1)[0])
        except ValueError:
            continue
        if path.is_file() and not path.name.startswith((".", "_")) and day > ctx.config.run_date:
            with open(path, "rb") as handle:
                lines = sum(1 for line in handle if line.strip())
            waiting[path.name] = max(lines - 1, 0) if path.suffix == ".csv" else lines
    return waiting


@contextlib.contextmanager
def _due_landing(ctx: RunContext, waiting: dict[str, int]):
    """The landing folder to ingest: HOME/landing itself when nothing waits; else a folder under HOME
    (seen by Spark's executors where HOME is) holding links to the due files only, with the landing's
    relative paths (so the quarantine and `ingest_files` name them as before); None when none is due."""
    import shutil

    if not waiting:
        yield ctx.home.landing
        return
    folder = ctx.home.landing / "feedback"
    due = [p for p in sorted(folder.iterdir()) if p.name not in waiting]
    if not due:
        yield None
        return
    view = ctx.home.root / f".landing-due-{ctx.record.run_id}"
    shutil.rmtree(view, ignore_errors=True)
    try:
        (view / "feedback").mkdir(parents=True)
        for path in due:
            (view / "feedback" / path.name).symlink_to(path.resolve())
        for entry in ctx.home.landing.iterdir():  # anything else the landing holds, as it is
            if entry.name != "feedback" and not entry.name.startswith((".", "_")):
                (view / entry.name).symlink_to(entry.resolve())
        yield view
    finally:
        shutil.rmtree(view, ignore_errors=True)


def stage_load(ctx: RunContext) -> tuple[int, int]:
    """Read the warehouse into the run's frames (rows in: every row read; rows out: the orders placed
    before the as-of instant, what the models may learn from). The signals are built by `train`."""
    frames = load_frames(ctx.home, drop=MODEL_DROP)
    orders = frames["orders"]
    if orders.height == 0:
        from common.errors import BadInputError

        raise BadInputError(empty_orders_message(ctx))
    if not ctx.config.allow_empty:
        _refuse_a_day_with_nothing_on_sale(ctx, frames)
    ctx.frames = frames
    known = orders.filter(pl.col("ordered_at") < ctx.as_of).height
    return _total_rows(frames), known


def _refuse_a_day_with_nothing_on_sale(ctx: RunContext, frames: dict[str, pl.DataFrame]) -> None:
    """A --date on which no campaign is open picks nothing, and publish refuses an empty pick list: said
    before minutes of training (and a saved model) are spent on it."""
    from common.errors import BadInputError
    from recsys.availability import campaigns_open_on, has_campaigns

    if not has_campaigns(frames) or campaigns_open_on(frames["campaigns"], ctx.config.run_date).height:
        return
    if _live_picks(ctx) == 0:  # a live snapshot published empty: publish would not refuse this one either
        return
    windows = frames["campaigns"].select(pl.col("opens_at").min().dt.convert_time_zone(PLATFORM_TZ),
                                         pl.col("closes_at").max().dt.convert_time_zone(PLATFORM_TZ))
    first, last = windows.row(0)
    raise BadInputError(refusal_message(
        f"no campaign is open on {ctx.config.run_date} (the campaigns run from {first:%Y-%m-%d %H:%M} to "
        f"{last:%Y-%m-%d %H:%M}, platform time), so picks would have 0 rows; nothing was trained"))


def _live_picks(ctx: RunContext) -> int | None:
    """The live snapshot's pick rows, from its manifest (None: none live, or not recorded)."""
    from pipelines.nightly.snapshot import MANIFEST, live_snapshot

    live = live_snapshot(ctx.home)
    try:
        counts = json.loads((live / MANIFEST).read_text(encoding="utf-8")).get("row_counts") or {}
    except (TypeError, OSError, ValueError):
        return None
    picks = counts.get("picks.parquet")
    return picks if isinstance(picks, int) else None


def empty_orders_message(ctx: RunContext) -> str:
    """Why there is nothing to learn from, true to what this run did: with --raw, the raw file(s) of
    the orders table that gave no row (or whose rows were all quarantined); without, the warehouse to
    ingest into. Ends with what stays live: the live snapshot, or that none is live yet."""
    from pipelines.nightly.snapshot import live_snapshot

    raw = ctx.config.raw
    counts = ((ctx.ingest or {}).get("tables") or {}).get("orders") if raw else None
    if raw is None or counts is None:
        what = (f"{ctx.home.warehouse}: the orders table is empty; ingest raw files first "
                "(`circlebuy nightly --raw RAW ...` or `circlebuy ingest RAW`)")
    else:
        files = _raw_files(raw, "orders")
        read = int(counts.get("read") or 0)
        if read == 0:
            what = (f"the orders table is empty: {files} (--raw) had no rows, a header only or an empty "
                    f"file, and the warehouse {ctx.home.warehouse} holds no orders from earlier ingests; "
                    "add the order rows and run again")
        else:
            quarantined, duplicates = int(counts.get("quarantined") or 0), int(counts.get("duplicates") or 0)
            what = (f"the orders table is empty: {read:,} row(s) read from {files} (--raw), none "
                    f"loaded ({quarantined:,} quarantined, {duplicates:,} duplicate(s); the quarantine "
                    "table says which rule each broke) and the warehouse holds no orders from earlier "
                    "ingests")
    live = live_snapshot(ctx.home)
    stays = "no snapshot is live yet" if live is None else f"the live snapshot {live.name} stays live"
    return f"{what}; {stays}"


def _raw_files(raw, table: str) -> str:
    """The raw file(s) of `table` under RAW, named as ingest names them (`orders.csv`, `orders/a.csv`,
    ...), or `<table>.csv|.parquet` when they cannot be listed."""
    try:
        from pipelines.ingest.readers import discover

        found, _ = discover(raw)
        names = [str(Path(raw) / f.rel) for f in found.get(table, [])]
    except Exception:
        names = []
    if not names:
        return f"{Path(raw) / table}.csv|.parquet"
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return shown


def stage_train(ctx: RunContext) -> tuple[int, int]:
    """Train the recommendations on what happened before the date: the whole training (grid
    search, label windows, ranker) at most every `retrain_every_days`; nights in between refit
    the generators on today's data and reuse the latest ranker (saved in HOME/models)."""
    from pipelines.recsys_stage import reuse_recsys

    run_date = ctx.config.run_date
    saved = _recent(ctx, recent_ranker, ctx.config.retrain_every_days)
    reused = None
    if saved is not None and (ctx.home.root / saved["file"]).exists():
        try:
            settings = ctx.config.settings
            reused = reuse_recsys(ctx.frames, run_date, ctx.home.root / saved["file"], settings.picks,
                                  seed=settings.seed, production=settings.production)
        except (OSError, ValueError, AttributeError, ImportError, pickle.UnpicklingError) as exc:
            ctx.notes.append(f"saved recommendation training {saved['file']} could not be reused "
                             f"({type(exc).__name__}: {exc}); trained again")
    if saved is not None and reused is not None:
        ctx.production, run = reused
        ctx.notes.append(f"recommendation ranker reused from the training of {saved['trained_on']} "
                         f"(run {saved['trained_by_run']}); generators refitted on today's data; the "
                         f"full training runs every {ctx.config.retrain_every_days} days")
        ctx.record.model_versions["recsys_ranker"] = {
            k: saved[k] for k in ("trained_on", "trained_by_run", "file")}
        tuned_on = run.report.tuned_on or saved["trained_on"]
    else:
        run, tuned_on = _train_and_save(ctx)
    if reused is not None and ctx.production.chosen == "ranker":
        # the ranker was trained on an earlier night: the version names that day, not today's
        # (generators published as the fallback are refitted today: their version is today's)
        trained = f"{ctx.production.chosen}@{saved['trained_on']}"
        if trained != run.model_version:
            ctx.picks_version = (run.model_version, trained)
            run = dataclasses.replace(run, model_version=trained)
    ctx.recsys = run
    ctx.record.model_versions["recsys_tuning"] = {"tuned_on": tuned_on, "params": run.report.params}
    ctx.record.gates.append(recsys_gate_outcome(run.verdict(), run.report.model))
    ctx.record.model_versions["recsys"] = run.model_version
    rows_in = ctx.frames["orders"].filter(pl.col("ordered_at") < ctx.as_of).height
    # out: the (group, product) pairs tonight's models learned from, the same measure whether the ranker
    # was trained tonight or reused (its own training rows read 0 on a reusing night: "trained on nothing")
    return rows_in, ctx.production.signal.daily.select("g", "i").n_unique()


def _train_and_save(ctx: RunContext) -> tuple[RecsysRun, str]:
    """The whole recsys training (the grid search reused when recent), saved for later nights."""
    from pipelines.recsys_stage import save_trained, train_recsys

    run_date = ctx.config.run_date
    earlier = _recent(ctx, recent_tuning, ctx.config.retune_every_days)
    params = earlier["params"] if earlier else None
    settings = ctx.config.settings
    with _aggregating_engine(ctx, SIGNAL_TABLES,
                             "train: the orders, posts and memberships of the recommendation signal were "
                             "aggregated on Spark (one aggregation for every fold, label window and the "
                             "refit)") as aggregates:
        ctx.production, run = train_recsys(ctx.frames, run_date, settings.picks, seed=settings.seed,
                                           tuned_params=params, production=settings.production,
                                           run=aggregates)
    if earlier:
        tuned_on = earlier["tuned_on"]
        ctx.notes.append(f"recommendation hyper-parameters reused from the tuning of {tuned_on} "
                         f"(run {earlier['run_id']}); the grid search runs every "
                         f"{ctx.config.retune_every_days} days")
    else:
        tuned_on = str(run_date)
    ctx.production.report.tuned_on = tuned_on
    relative = f"models/recsys-{ctx.record.run_id}.pkl"
    save_trained(ctx.production, ctx.home.root / relative)
    _prune_models(ctx, keep=relative)
    ctx.record.model_versions["recsys_ranker"] = {
        "trained_on": str(run_date), "trained_by_run": ctx.record.run_id, "file": relative}
    return run, tuned_on


@contextlib.contextmanager
def _aggregating_engine(ctx: RunContext, tables: list[str], note: str) -> Iterator[Runner]:
    """Where a stage runs the definitions of common/definitions.py: the warehouse file on DuckDB, the
    run's Spark session over the warehouse's `tables` on --engine spark (noting `note`)."""
    from pipelines.engine.definitions import warehouse_runner

    spark = ctx.spark() if ctx.config.on_spark else None
    with warehouse_runner(ctx.home, ctx.config.engine, tables, spark=spark) as run:
        yield run
    if spark is not None:
        ctx.notes.append(note)


def _recent(ctx: RunContext, lookup, every_days: int) -> dict | None:
    """lookup(con, run_date, every_days) on the ledger, or None when every_days is 1 (every night)."""
    if every_days <= 1:
        return None
    with connect(ctx.home) as con:
        return lookup(con, ctx.config.run_date, every_days)


def _prune_models(ctx: RunContext, keep: str) -> None:
    """Keep the newest `keep_snapshots` saved trainings (and always `keep`)."""
    files = sorted(ctx.home.models.glob("recsys-*.pkl"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[ctx.config.keep_snapshots:]:
        if old != ctx.home.root / keep:
            old.unlink(missing_ok=True)


def stage_picks(ctx: RunContext) -> tuple[int, int]:
    """Pick for the date under the rules, with reasons, and write them into the snapshot; products
    excluded platform-wide (HOME/landing/_exclusions.csv, written by the API's admin route) are left out."""
    from common.exclusions import read_exclusions
    from pipelines.recsys_stage import pick_for_day

    excluded = read_exclusions(ctx.home)
    if excluded.height:
        shown = ", ".join(excluded.get_column("product_id").head(5).to_list())
        more = f" and {excluded.height - 5} more" if excluded.height > 5 else ""
        ctx.notes.append(f"{excluded.height} product(s) excluded platform-wide were left out of every "
                         f"list: {shown}{more}")
    picks, ctx.recsys = pick_for_day(ctx.production, ctx.config.run_date, ctx.recsys,
                                     ctx.config.settings.picks, excluded=excluded,
                                     spark=ctx.spark() if ctx.config.on_spark else None)
    if ctx.picks_version is not None and "model_version" in picks.columns:  # a reused ranker's day
        made, trained = ctx.picks_version
        picks = picks.with_columns(model_version=pl.when(pl.col("model_version") == made)
                                   .then(pl.lit(trained)).otherwise(pl.col("model_version")))
    picks = _serve_arms(ctx, picks, excluded)
    expected = ["group_id", "for_date", "rank", "product_id", "campaign_id", "score", "slot",
                "reason", "model_version"]
    missing = [c for c in expected if c not in picks.columns]
    if missing:
        raise RuntimeError(f"picks are missing columns {missing}")
    ctx.picks = picks
    ctx.writer.write_frame("picks", picks.sort("group_id", "rank"))
    return ctx.frames["groups"].height, picks.height


def _serve_arms(ctx: RunContext, picks: pl.DataFrame, excluded: pl.DataFrame) -> pl.DataFrame:
    """Groups enrolled in the experiments whose nights hold the run's date (`circlebuy experiment
    create --start`, `stop --last`; pipelines.vintages.plan_night) get their arm's list, whenever the
    run happens: a backfill of a day before an experiment's start never sees it, a re-run of a night
    inside its window keeps it. What the arms note (groups held by an earlier experiment, an arm that
    knows nothing on this history) goes to the log and the report's notes."""
    from pipelines.recsys_stage import picks_with_arms
    from pipelines.vintages import experiments_for_night

    with connect(ctx.home) as con:
        plan, started = experiments_for_night(con, ctx.config.run_date)
    for note in started:
        log.info("%s", note)
    ctx.notes.extend(started)
    if not plan.tonight:
        return picks
    picks, ctx.pick_arms, notes = picks_with_arms(
        ctx.production, ctx.config.run_date, picks, plan.experiments, excluded=excluded,
        held_by=plan.held_by, tonight=plan.tonight)
    for note in notes:
        log.warning("%s", note)
    ctx.notes.extend(notes)
    counts = ctx.pick_arms.group_by("experiment", "arm").len().sort("experiment", "arm")
    shown = "; ".join(f"{e} arm {a}: {n} groups" for e, a, n in counts.iter_rows())
    ctx.notes.append(f"experiments: {shown}")
    return picks


def stage_forecast(ctx: RunContext) -> tuple[int, int]:
    """Pool the open campaigns as of the date and forecast what stands at cutoff."""
    from aggregation.demand import build_demand, empty_demand
    from aggregation.timeseries import InsufficientHistoryError
    from pipelines.demand_stage import DemandRun, store_vintages

    nowcast = None
    if ctx.config.on_spark:  # the live campaigns' nowcast on the executors, a task per warehouse
        from functools import partial

        from pipelines.spark_stages import nowcast_on_spark

        nowcast = partial(nowcast_on_spark, ctx.spark())
    try:
        with _aggregating_engine(ctx, DEMAND_TABLES, "forecast: the final "
                                 "totals and booking states of the closed campaigns (or the daily history) "
                                 "were pooled on Spark") as pooled:
            demand, info = build_demand(ctx.frames, ctx.as_of, ctx.config.settings.demand,
                                        seed=ctx.config.seed, nowcast=nowcast, run=pooled)
        run = DemandRun.of(info)
        if info.get("presale_untrained"):
            ctx.notes.append(f"forecast: {info['presale_untrained']}")
    except InsufficientHistoryError as exc:  # nothing ordered before the date: publish no forecast
        demand, run = empty_demand(), DemandRun.untrained(str(exc))
        ctx.notes.append(f"no demand forecast for {ctx.config.run_date}: {exc}")
    ctx.demand, ctx.demand_run = demand, run
    where = run.accounting.get("nowcast")
    if where and where.get("engine") == "spark":
        ctx.notes.append(f"forecast: {where['units']} live campaign x warehouse nowcast(s) computed on the "
                         f"Spark executors, {where['tasks']} warehouse task(s)")
    ctx.record.gates.append(gate_outcome("forecast", run.gate, published=_methods(demand)))
    ctx.record.model_versions["forecast"] = model_version_of(demand)
    ctx.writer.write_frame("demand", demand)
    with connect(ctx.home) as con:
        store_vintages(con, demand)
    ctx.booking_curves = booking_curves(ctx)
    ctx.writer.write_frame("booking_curves", ctx.booking_curves)
    write_dimensions(ctx)
    rows_in = ctx.frames["orders"].filter(pl.col("ordered_at") < ctx.as_of).height
    return rows_in, demand.height


def _methods(demand: pl.DataFrame) -> str | None:
    """The forecast method(s) of the published demand rows ('+'-joined), None without any."""
    if "method" not in demand.columns or demand.height == 0:
        return None
    return "+".join(sorted(set(demand["method"].drop_nulls().to_list()))) or None


def stage_evaluate(ctx: RunContext) -> tuple[int, int]:
    """Score the models on the last horizon, whose outcome is known by the run's date.

    Recommendations: the training run's validation window (the ranker never saw it), so nothing is
    trained twice; `full_evaluation` retrains as of D - horizon instead (what `circlebuy evaluate`
    does). Forecasts: scored as of D - horizon, or reused from a run fewer than
    `evaluate_every_days` ago."""
    if not ctx.config.evaluate:
        ctx.notes.append("evaluation skipped by configuration")
        return 0, 0
    from pipelines.evaluate.config import EvaluateConfig
    from pipelines.evaluate.recsys import evaluate_recsys, validation_block

    scored_day = ctx.config.run_date - timedelta(days=ctx.config.horizon_days)
    config = EvaluateConfig.from_settings(scored_day, ctx.config.settings, ctx.config.evaluate_max_products)
    if ctx.config.full_evaluation or ctx.production is None:
        recsys_block, _ = evaluate_recsys(ctx.frames, config)
    elif ctx.production.validation is None:  # the ranker was reused: so is its evaluation
        recsys_block = _reused_recsys_evaluation(ctx)
    else:
        recsys_block = validation_block(ctx.production, ctx.config.k)
    forecast_block = _forecast_evaluation(ctx, config)
    # the day the numbers were scored: a reused block's own (both reused from one day: that day)
    scored = {block.get("reused_as_of") or scored_day.isoformat() for block in (recsys_block, forecast_block)}
    as_of = scored.pop() if len(scored) == 1 else scored_day.isoformat()
    ctx.evaluation = {"as_of": as_of, "horizon_days": config.horizon_days,
                      "k": config.k, "recsys": recsys_block, "forecast": forecast_block}
    ctx.record.evaluation = ctx.evaluation
    ctx.writer.write_text("evaluation.json", dumps(ctx.evaluation))
    return int(recsys_block.get("groups_evaluated", 0)), int(forecast_block.get("series_evaluated", 0))


def _reused_recsys_evaluation(ctx: RunContext) -> dict:
    """The recsys block of the run that trained the reused ranker."""
    trained_by = ctx.record.model_versions.get("recsys_ranker", {}).get("trained_by_run")
    with connect(ctx.home) as con:
        earlier = run_evaluation(con, trained_by) if trained_by else None
    block = (earlier or {}).get("recsys")
    if not block:
        note = f"not evaluated: the reused ranker's training run {trained_by} recorded no evaluation"
        ctx.notes.append(f"recommendations {note}")
        return {"groups_evaluated": 0, "models": {}, "note": note}
    ctx.notes.append(f"recommendation evaluation reused from run {trained_by}, which trained the "
                     f"ranker (as of {earlier.get('as_of')})")
    return {"reused_from_run": trained_by, "reused_as_of": earlier.get("as_of"), **block}


def _forecast_evaluation(ctx: RunContext, config) -> dict:
    """The forecast block as of D - horizon, or a recent run's when one is young enough."""
    if ctx.config.evaluate_every_days > 1:
        with connect(ctx.home) as con:
            earlier = recent_evaluation(con, ctx.config.run_date, ctx.config.evaluate_every_days)
        if earlier is not None:  # a run that computed it (never one that reused it in turn)
            as_of = earlier["evaluation"].get("as_of")
            ctx.notes.append(
                f"forecast evaluation reused from run {earlier['run_id']} of {earlier['run_date']} "
                f"(as of {as_of}); it runs every {ctx.config.evaluate_every_days} days")
            return {**earlier["evaluation"]["forecast"], "reused_from_run": earlier["run_id"],
                    "reused_from_date": str(earlier["run_date"]), "reused_as_of": as_of}
    from aggregation.timeseries import InsufficientHistoryError
    from pipelines.evaluate.forecast import evaluate_forecast

    try:
        forecast_block, _ = evaluate_forecast(ctx.frames, config)
        if forecast_block.get("note"):
            ctx.notes.append(f"forecast evaluation as of {config.as_of_day}: {forecast_block['note']}")
    except InsufficientHistoryError as exc:
        forecast_block = {"series_evaluated": 0, "models": {}, "note": f"not evaluated: {exc}"}
        ctx.notes.append(f"forecast evaluation as of {config.as_of_day}: {exc}")
    return forecast_block


def stage_report(ctx: RunContext) -> tuple[int, int]:
    """Render the self-contained HTML report into the snapshot; it says what the pick rules cost
    and, when this snapshot may not replace the live one, why (checked here so the report can)."""
    from pipelines.nightly.reporting import (
        build_report,
        note_event_analog,
        note_forecast_honesty,
        note_level_shift,
        note_rules_cost,
    )

    note_rules_cost(ctx)
    note_forecast_honesty(ctx)
    note_level_shift(ctx)
    note_event_analog(ctx)
    check_publish(ctx)
    html = build_report(ctx, STAGE_NAMES)
    ctx.writer.write_text("report.html", html)
    return len(ctx.record.stages), 1


def stage_publish(ctx: RunContext) -> tuple[int, int]:
    """Finish the snapshot beside the live one, switch HOME/current to it, prune old ones.

    A run for a date older than the live snapshot's (a backfill, a nightly for a past date) writes
    its snapshot and its lake partitions but leaves HOME/current alone, unless --make-live."""
    from pipelines.nightly.reporting import headline_metrics

    refusal = check_publish(ctx)
    blocked = refusal is not None and not ctx.config.allow_empty
    folder = ctx.writer.finish(
        model_version=model_version(ctx), metrics=headline_metrics(ctx),
        extra={"gates": ctx.record.gates, "stages": ctx.record.stages,
               **({"published": False, "refused": refusal_message(refusal)} if blocked else {}),
               **({"live": False, "not_live_reason": ctx.not_live} if ctx.not_live and not blocked else {})},
    )
    if blocked:  # kept beside the live one (never switched to) so its report can be read
        raise PublishRefusedError(refusal_message(refusal), snapshot_dir=str(folder))
    day = _stage_lake(ctx, folder)  # the day's lake partitions, written aside (nothing replaced yet)
    # a SIGTERM / Ctrl-C in here waits for the block's end (signals.deferred_signals): cut between the
    # switch and the vintage, the API would serve a list the ledger and the closed loop never knew of
    with deferred_signals():
        try:  # the lake's day (and its catalog tables) and the live snapshot change together, or neither does
            lake.commit(day)
            _sync_catalog(ctx, day.lake)
            if ctx.not_live is None:
                publish(ctx.home, folder)
        except BaseException:
            lake.rollback(day)
            with contextlib.suppress(Exception):  # the catalog back to the lake's folders as they are again
                _sync_catalog(ctx, day.lake, quiet=True)
            raise
        lake.discard(day)  # the partitions this day replaced
        ctx.snapshot_dir = str(folder)
        if ctx.not_live is not None:
            log.info("publish: snapshot %s for %s written; HOME/current left at the newer live snapshot",
                     folder.name, ctx.config.run_date)
        if ctx.picks is not None:  # the published list is kept, to be scored once its day has passed
            from pipelines.vintages import has_pick_vintage, store_pick_vintages

            with connect(ctx.home) as con:
                # a list that never went live does not replace the one shopkeepers were served that day
                if ctx.not_live is None or not has_pick_vintage(con, ctx.config.run_date):
                    store_pick_vintages(con, ctx.picks, ctx.record.run_id, ctx.pick_arms)
                else:
                    log.info("publish: the pick list served on %s is kept for scoring; this run's (not "
                             "live) does not replace it", ctx.config.run_date)
    try:  # housekeeping after the switch: a problem here must not fail a published run
        removed = prune_snapshots(ctx.home, ctx.config.keep_snapshots)
    except OSError as exc:
        log.warning("could not remove old snapshots: %s", exc)
        removed = []
    if removed:
        log.info("removed %d old snapshot(s): %s", len(removed), ", ".join(p.name for p in removed))
    try:  # the ledger's `snapshot` of those runs (and of any folder found gone) names no folder: say so
        with connect(ctx.home) as con:
            mark_snapshots_removed(con, removed)
            mark_missing_snapshots(con, ctx.home.snapshots)
    except Exception as exc:
        log.warning("could not mark the removed snapshot(s) in the ledger: %s", exc)
    return sum(ctx.writer.row_counts.values()), len(ctx.writer.row_counts)


def _sync_catalog(ctx: RunContext, root, quiet: bool = False) -> None:
    """With --lake-catalog DB: the lake's tables as DB.<table> in the Spark session's catalog, their
    partitions synced to the lake's folders (pipelines/lake.py `sync_catalog`)."""
    database = ctx.config.lake_catalog
    if not database:
        return
    try:
        partitions = lake.sync_catalog(ctx.spark(), root, database)
    except Exception as exc:
        from common.errors import CircleBuyError

        raise CircleBuyError(f"the lake's catalog tables in {database!r} could not be updated; nothing "
                             f"was published: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    if not quiet:
        shown = ", ".join(f"{database}.{t} ({n} day(s))" for t, n in partitions.items())
        log.info("lake: catalog tables %s synced to %s", shown, root)


def _stage_lake(ctx: RunContext, folder) -> lake.StagedDay:
    """The published tables' partitions for the run's date, staged beside the lake (`pipelines/lake.py`):
    written by Spark's executors on --engine spark, by polars on the driver otherwise."""
    root = ctx.config.lake or ctx.home.lake
    spark = ctx.spark() if ctx.config.on_spark else None
    try:
        day = lake.stage(root, ctx.record.run_id, ctx.config.run_date, folder, spark=spark)
    except Exception as exc:
        from common.errors import CircleBuyError

        detail = str(exc) if isinstance(exc, CircleBuyError) else f"{type(exc).__name__}: {exc}"
        raise CircleBuyError(f"the lake's partitions for {ctx.config.run_date} could not be written "
                             f"under {root}; nothing was published: {detail}") from exc
    log.info("lake: %s for %s staged under %s", ", ".join(f"{t} ({n:,} rows)" for t, n in day.rows.items()),
             ctx.config.run_date, root)
    return day


def check_publish(ctx: RunContext) -> str | None:
    """Once per run: may this snapshot replace the live one? A `publish` gate says so when it may not
    (or was published anyway with --allow-empty). Returns what is wrong, or None."""
    if not ctx.publish_checked:
        ctx.publish_checked = True
        problem = publish_refusal(ctx.home, ctx.writer.row_counts, ctx.config.min_row_share)
        ctx.publish_refusal = problem
        if problem is not None:
            allowed = ctx.config.allow_empty
            message = (f"publish: published although {problem}, because --allow-empty was given"
                       if allowed else f"publish: {refusal_message(problem)}")
            ctx.record.gates.append({"part": "publish", "passed": allowed, "message": message,
                                     "badge": "published empty" if allowed else "not published"})
            log.warning("%s", message)
        if problem is None or ctx.config.allow_empty:
            _check_live_date(ctx)
    return ctx.publish_refusal


def _check_live_date(ctx: RunContext) -> None:
    """A run whose date is older than the live snapshot's keeps its snapshot but leaves HOME/current
    alone (`ctx.not_live` says why), unless --make-live; a `publish` gate says which happened."""
    run_date = ctx.config.run_date
    live = newer_live(ctx.home, run_date)
    if live is None:
        return
    dates = {"run_date": str(run_date), "live_date": live.get("date"), "live_run_id": live.get("run_id")}
    if ctx.config.make_live:
        message = (f"publish: made live although {run_date} is older than the live snapshot's date "
                   f"{live.get('date')} (run {live.get('run_id')}), because --make-live was given")
        ctx.record.gates.append({"part": "publish", "passed": True, "message": message,
                                 "badge": "rolled back", "live": True, **dates})
    else:
        ctx.not_live = not_live_message(run_date, live)
        message = f"publish: {ctx.not_live}"
        ctx.record.gates.append({"part": "publish", "passed": True, "message": message,
                                 "badge": "kept, not live", "live": False, **dates})
    log.warning("%s", message)


def booking_curves(ctx: RunContext) -> pl.DataFrame:
    """The open campaigns' booking curves as of the run (aggregation.booking.live_booking_curves)."""
    from aggregation.booking import live_booking_curves

    campaign_ids = (ctx.demand.get_column("campaign_id") if ctx.demand is not None
                    and "campaign_id" in ctx.demand.columns else None)
    return live_booking_curves(ctx.frames["orders"], ctx.frames["groups"], ctx.frames.get("campaigns"),
                               campaign_ids, ctx.as_of)


def write_dimensions(ctx: RunContext) -> None:
    """The small tables the API serves from: groups (with the names people call them, read apart
    from the model frames), suppliers (their names), products, campaigns."""
    f = ctx.frames
    groups = f["groups"].select("group_id", "shopkeeper_id", "city", "warehouse_id")
    ctx.writer.write_frame("groups", groups.join(group_names(ctx.home), on="group_id", how="left"))
    ctx.writer.write_frame("suppliers", f["suppliers"].select("supplier_id", "name"))
    ctx.writer.write_frame("products", f["products"].select("product_id", "supplier_id", "name",
                                                            "category", "price"))
    campaigns = f["campaigns"].join(
        f["products"].select("product_id", "supplier_id"), on="product_id", how="left"
    ).select("campaign_id", "product_id", "supplier_id", "opens_at", "closes_at", "warehouse_id",
             "max_qty", "price")  # price: the group-buy price members pay, a pick's price
    ctx.writer.write_frame("campaigns", campaigns)


STAGES: list[tuple[str, StageFn]] = [
    ("ingest", stage_ingest),
    ("load", stage_load),
    ("train", stage_train),
    ("picks", stage_picks),
    ("forecast", stage_forecast),
    ("evaluate", stage_evaluate),
    ("report", stage_report),
    ("publish", stage_publish),
]
STAGE_NAMES = [name for name, _ in STAGES]
RENAMED_STAGES = {"signals": "load"}  # old name -> new (the stage read the warehouse, built no signal)


def dumps(obj: object) -> str:
    return json.dumps(obj, default=str, sort_keys=True)

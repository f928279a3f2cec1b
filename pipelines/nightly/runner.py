"""Running the nightly stages in order: timing, logging, ledger, failure handling, backfill."""

from __future__ import annotations

import logging
import os
import time
import uuid
from datetime import UTC, date, datetime, timedelta

from common.errors import CircleBuyError, StageFailedError
from common.home import Home
from pipelines.engine.session import LazySession
from pipelines.nightly.config import FAIL_STAGE_ENV, NightlyConfig
from pipelines.nightly.context import RunContext
from pipelines.nightly.ledger import RunRecord, mark_abandoned_runs, write_record
from pipelines.nightly.lock import run_lock
from pipelines.nightly.signals import Terminated, as_termination, raise_if_terminated, terminate_on_signals
from pipelines.nightly.snapshot import PublishRefusedError, SnapshotWriter
from pipelines.nightly.stages import RENAMED_STAGES, STAGE_NAMES, STAGES
from pipelines.warehouse import connect, create_tables, day_start

log = logging.getLogger("circlebuy.nightly")


def new_run_id(run_date: date) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{run_date:%Y%m%d}-{stamp}-{uuid.uuid4().hex[:6]}"


def _save(home: Home, record: RunRecord) -> None:
    with connect(home) as con:
        write_record(con, record)


def run_nightly(home: Home, config: NightlyConfig, session: LazySession | None = None) -> dict:
    """Run every stage for `config.run_date`; publish atomically or leave the live snapshot alone.

    On `--engine spark` the stages that need Spark share one session, started by the first of them
    and stopped when the run ends, failed or not; `session` (a backfill's) is used and left open.

    Returns the summary of DESIGN.md (`nightly --json`). A failed stage raises StageFailedError
    after the ledger says which stage failed and why. SIGTERM or SIGINT during the run raises
    `Terminated` (signals.py) after the ledger says the run failed, "terminated by SIGTERM during
    stage train", with the run's object as its `summary`.
    """
    with terminate_on_signals():
        return _run_nightly(home, config, session)


def _run_nightly(home: Home, config: NightlyConfig, session: LazySession | None) -> dict:
    fail_stage = config.fail_stage or os.environ.get(FAIL_STAGE_ENV) or None
    if fail_stage in RENAMED_STAGES:
        new_name = RENAMED_STAGES[fail_stage]
        log.warning("%s=%s: that stage is now called %r", FAIL_STAGE_ENV, fail_stage, new_name)
        fail_stage = new_name
    if fail_stage and fail_stage not in STAGE_NAMES:
        from common.errors import UsageError

        raise UsageError(f"{FAIL_STAGE_ENV}={fail_stage!r} is not a stage; stages: {STAGE_NAMES}")
    home.ensure()
    with run_lock(home.lock, what=f"nightly --date {config.run_date}"):
        with connect(home) as con:
            create_tables(con)
            abandoned = mark_abandoned_runs(con)
        for one in abandoned:
            log.warning("marked %s as killed in the ledger: it ended before it finished, and published "
                        "nothing after that stage", one)
        record = RunRecord(run_id=new_run_id(config.run_date), run_date=config.run_date)
        _save(home, record)
        try:
            return _run_stages(home, config, session, record, fail_stage)
        except BaseException as exc:
            stop = as_termination(exc)
            if stop is None or stop.summary is not None:  # not a signal, or recorded in its stage already
                raise
            if record.status == "succeeded":  # the signal came after the run had finished: it stands
                log.warning("%s after the run had finished; it succeeded", stop)
                _save_quietly(home, record)
                return summary(record)
            if record.status == "failed":  # it came while a stage's failure was being recorded: keep that
                _save_quietly(home, record)
                stop.summary = summary(record)
                raise stop from (None if stop is exc else exc)
            _terminated(home, record, stop, record.running_stage, None)
            raise stop from (None if stop is exc else exc)


def _run_stages(home: Home, config: NightlyConfig, session: LazySession | None, record: RunRecord,
                fail_stage: str | None) -> dict:
    """The stages of a run whose ledger row exists, in order (run_nightly holds the lock)."""
    writer = SnapshotWriter(home, record.run_id, config.run_date)
    own_session = session is None
    ctx = RunContext(home=home, config=config, record=record, writer=writer,
                     as_of=day_start(config.run_date),
                     session=LazySession(config.engine) if own_session else session)
    stages = STAGES
    progress = None
    if config.progress:
        from tqdm import tqdm

        progress = tqdm(total=len(stages), desc=f"nightly {config.run_date}", unit="stage")
    try:
        for name, fn in stages:
            if progress is not None:
                progress.set_postfix_str(name)
            record.running_stage = name  # a kill from here on is known to be in this stage
            try:
                _save(home, record)
            except Exception as save_exc:
                log.warning("could not note the start of stage %s in the ledger: %s", name, save_exc)
            started = time.perf_counter()
            try:
                if fail_stage == name:
                    raise StageFailedError(f"failure injected by {FAIL_STAGE_ENV}={name}")
                rows_in, rows_out = fn(ctx)
                raise_if_terminated()  # a signal whose exception the stage swallowed stops it here
            except BaseException as exc:
                stop = as_termination(exc)
                if stop is not None:  # SIGTERM / SIGINT: failed, saying so, quickly (no failure report)
                    record.stages.append({"name": name, "seconds": round(time.perf_counter() - started, 3),
                                          "rows_in": None, "rows_out": None, "status": "failed",
                                          **_warnings_of(ctx, name), **ctx.stage_extras.get(name, {})})
                    if ctx.snapshot_dir is None:  # a snapshot published (publish's deferred block) stays
                        writer.abandon()
                    _terminated(home, record, stop, name, ctx)
                    raise stop from (None if stop is exc else exc)
                record.running_stage = None
                record.status = "failed"
                record.failed_stage = name
                record.error = f"{type(exc).__name__}: {exc}"
                record.ended_at = datetime.now(UTC)
                record.stages.append({"name": name, "seconds": round(time.perf_counter() - started, 3),
                                      "rows_in": None, "rows_out": None, "status": "failed",
                                      **_warnings_of(ctx, name), **ctx.stage_extras.get(name, {})})
                if isinstance(exc, PublishRefusedError):  # kept, never live: its report says why
                    record.snapshot = exc.snapshot_dir
                    record.row_counts = dict(writer.row_counts)
                else:
                    writer.abandon()
                    if isinstance(exc, Exception):
                        record.report = _failure_report(ctx, name, exc)
                try:
                    _save(home, record)
                except Exception as save_exc:  # never hide the stage's own error
                    log.error("could not record the failure in the ledger: %s", save_exc)
                stays = _what_stays_live(home, record)
                log.error("stage %s failed: %s%s", name, exc, "" if stays in str(exc) else f"; {stays}")
                if not isinstance(exc, Exception):  # Ctrl-C, SystemExit: not a stage failure
                    raise
                if isinstance(exc, StageFailedError):
                    exc.summary = summary(record)
                    raise
                detail = str(exc) if isinstance(exc, CircleBuyError) else f"{type(exc).__name__}: {exc}"
                failure = StageFailedError(f"stage {name} failed: {detail}")
                failure.exit_code = getattr(exc, "exit_code", 1)  # bad input stays exit 2
                failure.summary = summary(record)
                raise failure from exc
            seconds = round(time.perf_counter() - started, 3)
            record.running_stage = None
            record.stages.append({"name": name, "seconds": seconds, "rows_in": int(rows_in),
                                  "rows_out": int(rows_out), **_warnings_of(ctx, name),
                                  **ctx.stage_extras.get(name, {})})
            log.info("stage %-8s %10s rows in -> %10s rows out in %6.2fs", name,
                     f"{rows_in:,}", f"{rows_out:,}", seconds)
            _log_quarantined(name, ctx.stage_extras.get(name, {}))
            for warning in ctx.stage_warnings.get(name, []):  # the level says WARNING already
                log.warning("%s: %s", name, warning.removeprefix("WARNING: "))
            if progress is not None:
                progress.update(1)
            if name == "publish":
                continue
            try:
                _save(home, record)
            except Exception as save_exc:
                log.warning("could not update the ledger after stage %s: %s", name, save_exc)
    finally:
        if progress is not None:
            progress.close()
        if own_session and ctx.session is not None:
            _stop(ctx.session)
    from pipelines.nightly.reporting import headline_metrics

    record.status = "succeeded"
    record.snapshot = ctx.snapshot_dir
    record.live = ctx.not_live is None
    record.not_live = ctx.not_live
    record.ended_at = datetime.now(UTC)
    record.row_counts = dict(writer.row_counts)
    record.metrics = headline_metrics(ctx)
    try:  # the new snapshot is already live: a ledger problem must not report a failed run
        _save(home, record)
    except Exception as save_exc:
        log.warning("snapshot %s is live but the ledger could not be updated: %s",
                    ctx.snapshot_dir, save_exc)
    return summary(record)


def _save_quietly(home: Home, record: RunRecord) -> None:
    try:
        _save(home, record)
    except Exception as save_exc:  # never hide why the run ended
        log.error("could not record the end of the run in the ledger: %s", save_exc)


def _terminated(home: Home, record: RunRecord, stop: Terminated, stage: str | None,
                ctx: RunContext | None) -> None:
    """Record a run stopped by a signal as failed, naming the signal and the stage it came in (or the
    last stage finished), log it, and give `stop` the run's object for `nightly --json`."""
    if stage is not None:
        where = f" during stage {stage}"
    elif record.stages:
        where = f" after stage {record.stages[-1]['name']}"
    else:
        where = " before its first stage"
    record.running_stage = None
    record.status = "failed"
    record.failed_stage = stage
    record.error = f"{stop}{where}"
    record.ended_at = datetime.now(UTC)
    if ctx is not None and ctx.snapshot_dir is not None:
        record.snapshot = ctx.snapshot_dir
    _save_quietly(home, record)
    log.error("run %s %s; %s", record.run_id, record.error, _what_stays_live(home, record))
    stop.summary = summary(record)


def _what_stays_live(home: Home, record: RunRecord) -> str:
    """After a failed run: the previous snapshot stays live, or none is live yet (a first run), or (a
    failure after the switch) this run's own snapshot is live."""
    from pipelines.nightly.snapshot import live_snapshot

    try:
        live = live_snapshot(home)
    except OSError:
        return "the previous snapshot, if any, stays live"
    if live is None:
        return "no snapshot is live yet"
    if live.name == record.run_id:
        return f"this run's snapshot {live.name} is live (the failure came after the switch)"
    return f"the previous snapshot {live.name} stays live"


def _warnings_of(ctx: RunContext, stage: str) -> dict:
    """{"warnings": [...]} for the ledger's entry of a stage that keeps warnings (ingest: always,
    possibly empty), {} for the others."""
    found = ctx.stage_warnings.get(stage)
    return {} if found is None else {"warnings": list(found)}


def _log_quarantined(stage: str, extras: dict) -> None:
    """One line when a stage quarantined rows: "N rows quarantined (table: n, ...; rules: ...)"."""
    counts = {t: n for t, n in (extras.get("quarantined") or {}).items() if n}
    if not counts:
        return
    rules = "; ".join(f"{t}: " + ", ".join(f"{r} {n:,}" for r, n in by_rule.items())
                      for t, by_rule in (extras.get("quarantine_rules") or {}).items() if by_rule)
    total = sum(counts.values())
    log.info("%s: %s %s quarantined (%s)%s; see the quarantine table", stage, f"{total:,}",
             "row" if total == 1 else "rows", ", ".join(f"{t}: {n:,}" for t, n in counts.items()),
             f"; by rule: {rules}" if rules else "")


STAGE_EXTRA_KEYS = ("warnings", "quarantined", "quarantine_rules", "not_yet_due")  # in --json when kept


def _stop(session: LazySession) -> None:
    """Stop the run's SparkSession; a problem stopping it never hides the run's own outcome."""
    try:
        session.close()
    except Exception as exc:
        log.warning("could not stop the Spark session: %s", exc)


def _failure_report(ctx: RunContext, stage: str, exc: Exception) -> str | None:
    """The failed run's report (reporting.write_failure_report), or None where even that fails: it
    must never hide the stage's own error."""
    from pipelines.nightly.reporting import write_failure_report

    said = str(exc) if isinstance(exc, CircleBuyError) else f"{type(exc).__name__}: {exc}"
    try:
        path = write_failure_report(ctx, STAGE_NAMES, stage, said, _what_stays_live(ctx.home, ctx.record))
    except Exception as report_exc:
        log.warning("could not write the failed run's report: %s", report_exc)
        return None
    log.error("the failed run's report: %s", path)
    return path


def summary(record: RunRecord) -> dict:
    """The JSON of `nightly --json` (DESIGN.md)."""
    return {
        "run_id": record.run_id,
        "date": record.run_date.isoformat(),
        "status": record.status,
        "snapshot": record.snapshot,
        "stages": [  # a stage that keeps warnings (ingest) adds its list: keys are only ever added
            {**{k: s.get(k) for k in ("name", "seconds", "rows_in", "rows_out")},
             **{k: s[k] for k in STAGE_EXTRA_KEYS if k in s}} for s in record.stages
        ],
        "gates": record.gates,
        "metrics": record.metrics,
        # HOME/current points at this run's snapshot; false for a failed run, a refused snapshot, and a
        # date older than the live snapshot's (kept, not live: `not_live_reason` names both dates)
        "live": record.live,
        **({"not_live_reason": record.not_live} if record.not_live else {}),
        **({"error": record.error} if record.error else {}),
        **({"report": record.report} if record.report else {}),  # a failed run's (HOME/failed/...)
    }


def run_backfill(home: Home, start: date, end: date, base: NightlyConfig) -> list[dict]:
    """Run each date from `start` to `end` in order; stop at the first failure (re-raised). SIGTERM or
    SIGINT stops it too: the day running is recorded failed (run_nightly) and `Terminated` is raised
    with `where` naming that day and the days done; no later day starts."""
    from dataclasses import replace

    if end < start:
        from common.errors import UsageError

        raise UsageError(f"--to {end} is before --from {start}")
    results = []
    day = start
    session = LazySession(base.engine)  # one SparkSession for every date (--engine spark)
    shared = {"session": session} if base.on_spark else {}
    with terminate_on_signals():
        try:
            while day <= end:
                try:
                    raise_if_terminated()  # a signal that came as the previous day finished
                    log.info("backfill: %s", day)
                    results.append(run_nightly(home, replace(base, run_date=day), **shared))
                except CircleBuyError as exc:
                    done = ", ".join(r["date"] for r in results) or "none"
                    failure = StageFailedError(f"backfill stopped at {day} (dates done: {done}): {exc}")
                    failure.exit_code = exc.exit_code
                    raise failure from exc
                except BaseException as exc:
                    stop = as_termination(exc)
                    if stop is None:
                        raise
                    done = ", ".join(r["date"] for r in results) or "none"
                    stop.where = f"backfill stopped at {day} (dates done: {done})"
                    log.error("%s: %s", stop.where, stop)
                    raise stop from (None if stop is exc else exc)
                day += timedelta(days=1)
        finally:
            _stop(session)
    return results

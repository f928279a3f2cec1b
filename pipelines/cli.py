"""The `circlebuy` command line (DESIGN.md, "CLI"). Thin: parse, call, print.

Exit codes: 0 success, 2 bad input or usage (message on stderr naming file / column / value),
1 unexpected failure. Implementations are imported lazily so `--help` stays fast.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from common.clock import parse_iso_day
from common.errors import CircleBuyError, UsageError
from common.home import DEFAULT_HOME, HOME_ENV, Home, output_file, resolve_home
from pipelines.engine.base import EngineOptions
from pipelines.nightly.signals import Terminated, as_termination, terminate_on_signals  # cheap: no run module

app = typer.Typer(
    name="circlebuy",
    help="Recommendation and group-buy demand service: generate, ingest, evaluate, run, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
import_app = typer.Typer(help="Convert public datasets into the raw contract.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
experiment_app = typer.Typer(help="A/B experiments: each enrolled group is served one arm's picks.",
                             no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(keys_app, name="keys")
app.add_typer(experiment_app, name="experiment")

HomeOpt = Annotated[
    str | None, typer.Option("--home", help="Home folder (else $CIRCLEBUY_HOME, else ./circlebuy-home)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout")]
PortOpt = Annotated[int, typer.Option(min=1, max=65535, help="TCP port, 1-65535")]
SettingsOpt = Annotated[Path | None, typer.Option(
    "--settings", help="A TOML file of model settings (the tree of pipelines/settings.py); the "
                       "command's own flags win over it")]
EngineOpt = Annotated[str, typer.Option(
    "--engine", help="Engine for the set-based stages: duckdb (embedded, default) or spark")]
SparkMasterOpt = Annotated[str | None, typer.Option(
    "--spark-master", help="Spark master URL (default local[2]); with --engine spark")]
ConfOpt = Annotated[list[str] | None, typer.Option(
    "--conf", help="A Spark setting key=value (repeatable), as spark-submit's --conf")]
LakeOpt = Annotated[Path | None, typer.Option(
    "--lake", help="Folder of the output lake: each published day's picks and demand as Parquet, "
                   "<lake>/<table>/day=YYYY-MM-DD/part-*.parquet (default: HOME/lake)")]
LakeCatalogOpt = Annotated[str | None, typer.Option(
    "--lake-catalog", help="With --engine spark: also register the lake's tables as DB.picks and "
                           "DB.demand in the Spark session's catalog (a Hive metastore where configured, "
                           "e.g. --conf spark.sql.catalogImplementation=hive), partitioned by day")]


def lake_catalog(value: str | None, engine: EngineOptions) -> str | None:
    """`--lake-catalog` checked: a plain database name, and only with --engine spark."""
    if value is None:
        return None
    from pipelines.lake import check_catalog_database

    if engine.name != "spark":
        raise UsageError("--lake-catalog: the catalog tables are Spark's; give --engine spark with it")
    return check_catalog_database(value)


def parse_day(value: str | None, option: str) -> date | None:
    """Parse YYYY-MM-DD or raise a UsageError naming the option and the value."""
    if value is None:
        return None
    try:
        return parse_iso_day(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def lake_path(value: Path | None) -> Path | None:
    """`--lake` as an absolute folder (None: the home's); a file there is a usage error."""
    if value is None:
        return None
    path = value.expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise UsageError(f"--lake: {value} is a file; expected a folder (created when missing)")
    return path


def echo_json(payload: object) -> None:
    typer.echo(json.dumps(payload, indent=2, default=str, ensure_ascii=False))


def show_progress() -> bool:
    """Progress bars on a terminal only; quiet in CI and when piped."""
    return sys.stderr.isatty() and not os.environ.get("CI")


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder for the raw tables")],
    groups: Annotated[int, typer.Option(min=1, help="Number of groups")] = 2000,
    days: Annotated[int | None, typer.Option(
        min=1, help="Days of history (default 60; derived when --start and --end are given)")] = None,
    end: Annotated[str | None, typer.Option(
        help="Last day, YYYY-MM-DD (default: yesterday, or --start + --days - 1)")] = None,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (with --end or --days)")] = None,
    seed: Annotated[int, typer.Option(help="Random seed")] = 7,
    dirty: Annotated[bool, typer.Option("--dirty", help="Plant known bad rows (listed in _truth/)")] = False,
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    no_calendar: Annotated[bool, typer.Option(
        "--no-calendar", help="A flat world: no annual events (CNY, 618, Double 11, ...)")] = False,
    products: Annotated[int | None, typer.Option(
        min=1, help="Catalogue size (default: derived from --groups, ~960 at 2,000 groups)")] = None,
) -> None:
    """Write a deterministic synthetic world (every contract table plus _truth/) into OUT."""
    from pipelines.generate import run_generate

    if fmt not in ("parquet", "csv"):
        raise UsageError(f"--format: expected 'parquet' or 'csv'; got {fmt!r}")
    summary = run_generate(
        out=out, groups=groups, days=days, end=parse_day(end, "--end"), start=parse_day(start, "--start"),
        seed=seed, dirty=dirty, fmt=fmt, progress=show_progress(), calendar=not no_calendar,
        products=products,
    )
    for table, rows in summary["tables"].items():
        typer.echo(f"{table:<12} {rows:>12,} rows", err=True)
    first, last = summary["first_day"], summary["last_day"]
    typer.echo(f"wrote {out} in {summary['seconds']:.1f}s: days {first} to {last}; its last day's nightly, as"
               f" `demo` runs it: circlebuy nightly --date {last} --raw {out} --home HOME", err=True)


@app.command()
def ingest(
    raw: Annotated[Path, typer.Argument(help="Folder with <table>.csv|.parquet or <table>/ parts")],
    home: HomeOpt = None,
    as_json: JsonOpt = False,
    now: Annotated[
        str | None,
        typer.Option(help="The run's date, YYYY-MM-DD: timestamps after its end are quarantined "
                     "(default: today)"),
    ] = None,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = None,
    conf: ConfOpt = None,
    strict: Annotated[bool, typer.Option(
        "--strict", help="Exit 3 when nothing usable went in (no table file read, or a required table "
                         "wholly quarantined); the report is printed all the same")] = False,
) -> None:
    """Validate RAW and load it into HOME/warehouse.duckdb, idempotently."""
    from pipelines.engine import engine_options
    from pipelines.ingest import IngestReport, run_ingest
    from pipelines.ingest.report import NOTHING_USABLE_EXIT
    from pipelines.nightly.lock import run_lock

    chosen = resolve_home(home)
    new_home = not chosen.root.exists()
    try:
        options = engine_options(engine, spark_master, conf or ())
        h = chosen.ensure()
        with run_lock(h.lock, what=f"ingest {raw}"):  # never beside a nightly on the same warehouse
            report = run_ingest(raw, h, run_date=parse_day(now, "--now"), progress=show_progress(),
                                engine=options)
    except Exception as exc:  # main() prints it on stderr and exits with its code
        if new_home:  # nothing loaded: leave no empty home behind either
            chosen.discard_if_empty()
        if as_json:  # scripts read "fatal" (the README's JSON shape), nothing loaded (rolled back)
            fatal = (str(exc) if isinstance(exc, CircleBuyError)
                     else machine_trouble(exc) or f"unexpected error: {type(exc).__name__}: {exc}")
            echo_json(IngestReport(fatal=fatal).to_json())
        raise
    if as_json:
        echo_json(report.to_json())
        for alert in report.alerts():  # stdout is for scripts: say it where a person looks too
            typer.echo(alert, err=True)
        for warning in report.warnings:
            typer.echo(f"warning: {warning}", err=True)
    else:
        typer.echo(report.render())
    why = report.nothing_usable() if strict else []
    if why:  # a cron job's `ingest --strict && nightly` does not run the nightly on stale data
        typer.echo("error: nothing usable went in: " + "; ".join(why), err=True)
        raise typer.Exit(NOTHING_USABLE_EXIT)


@import_app.command("online-retail")
def import_online_retail(
    file: Annotated[Path, typer.Argument(help="online_retail.parquet (UCI Online Retail)")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the raw tables")],
) -> None:
    """Convert UCI Online Retail into the raw contract (mapping documented in the README)."""
    from pipelines.importers.online_retail import run_import

    summary = run_import(file, out)
    for table, rows in summary["tables"].items():
        typer.echo(f"{table:<12} {rows:>12,} rows", err=True)


@app.command()
def evaluate(
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="YYYY-MM-DD, or several comma-separated; train before 00:00 of each")] = None,
    as_of_range: Annotated[str | None, typer.Option(
        "--as-of-range", help="FROM..TO: rolling origins from FROM to TO, one every --every")] = None,
    every: Annotated[str, typer.Option("--every", help="Step of --as-of-range, e.g. 7d")] = "7d",
    horizon_days: Annotated[int | None, typer.Option(
        "--horizon-days", min=1,
        help="Days scored after each date [default: 7, or the settings file's]")] = None,
    k: Annotated[int | None, typer.Option(
        "--k", min=1, help="List length scored [default: 10, or the settings file's]")] = None,
    home: HomeOpt = None,
    settings_file: SettingsOpt = None,
    as_json: JsonOpt = False,
    dump_rankings: Annotated[Path | None, typer.Option(
        "--dump-rankings", help="Write production's top-k lists to this file (Parquet; CSV if it ends "
        "in .csv)")] = None,
    dump_forecasts: Annotated[Path | None, typer.Option(
        "--dump-forecasts", help="Write production's forecast rows to this file (Parquet; CSV if it ends "
        "in .csv)")
    ] = None,
    vintages: Annotated[str | None, typer.Option(
        "--vintages", help="FROM..TO: score the pick lists published for these days. Each night says "
        "whether its list was served (JSON `served`, a column in the text): yes when its run's snapshot "
        "was made live, the one the API served shopkeepers; no when the run kept it but did not make it "
        "live (a backfill, or a nightly --date older than the live snapshot's, per the run ledger's "
        "publish gate), scored as what would have been served; ? when the ledger has no row for that "
        "run")] = None,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = None,
    conf: ConfOpt = None,
) -> None:
    """Offline evaluation of recommendations and forecasts against the horizon after --as-of
    (several dates: rolling origin, trained once per date, with the mean across dates); with
    --vintages, the published pick lists scored after the fact, per night, slot, reason and arm."""
    from pipelines.evaluate.run import EvaluateConfig, parse_dates, run_evaluate
    from pipelines.settings import load_settings

    options = _evaluation_engine(engine, spark_master, conf)
    if vintages is not None:
        if as_of or as_of_range:
            raise UsageError("--vintages scores published lists; give it without --as-of / --as-of-range")
        from pipelines.vintages import parse_range, render_vintages, run_vintages

        first, last = parse_range(vintages)
        result = run_vintages(_warehouse_home(home), first, last, today=_platform_today())
        # strict JSON: a figure that cannot be a number is null, never NaN (allow_nan=False fails loudly)
        typer.echo(json.dumps(result, ensure_ascii=False, allow_nan=False) if as_json
                   else render_vintages(result))
        return
    dates = parse_dates(as_of, as_of_range, every)
    for path, flag in ((dump_rankings, "--dump-rankings"), (dump_forecasts, "--dump-forecasts")):
        if path is not None:
            output_file(path, flag)
    settings = load_settings(settings_file, horizon_days=horizon_days, k=k)
    config = EvaluateConfig.from_settings(dates[0], settings)
    result = run_evaluate(
        resolve_home(home), config, dates=dates, dump_rankings=dump_rankings,
        dump_forecasts=dump_forecasts, progress=show_progress(), engine=options,
    )
    if as_json:
        echo_json(result)
    else:
        from pipelines.evaluate.report import render_evaluation

        typer.echo(render_evaluation(result))


def _evaluation_engine(engine: str, spark_master: str | None, conf: list[str] | None) -> EngineOptions:
    """`evaluate --engine spark`: the options are checked as for `nightly`, and Spark must be able
    to run here; the recommendation signal is then aggregated on Spark, and training and scoring
    run on the driver, as in the nightly's train stage."""
    from pipelines.engine import engine_options

    options = engine_options(engine, spark_master, conf or ())
    if options.name == "spark":
        from pipelines.engine.spark_engine import require_spark

        require_spark()
        typer.echo("evaluate --engine spark: the recommendation signal is aggregated on Spark; training, "
                   "forecasting and scoring run on the driver, as in the nightly; results are the same "
                   "as on duckdb", err=True)
    return options


HostOpt = Annotated[str, typer.Option(
    help="Address to listen on: 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)")]


@app.command()
def serve(
    home: HomeOpt = None,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the live snapshot over HTTP (uvicorn)."""
    from api.server import check_port_free
    from api.server import serve as run_server

    served = existing_home(home)
    check_port_free(host, port)
    url = f"http://{host}:{port}"
    typer.echo(f"serving {served.root} at {url} (pages: {url}/ ; OpenAPI: {url}/docs); Ctrl-C stops it",
               err=True)
    run_server(served, host=host, port=port, workers=workers)


def existing_home(home: str | None) -> Home:
    """The home a command that only reads or adds to one needs (serve, keys, experiments): a path that
    does not exist is a typo, said, not a new empty home created in its place (`ingest`, `nightly` and
    `demo` make homes; an experiment may be created in a home made ready for the first nightly)."""
    h = resolve_home(home)
    if not h.root.is_dir():
        raise UsageError(f"--home: {h.root} does not exist (from --home, ${HOME_ENV} or the default "
                         f"{DEFAULT_HOME}); a home is made by `circlebuy ingest`, `circlebuy nightly` or "
                         "`circlebuy demo` (check the path)")
    return h


def _warehouse_home(home: str | None) -> Home:
    """The home of a command that reads its warehouse (backfill, vintages): a path without one is
    refused, not made into a new empty home (where --vintages would exit 0 on "no lists")."""
    from pipelines.warehouse import require_warehouse

    return require_warehouse(resolve_home(home))


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="shopkeeper, supplier or admin")],
    subject: Annotated[str, typer.Option(help="shopkeeper_id / supplier_id / any name for admin")],
    home: HomeOpt = None,
) -> None:
    """Create an API key; it is printed once, on the last line. Only its hash is stored.
    A shopkeeper / supplier id that the live snapshot does not hold gets a warning (still created)."""
    from api.keys import create_key, unknown_subject

    h = existing_home(home)
    key = create_key(h, role=role, subject=subject)
    stored = subject.strip()  # what create_key keeps (and the API compares): said as stored
    warning = unknown_subject(h, role, stored)
    if warning:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"created {role} key for {stored}; store it now, it is not shown again", err=True)
    typer.echo(key)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id shown by `keys list`, or the whole key")],
    home: HomeOpt = None,
) -> None:
    """Revoke a key: later requests with it get 401. Given the whole key, only its id is ever printed."""
    from api.keys import key_id_of, revoke_key

    already = revoke_key(existing_home(home), key_id)
    shown = key_id_of(key_id)
    typer.echo(f"revoked {shown}" if already is None else f"{shown} was revoked already, at "
               f"{_platform_time(already)}; nothing changed", err=True)


KEY_COLUMNS = ("key_id", "role", "subject", "created_at", "revoked")


def _platform_time(text: str) -> str:
    """An ISO instant (keys.json keeps UTC) in the platform's zone (+08:00), as `experiment list`
    shows its times; a value that does not parse is shown as it is."""
    from datetime import datetime

    from common.clock import platform_time

    try:
        at = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return str(text)
    return platform_time(at) if at.tzinfo else str(text)


@keys_app.command("list")
def keys_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """List keys (id, role, subject, created in platform time, revoked), a header row first; never the
    secrets. --json: a list of objects with those fields."""
    from api.keys import list_keys

    h = existing_home(home)
    rows = [{**row, "created_at": _platform_time(row["created_at"])} for row in list_keys(h)]
    if as_json:
        echo_json([{c: row[c] for c in KEY_COLUMNS} for row in rows])
        return
    if not rows:
        typer.echo(f"no keys in {h.keys} yet; create one with `circlebuy keys create --role ROLE "
                   "--subject ID`", err=True)
        return
    typer.echo("\t".join(KEY_COLUMNS))
    for row in rows:
        typer.echo("\t".join(str(row[c]) for c in KEY_COLUMNS))


def _platform_today() -> date:
    from common.clock import platform_today

    return platform_today()


def _known_arms() -> set[str]:
    from recsys.experiments import PRODUCTION
    from recsys.tuning import GRIDS

    return {PRODUCTION, *GRIDS}


@experiment_app.command("create")
def experiment_create(
    name: Annotated[str, typer.Argument(help="A name of letters, digits, '_', '.', '-'")],
    arms: Annotated[str, typer.Option("--arms", help="Comma-separated: production and/or generator names; "
                                                     "the arms share the enrolled groups equally")],
    share: Annotated[float, typer.Option("--share", help="Share of groups enrolled")] = 1.0,
    start: Annotated[str | None, typer.Option(
        "--start", help="YYYY-MM-DD: the first nightly date it is served on (default: the night after the "
                        "latest live nightly; with none yet, the first nightly run). A nightly or backfill "
                        "for an earlier date never serves it")] = None,
    home: HomeOpt = None,
) -> None:
    """Start an A/B experiment: from its first night (--start, default the next nightly), each enrolled
    group is served its arm's picks."""
    from datetime import UTC, datetime

    from pipelines.vintages import create_experiment, dated_experiments, latest_live_night, uninformative_arms
    from pipelines.warehouse import connect

    first = parse_day(start, "--start")
    with connect(existing_home(home)) as con:
        made = create_experiment(con, name, arms.split(","), share, _known_arms(), datetime.now(UTC), first)
        others = [d for d in dated_experiments(con) if d.name != made.name and d.overlaps(made)]
        live = latest_live_night(con)
        blind = uninformative_arms(con, list(made.experiment.arms), made.start)
    e = made.experiment
    when = (f"from the nightly for {made.start}" if made.start else "from the first nightly run")
    typer.echo(f"created experiment {e.name}: arms {', '.join(e.arms)} (control {e.control}), "
               f"share {e.share:g} of groups, served {when}", err=True)
    if made.start and live and made.start <= live:
        typer.echo(f"note: the nights {made.start}..{live} have run already; they serve {e.name} only if run "
                   "again (backfill)", err=True)
    for sentence in blind:
        typer.echo(f"warning: {sentence}", err=True)
    if others:
        shown = ", ".join(f"{d.name} (share {d.experiment.share:g})" for d in others)
        running = "already running" if any(not d.stopped for d in others) else "serving some of its nights"
        full = any(d.experiment.share >= 1 for d in others)
        none = " (none: a share of 1 takes every group)" if full else ""
        typer.echo(f"warning: {shown} {running}: a group drawn by two experiments whose nights overlap stays "
                   f"in the one created first, so {e.name} gets only the groups the earlier ones left{none}; "
                   "they do not join it when those stop (they go back to production); "
                   "`circlebuy experiment stop NAME` ends one", err=True)


@experiment_app.command("list")
def experiment_list(home: HomeOpt = None, as_json: JsonOpt = False) -> None:
    """Experiments, running and stopped, a header row first: name, arms, share, created (platform time),
    nights (first..last nightly date served), state."""
    from pipelines.vintages import list_experiments
    from pipelines.warehouse import connect

    h = existing_home(home)
    rows: list[dict] = []
    if h.warehouse.exists():  # a home without a warehouse has no experiments: it is not made one here
        with connect(h) as con:
            rows = list_experiments(con)
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo(f"no experiments in {h.root} yet; `circlebuy experiment create NAME --arms A,B` "
                   "starts one", err=True)
        return
    typer.echo("\t".join(("name", "arms", "share", "created_at", "nights", "state")))
    for r in rows:
        state = "running" if r["running"] else f"stopped {r['stopped_at']}"
        typer.echo(f"{r['name']}\t{','.join(r['arms'])}\t{r['share']:g}\t{r['created_at']}\t{r['nights']}"
                   f"\t{state}")


@experiment_app.command("stop")
def experiment_stop(
    name: Annotated[str, typer.Argument()],
    last: Annotated[str | None, typer.Option(
        "--last", help="YYYY-MM-DD: the last nightly date it is served on (default: the latest live "
                       "nightly)")] = None,
    home: HomeOpt = None,
) -> None:
    """Stop an experiment after its last night: from the night after, its groups are served production
    again (they join no other experiment); a re-run of one of its nights still serves it."""
    from datetime import UTC, datetime, timedelta

    from pipelines.vintages import stop_experiment
    from pipelines.warehouse import connect

    h = existing_home(home)
    if not h.warehouse.exists():
        raise UsageError(f"no experiment {name!r}: {h.root} has no warehouse yet, so no experiments")
    until = parse_day(last, "--last")
    with connect(h) as con:
        done = stop_experiment(con, name, datetime.now(UTC), until)
    if done["served_nothing"]:
        typer.echo(f"stopped experiment {name}: it served no night, so no group changes", err=True)
        return
    after = done["last"] + timedelta(days=1)
    groups = (f"its {done['groups']} groups (enrolled on {done['groups_on']})" if done["groups"] is not None
              else "its groups")
    typer.echo(f"stopped experiment {name} after its last night {done['last']} (first {done['start']}): "
               f"{groups} return to production from the nightly for {after}; they join no other experiment",
               err=True)


def _log_to_stderr() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@app.command()
def nightly(
    date_: Annotated[str, typer.Option("--date", help="The day to prepare, YYYY-MM-DD")],
    home: HomeOpt = None,
    raw: Annotated[Path | None, typer.Option("--raw", help="Raw files to ingest first")] = None,
    as_json: JsonOpt = False,
    keep: Annotated[int, typer.Option("--keep", min=1, help="Snapshots to keep")] = 5,
    seed: Annotated[int | None, typer.Option(
        help="Random seed of the models [default: 7, or the settings file's]")] = None,
    settings_file: SettingsOpt = None,
    skip_evaluate: Annotated[bool, typer.Option("--skip-evaluate",
                                                help="Do not score the last horizon")] = False,
    evaluate_every: Annotated[int, typer.Option(
        "--evaluate-every", min=1,
        help="Forecast evaluation at most every N days; runs in between reuse the latest")] = 7,
    retrain_every: Annotated[int, typer.Option(
        "--retrain-every", min=1,
        help="Full recommendation training at most every N days; nights in between refit the "
             "generators on today's data and reuse the latest ranker")] = 7,
    full_evaluation: Annotated[bool, typer.Option(
        "--full-evaluation",
        help="Retrain recommendations as of D - horizon to score them (slow; by default they are "
             "scored on the training run's validation window)")] = False,
    retune_every: Annotated[int, typer.Option(
        "--retune-every", min=1,
        help="Grid search of the generators at most every N days; runs in between reuse it")] = 7,
    allow_empty: Annotated[bool, typer.Option(
        "--allow-empty",
        help="Publish even when picks, demand, groups or products would drop to 0 rows (or under "
             "--min-row-share) of the live snapshot; without it such a run exits 2 and the live "
             "snapshot stays")] = False,
    min_row_share: Annotated[float, typer.Option(
        "--min-row-share", min=0.0, max=1.0,
        help="Also refuse when one of those tables falls under this share of the live snapshot's "
             "rows (0: only a drop to zero)")] = 0.0,
    make_live: Annotated[bool, typer.Option(
        "--make-live",
        help="Make the snapshot live even when --date is older than the live snapshot's date (a "
             "rollback); without it such a run keeps its snapshot under snapshots/ and the live one "
             "stays")] = False,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = None,
    conf: ConfOpt = None,
    lake: LakeOpt = None,
    catalog: LakeCatalogOpt = None,
) -> None:
    """Ingest -> load -> train -> picks -> forecast -> evaluate -> report -> publish."""
    from pipelines.engine import engine_options
    from pipelines.nightly import NightlyConfig, run_nightly
    from pipelines.settings import load_settings

    _log_to_stderr()
    run_date: date | None = None
    try:  # whatever stops it, --json prints the run object (a refused argument too: the run never started)
        options = engine_options(engine, spark_master, conf or ())
        run_date = parse_day(date_, "--date")
        if raw is not None and not raw.exists():
            raise UsageError(f"--raw: folder {raw} does not exist")
        config = NightlyConfig(run_date=run_date, raw=raw, keep_snapshots=keep,
                               settings=load_settings(settings_file, seed=seed), evaluate=not skip_evaluate,
                               evaluate_every_days=evaluate_every,
                               full_evaluation=full_evaluation, retune_every_days=retune_every,
                               retrain_every_days=retrain_every, allow_empty=allow_empty,
                               min_row_share=min_row_share, make_live=make_live, progress=show_progress(),
                               engine=options,
                               lake=lake_path(lake), lake_catalog=lake_catalog(catalog, options))
        target = resolve_home(home)
        if raw is None and not target.warehouse.exists():  # nothing to load: say so before creating HOME
            raise UsageError(f"{target.warehouse}: no warehouse yet; give --raw RAW, or run "
                             f"`circlebuy ingest RAW --home {target.root}` first")
        result = run_nightly(target, config)
    except (Exception, KeyboardInterrupt, Terminated) as exc:
        stop = as_termination(exc)  # SIGTERM, SIGINT (Ctrl-C): the run's object says so, exit 128 + signal
        if as_json:  # scripts read status "failed" (the failed stage's entry where a stage ran) on stdout
            error = (str(stop) if stop is not None else str(exc) if isinstance(exc, CircleBuyError)
                     else machine_trouble(exc) or f"{type(exc).__name__}: {exc}")
            echo_json(getattr(stop or exc, "summary", None) or {
                "run_id": None, "date": run_date.isoformat() if run_date else date_, "status": "failed",
                "snapshot": None, "stages": [], "error": error})
        if stop is not None and stop is not exc:
            raise stop from exc  # main() exits 128 + the signal's number
        raise
    if as_json:
        echo_json(result)
    elif result.get("live", True):
        typer.echo(f"run {result['run_id']} {result['status']}; live snapshot: {result['snapshot']}")
    else:
        typer.echo(f"run {result['run_id']} {result['status']}; snapshot {result['snapshot']} "
                   f"{result.get('not_live_reason') or 'kept, not made live'}")


@app.command()
def backfill(
    from_: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD")],
    to: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD")],
    home: HomeOpt = None,
    keep: Annotated[int, typer.Option("--keep", min=1, help="Snapshots to keep")] = 5,
    settings_file: SettingsOpt = None,
    skip_evaluate: Annotated[bool, typer.Option(
        "--skip-evaluate", help="Do not score the last horizon on any day (faster)")] = False,
    allow_empty: Annotated[bool, typer.Option(
        "--allow-empty", help="Publish days whose picks / demand are empty (see nightly)")] = False,
    make_live: Annotated[bool, typer.Option(
        "--make-live",
        help="Let days older than the live snapshot's date become live in turn (a rollback); without "
             "it their snapshots are kept and the live one stays")] = False,
    engine: EngineOpt = "duckdb",
    spark_master: SparkMasterOpt = None,
    conf: ConfOpt = None,
    lake: LakeOpt = None,
    catalog: LakeCatalogOpt = None,
) -> None:
    """Run the nightly for each date in order; stop at the first failure (one Spark session for
    every date on --engine spark)."""
    from pipelines.engine import engine_options
    from pipelines.nightly import NightlyConfig, run_backfill
    from pipelines.settings import load_settings

    options = engine_options(engine, spark_master, conf or ())
    _log_to_stderr()
    start, end = parse_day(from_, "--from"), parse_day(to, "--to")
    base = NightlyConfig(run_date=start, keep_snapshots=keep, settings=load_settings(settings_file),
                         evaluate=not skip_evaluate,
                         allow_empty=allow_empty, make_live=make_live, progress=show_progress(),
                         engine=options, lake=lake_path(lake), lake_catalog=lake_catalog(catalog, options))
    results = run_backfill(_warehouse_home(home), start, end, base)
    for result in results:
        live = "" if result.get("live", True) else "; kept, not live (older than the live snapshot)"
        typer.echo(f"{result['date']}: {result['status']} ({result['run_id']}){live}")
    kept = [r for r in results if not r.get("live", True)]
    if kept:
        live = next((g.get("live_date") for g in kept[-1].get("gates") or [] if g.get("part") == "publish"
                     and g.get("live_date")), None)
        newer = f" ({live})" if live else ""
        typer.echo(f"note: {len(kept)} day(s) kept under snapshots/ but not made live, being older than "
                   f"the live snapshot's date{newer}, which stays live: "
                   f"{', '.join(r['date'] for r in kept)}; pass --make-live to serve them on purpose "
                   "(a rollback)", err=True)


@app.command()
def demo(
    home: HomeOpt = None,
    raw: Annotated[Path | None, typer.Option("--raw", help="Where to write the world "
                                             "(default: HOME/raw)")] = None,
    port: PortOpt = 8000,
    host: HostOpt = "127.0.0.1",
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Stop after the nightly")] = False,
) -> None:
    """Generate a small world, run the nightly for its last day, then serve it (URL and keys)."""
    from pipelines.demo import run_demo

    _log_to_stderr()
    h = resolve_home(home).ensure()
    run_demo(h, raw or (h.root / "raw"), port=port, host=host, serve=not no_serve,
             progress=show_progress())


def limit_native_threads() -> None:
    """One OpenMP / BLAS thread per library unless the caller chose otherwise.

    On a small shared machine, scikit-learn's OpenMP and implicit's BLAS spin-waiting against
    DuckDB's and polars' own pools made gradient boosting ~15x slower (48 s vs 3 s measured on
    the nightly's forecast stage). Must run before those libraries are imported.
    """
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def machine_trouble(exc: Exception) -> str | None:
    """The words for a failure of the machine rather than of the data or the code (a full disk, a
    read-only file system), whichever library raised it; None otherwise."""
    text = str(exc)
    if "No space left on device" in text or getattr(exc, "errno", None) == errno.ENOSPC:
        return (f"the disk is full ({type(exc).__name__}: {text}); free some space on the disk that holds "
                "--home and run again: what was being written was rolled back")
    if "Read-only file system" in text or getattr(exc, "errno", None) == errno.EROFS:
        return (f"the file system is read-only ({type(exc).__name__}: {text}); --home must be on a "
                "writable disk")
    return None


def _nightly_json(argv: list[str]) -> bool:
    return bool(argv) and argv[0] == "nightly" and "--json" in argv


def _show_usage_error(exc: typer.TyperException) -> None:
    """Click's usage error on stderr as standalone Typer shows it: in its box where rich is there."""
    from typer import core

    if core.HAS_RICH and getattr(exc, "ctx", None) is not None:
        from typer import rich_utils

        rich_utils.rich_format_error(exc)
    elif (show := getattr(exc, "show", None)) is not None:
        show()
    else:
        typer.echo(f"Error: {exc.format_message()}", err=True)


def _nightly_json_usage_guarded() -> None:
    """`nightly --json` whose arguments Click itself refuses (`--keep abc`, no `--date`): the usage
    error on stderr as always, and the run object a script reads on stdout, status "failed"."""
    try:
        done = app(standalone_mode=False)  # returns, where standalone mode exits: exit as it would
    except typer.TyperException as exc:  # Typer's own Click: its usage errors derive from this
        _show_usage_error(exc)
        argv = sys.argv[1:]
        given = next((a.split("=", 1)[1] for a in argv if a.startswith("--date=")), None)
        if given is None and "--date" in argv and argv.index("--date") + 1 < len(argv):
            given = argv[argv.index("--date") + 1]
        echo_json({"run_id": None, "date": given, "status": "failed", "snapshot": None, "stages": [],
                   "error": exc.format_message()})
        sys.exit(exc.exit_code)
    except typer.Abort:
        raise KeyboardInterrupt from None
    sys.exit(done if isinstance(done, int) else 0)


def main() -> None:
    """Entry point: map named errors to exit codes, never show a traceback for bad input.

    `nightly` and `backfill` run with SIGTERM and SIGINT turned into `Terminated` (from the start, so
    that a signal while the run's modules load is caught too): the run is recorded failed, naming the
    signal, `nightly --json` prints its object, and the exit status is 128 + the signal (143, 130)."""
    limit_native_threads()
    argv = sys.argv[1:]
    runs = argv[:1] in (["nightly"], ["backfill"])
    with terminate_on_signals() if runs else contextlib.nullcontext():
        _main()


def _main() -> None:
    try:
        if _nightly_json(sys.argv[1:]):
            _nightly_json_usage_guarded()
        else:
            app()
    except Terminated as exc:  # "terminated by SIGTERM during stage train", as the ledger says
        said = (exc.summary or {}).get("error") or str(exc)
        typer.echo(f"error: {exc.where}: {said}" if exc.where else f"error: {said}", err=True)
        sys.exit(exc.exit_code)
    except CircleBuyError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # an unexpected failure: exit 1, traceback only on request
        if os.environ.get("CIRCLEBUY_DEBUG"):
            raise
        if (said := machine_trouble(exc)) is not None:
            typer.echo(f"error: {said}", err=True)
            sys.exit(1)
        typer.echo(f"unexpected error: {type(exc).__name__}: {exc} "
                   "(set CIRCLEBUY_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

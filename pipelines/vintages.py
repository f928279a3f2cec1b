"""The closed loop's storage: every published pick list (`pick_vintages`) and the A/B experiments
(`experiments`) in the home's warehouse; `evaluate --vintages FROM..TO` scores the lists whose day has
passed (recsys.vintages) and gives each running or stopped experiment its verdict.

An experiment is served on the nightly dates from its first night (`start_on`) to its last (`last_on`,
null while it runs): a nightly for date D serves it iff start <= D <= last, whenever that nightly runs
(a backfill a year back never sees an experiment created today; a re-run of a night inside the window
keeps it). Two experiments whose windows overlap share no group: a group drawn by both is held by the
one created first, and when that one stops the group goes back to production, never to the other
(whose arms would otherwise mix groups with nights of another treatment). `plan_night` says which
groups each experiment holds on a night.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import polars as pl

from common.clock import TZ, parse_iso_day, platform_time
from common.errors import UsageError
from common.home import Home
from pipelines.warehouse import connect, load_frames, replace_rows
from recsys.experiments import PRODUCTION, Experiment
from recsys.vintages import PICK_HORIZON_DAYS, arm_verdicts, outcomes, per_list, relevant_counts, summary

VINTAGE_SCHEMA = {"for_date": pl.Date, "group_id": pl.String, "rank": pl.Int64, "product_id": pl.String,
                  "slot": pl.String, "reason_code": pl.String, "arm": pl.String, "experiment": pl.String,
                  "run_id": pl.String}
log = logging.getLogger("circlebuy.vintages")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS pick_vintages (for_date DATE, group_id VARCHAR, rank BIGINT, "
                "product_id VARCHAR, slot VARCHAR, reason_code VARCHAR, arm VARCHAR, experiment VARCHAR, "
                "run_id VARCHAR, stored_at TIMESTAMPTZ)")
    con.execute("CREATE TABLE IF NOT EXISTS experiments (name VARCHAR, arms VARCHAR, share DOUBLE, "
                "created_at TIMESTAMPTZ, stopped_at TIMESTAMPTZ, start_on DATE, last_on DATE)")
    have = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = "
                                      "'experiments' AND table_schema = current_schema()").fetchall()}
    if "start_on" not in have:  # a warehouse from before experiments had dates: date them once
        con.execute("ALTER TABLE experiments ADD COLUMN start_on DATE")
        con.execute("ALTER TABLE experiments ADD COLUMN last_on DATE")
        _date_undated(con)


def _date_undated(con: duckdb.DuckDBPyConnection) -> None:
    """Experiments created before they had dates get them from what happened: the first night is the
    earliest kept list naming the experiment, else the night after the latest live nightly before it
    was created (none: from the first nightly run, as a new one); a stopped one's last night is the
    later of the latest live nightly before it was stopped and the latest kept list naming it (none:
    it served no night)."""
    rows = con.execute("SELECT name, created_at, stopped_at FROM experiments").fetchall()
    for name, created_at, stopped_at in rows:
        first_kept, last_kept = con.execute("SELECT min(for_date), max(for_date) FROM pick_vintages "
                                            "WHERE experiment = ?", [name]).fetchone()
        live = latest_live_night(con, before=created_at)
        start = first_kept or (live + timedelta(days=1) if live else None)
        last = None
        if stopped_at is not None:
            known = [d for d in (latest_live_night(con, before=stopped_at), last_kept) if d is not None]
            last = max(known) if known and start is not None else None
        con.execute("UPDATE experiments SET start_on = ?, last_on = ? WHERE name = ?", [start, last, name])
        log.info("experiment %s (from before experiments had dates) dated: first night %s, last night %s",
                 name, start or "the first nightly run", last or ("none" if stopped_at else "open"))


def _went_live(gates: str | None) -> bool:
    """Whether a run's ledger gates say its snapshot was made live (no `publish` gate that kept it
    back: not live, or not published)."""
    try:
        parsed = json.loads(gates or "[]")
    except ValueError:
        parsed = []
    return not any(isinstance(g, dict) and g.get("part") == "publish"
                   and (g.get("live") is False or g.get("passed") is False) for g in parsed)


def _has_ledger(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs' "
                            "AND table_schema = current_schema()").fetchone()[0])


def latest_live_night(con: duckdb.DuckDBPyConnection, before: datetime | None = None) -> date | None:
    """The date of the newest nightly in the ledger whose snapshot went live (the night shopkeepers were
    last served), among runs started before `before` when given; None when there is none."""
    if not _has_ledger(con):
        return None
    sql = "SELECT run_date, gates FROM runs WHERE status = 'succeeded'"
    rows = con.execute(sql + (" AND started_at < ?" if before else ""), [before] if before else []).fetchall()
    nights = [d for d, gates in rows if d is not None and _went_live(gates)]
    return max(nights) if nights else None


def store_pick_vintages(con: duckdb.DuckDBPyConnection, picks: pl.DataFrame, run_id: str,
                        arms: pl.DataFrame | None = None) -> int:
    """Keep a published pick list: its day's rows replace an earlier run's for the same day (a re-run
    publishes again), never duplicate. arms: (group_id, arm, experiment) of the enrolled groups."""
    if picks.height == 0:  # nothing was published for anyone (an empty run allowed by --allow-empty)
        return 0
    missing = [c for c in ("for_date", "group_id", "rank", "product_id", "slot") if c not in picks.columns]
    if missing:  # not a pick list of the contract (a stand-in stage): nothing to score later
        log.warning("pick list of run %s not kept for scoring: no column(s) %s", run_id, ", ".join(missing))
        return 0
    ensure_tables(con)
    rows = picks.select("for_date", "group_id", "rank", "product_id", "slot",
                        (pl.col("reason_code") if "reason_code" in picks.columns
                         else pl.lit(None, pl.String)).alias("reason_code"))
    if arms is not None and arms.height:
        rows = rows.join(arms.select("group_id", "arm", "experiment"), on="group_id", how="left")
    else:
        rows = rows.with_columns(pl.lit(None, pl.String).alias(c) for c in ("arm", "experiment"))
    rows = rows.with_columns(pl.lit(run_id).alias("run_id")).cast(VINTAGE_SCHEMA)
    return replace_rows(con, "pick_vintages", rows, "for_date", VINTAGE_SCHEMA, {"stored_at": "now()"})


def has_pick_vintage(con: duckdb.DuckDBPyConnection, day: date) -> bool:
    """Whether a pick list for `day` is kept already."""
    ensure_tables(con)
    return con.execute("SELECT count(*) FROM pick_vintages WHERE for_date = ?", [day]).fetchone()[0] > 0


def load_vintages(con: duckdb.DuckDBPyConnection, first: date, last: date) -> pl.DataFrame:
    ensure_tables(con)
    cols = ", ".join(VINTAGE_SCHEMA)
    frame = con.execute(f"SELECT {cols} FROM pick_vintages WHERE for_date BETWEEN ? AND ? "
                        "ORDER BY for_date, group_id, rank", [first, last]).pl()
    return frame.cast(VINTAGE_SCHEMA) if frame.height else pl.DataFrame(schema=VINTAGE_SCHEMA)


# -- experiments ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatedExperiment:
    """An experiment and the nightly dates it is served on: `start` (None: from the first nightly run,
    none has run yet) to `last` (None while it runs; a stopped experiment without one served no night)."""

    experiment: Experiment
    created_at: datetime
    start: date | None = None
    last: date | None = None
    stopped: bool = False

    @property
    def name(self) -> str:
        return self.experiment.name

    @property
    def served_nothing(self) -> bool:
        """Its window holds no night: stopped before it started (or before any nightly ran)."""
        if self.stopped and (self.start is None or self.last is None):
            return True
        return self.start is not None and self.last is not None and self.last < self.start

    def serves(self, day: date) -> bool:
        """Whether a nightly for `day` serves it (start <= day <= last)."""
        if self.served_nothing or self.start is None:
            return False
        return self.start <= day and (self.last is None or day <= self.last)

    def overlaps(self, other: DatedExperiment) -> bool:
        """Whether the two share a night (an unknown start, from the first nightly, is open)."""
        if self.served_nothing or other.served_nothing:
            return False
        lo = max(self.start or date.min, other.start or date.min)
        hi = min(self.last or date.max, other.last or date.max)
        return lo <= hi

    def window(self) -> str:
        """Its nights in words: '2025-06-07..2025-06-09', '2025-06-07.. (running)', 'no night'."""
        if self.served_nothing:
            return "no night"
        first = self.start.isoformat() if self.start else "the first nightly"
        return f"{first}..{self.last.isoformat()}" if self.last else f"{first}.. (running)"


@dataclass(frozen=True)
class NightPlan:
    """What a night's enrolment needs: the experiments in order of creation (those served on the night
    and every one whose groups they must leave), `held_by` (name -> the earlier experiments whose
    windows overlap its window: a group drawn by one of them is not this one's) and `tonight` (the names
    served on the night)."""

    experiments: list[Experiment]
    held_by: dict[str, list[str]]
    tonight: list[str]


def plan_night(dated: list[DatedExperiment], day: date) -> NightPlan:
    """The experiments a nightly for `day` serves and the ones their enrolment depends on (pure)."""
    order = sorted((d for d in dated if not d.served_nothing), key=lambda d: (d.created_at, d.name))
    held_by = {d.name: [f.name for f in order[:i] if f.overlaps(d)] for i, d in enumerate(order)}
    tonight = [d.name for d in order if d.serves(day)]
    needed, todo = set(), list(tonight)
    while todo:  # tonight's experiments and, transitively, whose groups they leave
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(held_by[name])
    kept = [d for d in order if d.name in needed]
    return NightPlan([d.experiment for d in kept], {d.name: held_by[d.name] for d in kept}, tonight)


def create_experiment(con: duckdb.DuckDBPyConnection, name: str, arms: list[str], share: float,
                      known_arms: set[str], now: datetime, start: date | None = None) -> DatedExperiment:
    """A new experiment, served from the nightly date `start` (default: the night after the latest live
    nightly in the ledger; with none yet, from the first nightly run); a clear error for a bad or
    duplicate name, unknown, weighted or repeated arms, or a share outside (0, 1]."""
    ensure_tables(con)
    if not NAME.match(name):
        raise UsageError(f"experiment name {name!r}: expected 1-64 letters, digits, '_', '.' or '-'")
    arms = [a.strip() for a in arms if a.strip()]
    weighted = [a for a in arms if ":" in a]
    if weighted:
        raise UsageError(f"--arms: weights ({', '.join(weighted)}) are not supported: the arms share the "
                         "enrolled groups equally (--share says how many groups are enrolled); give names "
                         "only, e.g. production,popularity")
    if len(arms) < 2 or len(set(arms)) != len(arms):
        raise UsageError(f"--arms: expected two or more different arms, e.g. production,reorder; got {arms}")
    unknown = [a for a in arms if a not in known_arms]
    if unknown:
        known = ", ".join(sorted(known_arms))
        raise UsageError(f"--arms: unknown arm(s) {', '.join(unknown)}; known: {known}")
    if not 0.0 < share <= 1.0:
        raise UsageError(f"--share: expected a share of groups in (0, 1]; got {share}")
    if con.execute("SELECT count(*) FROM experiments WHERE name = ?", [name]).fetchone()[0]:
        raise UsageError(f"experiment {name!r} already exists; `circlebuy experiment list` shows them")
    if start is None:
        live = latest_live_night(con)
        start = live + timedelta(days=1) if live else None
    con.execute("INSERT INTO experiments VALUES (?, ?, ?, ?, NULL, ?, NULL)",
                [name, ",".join(arms), share, now, start])
    return DatedExperiment(Experiment(name, tuple(arms), share), now, start)


def dated_experiments(con: duckdb.DuckDBPyConnection) -> list[DatedExperiment]:
    """Every experiment, running and stopped, in order of creation."""
    ensure_tables(con)
    rows = con.execute("SELECT name, arms, share, created_at, stopped_at, start_on, last_on FROM experiments "
                       "ORDER BY created_at, name").fetchall()
    return [DatedExperiment(Experiment(n, tuple(a.split(",")), s), c, start, last, x is not None)
            for n, a, s, c, x, start, last in rows]


def list_experiments(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """Each experiment as a dict: name, arms, share, created_at / stopped_at (platform time), start /
    last (its first and last nightly dates; null: from the first nightly, or open), running."""
    ensure_tables(con)
    times = dict(con.execute("SELECT name, stopped_at FROM experiments").fetchall())
    return [{"name": d.name, "arms": list(d.experiment.arms), "share": d.experiment.share,
             "created_at": platform_time(d.created_at), "stopped_at": platform_time(times.get(d.name)),
             "start": _iso(d.start), "last": _iso(d.last), "nights": d.window(), "running": not d.stopped}
            for d in dated_experiments(con)]


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def stop_experiment(con: duckdb.DuckDBPyConnection, name: str, now: datetime,
                    last: date | None = None) -> dict:
    """Stop an experiment after its last night: `last` (default: the latest live nightly in the ledger).
    Its groups go back to production from the night after; none joins another experiment. Returns
    {name, start, last, served_nothing, groups (enrolled on its last kept night, or None), groups_on}."""
    ensure_tables(con)
    row = con.execute("SELECT stopped_at, start_on FROM experiments WHERE name = ?", [name]).fetchone()
    if row is None:
        raise UsageError(f"no experiment {name!r}; `circlebuy experiment list` shows them")
    if row[0] is not None:
        raise UsageError(f"experiment {name!r} was already stopped at {platform_time(row[0])}")
    start = row[1]
    if last is not None and start is None:
        raise UsageError(f"--last: experiment {name!r} has served no night yet (it starts with the first "
                         "nightly run); stop it without --last")
    if last is not None and last < start:
        raise UsageError(f"--last: {last} is before the first night of experiment {name!r}, {start}; stop "
                         "it without --last to end it before it serves")
    if last is not None:
        # nights it already served (live, not a backfill's) are history: ending it before them would
        # hand its groups, treated on those nights, to another experiment
        kept = dict(con.execute("SELECT DISTINCT run_id, for_date FROM pick_vintages WHERE experiment = ?",
                                [name]).fetchall())
        live = served_runs(con, list(kept))
        served = max((night for run_id, night in kept.items() if live.get(run_id)), default=None)
        if served is not None and last < served:
            raise UsageError(f"--last: {last} is before {served}, a night experiment {name!r} already "
                             f"served; its last night is {served} or later")
    if last is None and start is not None:
        last = latest_live_night(con)
    con.execute("UPDATE experiments SET stopped_at = ?, last_on = ? WHERE name = ?", [now, last, name])
    served_nothing = start is None or last is None or last < start
    groups, on = None, None
    if not served_nothing:
        on, groups = con.execute(
            "SELECT for_date, count(DISTINCT group_id) FROM pick_vintages WHERE experiment = ? "
            "AND for_date = (SELECT max(for_date) FROM pick_vintages WHERE experiment = ? AND for_date <= ?) "
            "GROUP BY for_date", [name, name, last]).fetchone() or (None, None)
    return {"name": name, "start": start, "last": last, "served_nothing": served_nothing,
            "groups": groups, "groups_on": on}


def start_pending(con: duckdb.DuckDBPyConnection, day: date) -> list[str]:
    """Experiments created before any nightly ran start with the first one run, for `day`: their first
    night is fixed now. Returns their names."""
    ensure_tables(con)
    pending = "start_on IS NULL AND stopped_at IS NULL"
    names = [r[0] for r in con.execute(f"SELECT name FROM experiments WHERE {pending} "
                                       "ORDER BY created_at, name").fetchall()]
    if names:
        con.execute(f"UPDATE experiments SET start_on = ? WHERE {pending}", [day])
    return names


def experiments_for_night(con: duckdb.DuckDBPyConnection, day: date) -> tuple[NightPlan, list[str]]:
    """The plan of a nightly for `day` (plan_night), after fixing the first night of experiments that
    waited for the first nightly; and a note per such experiment."""
    started = start_pending(con, day)
    notes = [f"experiment {n} starts with this night ({day}): it was created before any nightly ran"
             for n in started]
    return plan_night(dated_experiments(con), day), notes


def uninformative_arms(con: duckdb.DuckDBPyConnection, arms: list[str], start: date | None) -> list[str]:
    """A sentence per arm that would know nothing of its own on this home's history on its first night
    (year_ago before a year of orders: recsys.models.year_ago, what `evaluate` calls `uninformative`);
    none when the warehouse holds no orders to tell."""
    if "year_ago" not in arms:
        return []
    from common.festivals import year_ago_shift

    has_orders = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders' "
                             "AND table_schema = current_schema()").fetchone()[0]
    if not has_orders:
        return []
    first, newest = con.execute("SELECT min(ordered_at), max(ordered_at) FROM orders").fetchone()
    if first is None:
        return []
    oldest = first.astimezone(TZ).date()
    day = start or newest.astimezone(TZ).date() + timedelta(days=1)
    needed = day - timedelta(days=year_ago_shift(day, 7))
    if oldest <= needed:
        return []
    return [f"arm year_ago knows nothing on this home's history: it reads the same days a year before "
            f"{day} (from {needed}), and the orders begin {oldest}; its groups would be served recent "
            "popularity's fill, not the method (each nightly that serves it says so)"]


# -- scoring ---------------------------------------------------------------------------------------
def parse_range(text: str) -> tuple[date, date]:
    ends = text.split("..")
    if len(ends) != 2:
        raise UsageError(f"--vintages: expected FROM..TO as YYYY-MM-DD..YYYY-MM-DD; got {text!r}")
    try:
        first, last = parse_iso_day(ends[0].strip()), parse_iso_day(ends[1].strip())
    except ValueError as exc:
        raise UsageError(f"--vintages: {exc} (expected FROM..TO as YYYY-MM-DD..YYYY-MM-DD)") from None
    if last < first:
        raise UsageError(f"--vintages: TO ({last}) is before FROM ({first})")
    return first, last


def served_runs(con: duckdb.DuckDBPyConnection, run_ids: list[str]) -> dict[str, bool | None]:
    """Whether each run's pick list was served: its snapshot was made live (HOME/current, what the
    API answers shopkeepers from) when the run published it. Read from the ledger (`runs`): a run whose
    `publish` gate says it was kept, not live (a backfill or a `nightly --date` older than the live
    snapshot's date; `"live": false`) or not published (`"passed": false`) was not served; any other
    run that published was (a list is kept only once its snapshot is live or kept). None: the ledger
    has no row for the run (a list kept by some other means), so nobody can say."""
    found: dict[str, bool | None] = dict.fromkeys(run_ids)
    if not run_ids or not _has_ledger(con):
        return found
    rows = con.execute("SELECT run_id, gates FROM runs WHERE list_contains(?, run_id)", [run_ids]).fetchall()
    for run_id, gates in rows:
        found[run_id] = _went_live(gates)
    return found


def _served_days(vintages: pl.DataFrame,
                 served: dict[str, bool | None]) -> dict[date, tuple[str, bool | None]]:
    """Per night: the run whose list it keeps and whether that list was served (served_runs)."""
    per_day: dict[date, tuple[str, bool | None]] = {}
    for day, runs in vintages.group_by("for_date").agg(pl.col("run_id").unique().sort()).iter_rows():
        flags = [served.get(r) for r in runs]  # one run per day (a re-run replaces the day's lists)
        flag = False if False in flags else None if None in flags else True
        per_day[day] = (", ".join(r for r in runs if r), flag)
    return per_day


def _mark_served(out: dict, per_day: dict[date, tuple[str, bool | None]]) -> None:
    """Each night's row gets the run whose list it scores and `served` (served_runs); the result
    lists the nights never served (`not_served`): their lists are scored as what would have been."""
    by_iso = {d.isoformat(): v for d, v in per_day.items()}
    for night in out.get("nights", []):
        night["run_id"], night["served"] = by_iso.get(night["for_date"], (None, None))
    out["not_served"] = sorted(d for d, (_, flag) in by_iso.items() if flag is False)


def run_vintages(home: Home, first: date, last: date, today: date, horizon_days: int = PICK_HORIZON_DAYS,
                 frames: dict[str, pl.DataFrame] | None = None) -> dict:
    """Score the lists published for FROM..TO whose horizon has passed by `today`. `frames`: the
    orders (and posts) when the caller has them loaded (the nightly's report), else read here.
    Each night says whether its list was served to shopkeepers (`served`, served_runs); the
    experiments' verdicts read their served nights (all of them, said, when none was served)."""
    scorable_until = min(last, today - timedelta(days=horizon_days))
    with connect(home) as con:
        vintages = load_vintages(con, first, scorable_until)
        experiments = list_experiments(con)
        served = served_runs(con, vintages["run_id"].drop_nulls().unique().to_list())
    out: dict = {"from": first.isoformat(), "to": last.isoformat(), "horizon_days": horizon_days,
                 "scored_until": scorable_until.isoformat() if scorable_until >= first else None,
                 "lists": 0}
    if vintages.height == 0:
        out["note"] = ("no published pick list in the range whose day has passed" if scorable_until >= first
                       else f"no list in the range has passed its day yet ({today})")
        return out
    if frames is None:
        frames = load_frames(home, ("orders", "posts"), drop={"orders": ("order_id",), "posts": ("post_id",)})
    per_day = _served_days(vintages, served)
    out.update(score_vintages(vintages, frames["orders"], frames.get("posts"), experiments, horizon_days,
                              served_days={d: flag for d, (_, flag) in per_day.items()}))
    _mark_served(out, per_day)
    return out


def _verdict_nights(nights: list[date],
                    served_days: dict[date, bool | None] | None) -> tuple[list[date], str]:
    """Which of an experiment's nights its verdicts read, and why: the served ones when any was served
    ("served"); else every night, "never served" when none was (a backfill or a past --date: the
    verdicts are simulated on what would have been served) or "unknown" when the ledger cannot say."""
    flags = {d: (served_days or {}).get(d) for d in nights}
    served = [d for d in nights if flags[d] is True]
    if served:
        return served, "served"
    if nights and all(flag is False for flag in flags.values()):
        return nights, "never served"
    return nights, "unknown" if served_days is not None and nights else "all"


def score_vintages(vintages: pl.DataFrame, orders: pl.DataFrame, posts: pl.DataFrame | None,
                   experiments: list[dict], horizon_days: int = PICK_HORIZON_DAYS,
                   served_days: dict[date, bool | None] | None = None) -> dict:
    """The summary of recsys.vintages over stored lists (every night scored, served or not), and every
    experiment's verdicts over its served nights (_verdict_nights; `served_days`: night -> served)."""
    from pipelines.evaluate.intervals import MIN_UNITS  # the rule `evaluate --as-of` gives its intervals

    with_arms = vintages["arm"].is_not_null().any()
    data = (vintages.with_columns(pl.col("arm").fill_null(PRODUCTION)) if with_arms
            else vintages.drop("arm", "experiment"))
    scored = outcomes(data, orders, posts, horizon_days)
    lists = per_list(scored, relevant_counts(data, orders, horizon_days))
    out = {"lists": lists.height, **summary(scored, lists), "experiments": []}
    for e in experiments:
        rows = (lists.filter(pl.col("experiment") == e["name"]) if "experiment" in lists.columns
                else lists.clear())
        nights = sorted(set(rows["for_date"].to_list()))
        read, basis = _verdict_nights(nights, served_days)
        read_rows = rows.filter(pl.col("for_date").is_in(read))
        control = Experiment(e["name"], tuple(e["arms"]), e["share"]).control
        out["experiments"].append({
            **e, "lists": rows.height, "read": basis, "lists_read": read_rows.height,
            "nights_read": [d.isoformat() for d in read],
            "nights_left_out": [d.isoformat() for d in nights if d not in read],
            "verdicts": {m: arm_verdicts(read_rows, control, m, min_units=MIN_UNITS)
                         for m in ("hit", "precision", "ndcg")}})
    return out


def production_rows(rows: list[dict], key: str, rate: str = "precision") -> list[dict]:
    """The rows of lists served production (in no experiment, or an experiment's production arm) merged
    per value of `key` (slot, reason_code, posted): picks summed, `rate` weighted by picks."""
    merged: dict = {}
    for r in rows:
        if r.get("arm", PRODUCTION) != PRODUCTION:
            continue
        m = merged.setdefault(r[key], [0, 0.0])
        m[0] += r["picks"]
        m[1] += r[rate] * r["picks"]
    return [{key: k, "picks": n, rate: hits / n if n else 0.0} for k, (n, hits) in merged.items()]


SERVED_WORDS = {True: "yes", False: "no", None: "?"}  # "?": the ledger has no row for the night's run
READ_WORDS = {  # why an experiment's verdicts read the nights they read (_verdict_nights)
    "never served": "never served: every night of it was a backfill or a run for a date older than the live "
                    "snapshot's, never made live; the verdicts are simulated on what would have been served",
    "unknown": "the ledger does not say whether its nights were served; the verdicts read every night",
}


def experiment_lines(e: dict) -> list[str]:
    """An experiment's heading, what its verdicts read, and its verdicts (terminal and report)."""
    state = "running" if e["running"] else "stopped"
    nights = {None: "", "no night": "; served no night"}.get(e.get("nights"), f"; nights {e.get('nights')}")
    lines = [f"experiment {e['name']} ({', '.join(e['arms'])}; share {e['share']:g}; {state}{nights}): "
             f"{e['lists']} lists"]
    if e.get("read") == "served" and e.get("nights_left_out"):
        lines.append(f"  read: its {len(e['nights_read'])} served night(s), {e['lists_read']} lists; "
                     f"never served, left out: {', '.join(e['nights_left_out'])}")
    elif e.get("read") in READ_WORDS:
        lines.append("  " + READ_WORDS[e["read"]])
    for metric in ("hit", "precision", "ndcg"):
        for v in e["verdicts"].get(metric, []):
            lines.append("  " + v["verdict"])
    return lines


def render_vintages(result: dict) -> str:
    """Plain text for the terminal."""
    lines = [f"pick vintages {result['from']}..{result['to']} (horizon {result['horizon_days']} day(s)), "
             f"{result['lists']} lists scored"]
    if result.get("note"):
        return "\n".join([*lines, result["note"]])
    lines.append(f"{'night':<12}{'arm':<16}{'experiment':<14}{'lists':>7}{'hit rate':>10}{'precision':>11}"
                 f"{'ndcg':>8}{'served':>8}")
    for n in result["nights"]:
        arm = n.get("arm") or PRODUCTION  # no experiment that night: the production list (as the report says)
        lines.append(f"{n['for_date']:<12}{arm:<15} {n.get('experiment') or '-':<13} {n['lists']:>6}"
                     f"{n['hit_rate']:>10.3f}{n['precision']:>11.3f}{n['ndcg']:>8.3f}"
                     f"{SERVED_WORDS[n.get('served')]:>8}")
    if result.get("not_served"):
        lines.append(f"served no: never made live, so never shown to shopkeepers (a backfill, or a nightly "
                     f"--date older than the live snapshot's): {', '.join(result['not_served'])}; their "
                     "lists are scored as what would have been served (counted in the totals below; the "
                     "experiments' verdicts read served nights where there are any)")
    lines.append("by slot: " + ", ".join(f"{r['slot']} {r['precision']:.3f} ({r['picks']})"
                                          for r in production_rows(result["by_slot"], "slot")))
    lines.append("by reason: " + ", ".join(f"{r['reason_code']} {r['precision']:.3f} ({r['picks']})"
                                            for r in production_rows(result["by_reason"], "reason_code")))
    for r in result.get("posted_vs_not", []):
        who = "/".join(x for x in (r.get("experiment"), r.get("arm")) if x)
        lines.append(f"{'posted' if r['posted'] else 'not posted'}: conversion {r['conversion']:.3f} "
                     f"over {r['picks']} picks" + (f" ({who})" if who else ""))
    for e in result.get("experiments", []):
        lines.extend(experiment_lines(e))
    return "\n".join(lines)

"""The closed loop's storage: every published pick list (`pick_vintages`) and the A/B experiments
(`experiments`) in the home's warehouse; `evaluate --vintages FROM..TO` scores the lists whose day has
passed (recsys.vintages) and gives each running or stopped experiment its verdict.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import date, datetime, timedelta

import duckdb
import polars as pl

from common.clock import parse_iso_day
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
                "created_at TIMESTAMPTZ, stopped_at TIMESTAMPTZ)")


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
def create_experiment(con: duckdb.DuckDBPyConnection, name: str, arms: list[str], share: float,
                      known_arms: set[str], now: datetime) -> Experiment:
    """A new experiment; a clear error for a bad or duplicate name, unknown or repeated arms, or a
    share outside (0, 1]."""
    ensure_tables(con)
    if not NAME.match(name):
        raise UsageError(f"experiment name {name!r}: expected 1-64 letters, digits, '_', '.' or '-'")
    arms = [a.strip() for a in arms if a.strip()]
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
    con.execute("INSERT INTO experiments VALUES (?, ?, ?, ?, NULL)", [name, ",".join(arms), share, now])
    return Experiment(name, tuple(arms), share)


def list_experiments(con: duckdb.DuckDBPyConnection) -> list[dict]:
    ensure_tables(con)
    rows = con.execute("SELECT name, arms, share, created_at, stopped_at FROM experiments "
                       "ORDER BY created_at, name").fetchall()
    return [{"name": n, "arms": a.split(","), "share": s, "created_at": c.isoformat(),
             "stopped_at": x.isoformat() if x else None, "running": x is None} for n, a, s, c, x in rows]


def stop_experiment(con: duckdb.DuckDBPyConnection, name: str, now: datetime) -> None:
    ensure_tables(con)
    row = con.execute("SELECT stopped_at FROM experiments WHERE name = ?", [name]).fetchone()
    if row is None:
        raise UsageError(f"no experiment {name!r}; `circlebuy experiment list` shows them")
    if row[0] is not None:
        raise UsageError(f"experiment {name!r} was already stopped at {row[0].isoformat()}")
    con.execute("UPDATE experiments SET stopped_at = ? WHERE name = ?", [now, name])


def running_experiments(con: duckdb.DuckDBPyConnection) -> list[Experiment]:
    return [Experiment(e["name"], tuple(e["arms"]), e["share"])
            for e in list_experiments(con) if e["running"]]


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
    has_ledger = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'runs' "
                             "AND table_schema = current_schema()").fetchone()[0]
    if not run_ids or not has_ledger:
        return found
    rows = con.execute("SELECT run_id, gates FROM runs WHERE list_contains(?, run_id)", [run_ids]).fetchall()
    for run_id, gates in rows:
        try:
            parsed = json.loads(gates or "[]")
        except ValueError:
            parsed = []
        kept_back = any(isinstance(g, dict) and g.get("part") == "publish"
                        and (g.get("live") is False or g.get("passed") is False) for g in parsed)
        found[run_id] = not kept_back
    return found


def _mark_served(out: dict, vintages: pl.DataFrame, served: dict[str, bool | None]) -> None:
    """Each night's row gets the run whose list it scores and `served` (served_runs); the result
    lists the nights never served (`not_served`): their lists are scored as what would have been."""
    per_day: dict[str, tuple[str, bool | None]] = {}
    for day, runs in vintages.group_by("for_date").agg(pl.col("run_id").unique().sort()).iter_rows():
        flags = [served.get(r) for r in runs]  # one run per day (a re-run replaces the day's lists)
        flag = False if False in flags else None if None in flags else True
        per_day[day.isoformat()] = (", ".join(r for r in runs if r), flag)
    for night in out.get("nights", []):
        night["run_id"], night["served"] = per_day.get(night["for_date"], (None, None))
    out["not_served"] = sorted(d for d, (_, flag) in per_day.items() if flag is False)


def run_vintages(home: Home, first: date, last: date, today: date, horizon_days: int = PICK_HORIZON_DAYS,
                 frames: dict[str, pl.DataFrame] | None = None) -> dict:
    """Score the lists published for FROM..TO whose horizon has passed by `today`. `frames`: the
    orders (and posts) when the caller has them loaded (the nightly's report), else read here.
    Each night says whether its list was served to shopkeepers (`served`, served_runs)."""
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
    out.update(score_vintages(vintages, frames["orders"], frames.get("posts"), experiments, horizon_days))
    _mark_served(out, vintages, served)
    return out


def score_vintages(vintages: pl.DataFrame, orders: pl.DataFrame, posts: pl.DataFrame | None,
                   experiments: list[dict], horizon_days: int = PICK_HORIZON_DAYS) -> dict:
    """The summary of recsys.vintages over stored lists, and every experiment's verdicts."""
    with_arms = vintages["arm"].is_not_null().any()
    data = vintages.with_columns(pl.col("arm").fill_null(PRODUCTION)) if with_arms else vintages.drop("arm")
    scored = outcomes(data, orders, posts, horizon_days)
    lists = per_list(scored, relevant_counts(data, orders, horizon_days))
    out = {"lists": lists.height, **summary(scored, lists), "experiments": []}
    for e in experiments:
        enrolled = data.filter(pl.col("experiment") == e["name"]).select("for_date", "group_id").unique()
        rows = lists.join(enrolled, on=["for_date", "group_id"], how="semi")
        control = Experiment(e["name"], tuple(e["arms"]), e["share"]).control
        out["experiments"].append({**e, "lists": rows.height, "verdicts": {
            m: arm_verdicts(rows, control, m) for m in ("hit", "precision", "ndcg")}})
    return out


SERVED_WORDS = {True: "yes", False: "no", None: "?"}  # "?": the ledger has no row for the night's run


def render_vintages(result: dict) -> str:
    """Plain text for the terminal."""
    lines = [f"pick vintages {result['from']}..{result['to']} (horizon {result['horizon_days']} day(s)), "
             f"{result['lists']} lists scored"]
    if result.get("note"):
        return "\n".join([*lines, result["note"]])
    lines.append(f"{'night':<12}{'arm':<14}{'lists':>7}{'hit rate':>10}{'precision':>11}{'ndcg':>8}"
                 f"{'served':>8}")
    for n in result["nights"]:
        arm = n.get("arm") or PRODUCTION  # no experiment that night: the production list (as the report says)
        lines.append(f"{n['for_date']:<12}{arm:<14}{n['lists']:>7}{n['hit_rate']:>10.3f}"
                     f"{n['precision']:>11.3f}{n['ndcg']:>8.3f}{SERVED_WORDS[n.get('served')]:>8}")
    if result.get("not_served"):
        lines.append(f"served no: never made live, so never shown to shopkeepers (a backfill, or a nightly "
                     f"--date older than the live snapshot's): {', '.join(result['not_served'])}; their "
                     "lists are scored as what would have been served")
    control = [r for r in result["by_slot"] if r.get("arm", PRODUCTION) == PRODUCTION]
    lines.append("by slot: " + ", ".join(f"{r['slot']} {r['precision']:.3f} ({r['picks']})" for r in control))
    control = [r for r in result["by_reason"] if r.get("arm", PRODUCTION) == PRODUCTION]
    lines.append("by reason: " + ", ".join(f"{r['reason_code']} {r['precision']:.3f} ({r['picks']})"
                                            for r in control))
    for r in result.get("posted_vs_not", []):
        lines.append(f"{'posted' if r['posted'] else 'not posted'}: conversion {r['conversion']:.3f} "
                     f"over {r['picks']} picks" + (f" ({r['arm']})" if "arm" in r else ""))
    for e in result.get("experiments", []):
        lines.append(f"experiment {e['name']} ({', '.join(e['arms'])}; share {e['share']}; "
                     f"{'running' if e['running'] else 'stopped'}): {e['lists']} lists")
        for metric in ("hit", "precision", "ndcg"):
            for v in e["verdicts"].get(metric, []):
                lines.append("  " + v["verdict"])
    return "\n".join(lines)

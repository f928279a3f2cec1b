"""`circlebuy evaluate`: train on what happened before --as-of, score the --horizon-days after.

Composes the recsys block (pipelines.evaluate.recsys) and the forecast block
(pipelines.evaluate.forecast) into the JSON of DESIGN.md, and writes the optional dumps.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from common.clock import day_start, parse_iso_day, platform_day
from common.definitions import SIGNAL_TABLES, Runner
from common.errors import UsageError
from common.home import Home
from pipelines.engine.base import EngineOptions
from pipelines.engine.definitions import warehouse_runner
from pipelines.evaluate.config import EvaluateConfig
from pipelines.warehouse import MODEL_DROP, load_frames
from recsys.signal import SignalSource

__all__ = ["AsOfDates", "EvaluateConfig", "evaluate_dates", "evaluate_frames", "parse_dates", "run_evaluate"]

RANKING_COLUMNS = ["group_id", "rank", "product_id"]
FORECAST_SCHEMA = {"product_id": pl.String, "warehouse_id": pl.String, "day": pl.Date, "p10": pl.Float64,
                   "p50": pl.Float64, "p90": pl.Float64}


def evaluate_frames(frames: dict[str, pl.DataFrame], config: EvaluateConfig, progress: bool = False,
                    source: SignalSource | None = None) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """One as-of date: the design's JSON as a dict, production's rankings and daily forecasts.
    `source`: the recommendation signal's aggregates up to this date or a later one (by default,
    aggregated for this date)."""
    from aggregation.timeseries import InsufficientHistoryError
    from pipelines.evaluate.forecast import evaluate_forecast
    from pipelines.evaluate.recsys import evaluate_recsys

    day = config.as_of_day
    say = (lambda text: print(f"evaluate {day}: {text}", file=sys.stderr, flush=True)) if progress \
        else (lambda text: None)
    tick = time.perf_counter()
    say("recommendations (tuning on the folds, the ranker, every generator scored)")
    recsys_block, rankings = evaluate_recsys(frames, config, source)
    say(f"recommendations done in {time.perf_counter() - tick:.0f} s; forecasts")
    tick = time.perf_counter()
    try:
        forecast_block, forecasts = evaluate_forecast(frames, config)
    except InsufficientHistoryError as exc:  # report what could be scored, say what could not
        forecast_block = {"series_evaluated": 0, "models": {}, "note": f"not evaluated: {exc}"}
        forecasts = pl.DataFrame(schema=FORECAST_SCHEMA)
    say(f"forecasts done in {time.perf_counter() - tick:.0f} s")
    result = {
        "as_of": config.as_of_day.isoformat(),
        "horizon_days": config.horizon_days,
        "k": config.k,
        "recsys": recsys_block,
        "forecast": forecast_block,
    }
    return result, rankings.select(RANKING_COLUMNS), forecasts.select(list(FORECAST_SCHEMA))


def run_evaluate(
    home: Home,
    config: EvaluateConfig,
    *,
    dates: list[date] | None = None,
    dump_rankings: Path | None = None,
    dump_forecasts: Path | None = None,
    progress: bool = False,
    engine: EngineOptions | None = None,
) -> dict:
    """Evaluate recsys and forecasts at one as-of date (the design's single-date JSON) or at each
    of `dates` (rolling origin: trained once per date on what happened before it), returning
    {"dates": [single-date object per date], "mean": {...}}. With several dates the dumps hold
    every date, with an `as_of` column first. The recommendation signal's aggregation
    (common/definitions.py) runs on the warehouse file (DuckDB), or on Spark over the warehouse's
    tables with `engine` spark; training and scoring stay on the driver."""
    frames = load_frames(home, drop=MODEL_DROP)
    dates = dates or [config.as_of_day]
    skipped: list[date] = []
    if getattr(dates, "option", None) == "--as-of-range":
        # a range asks for the dates that can be scored: one whose horizon is a shutdown (春节) is
        # skipped and named, not a reason to refuse the whole range; an --as-of date typed is refused
        skipped = empty_horizons(frames["orders"], dates, config.horizon_days)
        if skipped and len(skipped) < len(dates):
            dates = AsOfDates([d for d in dates if d not in skipped], dates.option)
            print(f"evaluate: skipped {listed(skipped)} of --as-of-range: no paid order in the "
                  f"{config.horizon_days}-day horizon, so nothing to score there", file=sys.stderr,
                  flush=True)
        else:
            skipped = []
    check_dates_have_orders(frames["orders"], dates, config.horizon_days)
    with warehouse_runner(home, engine, SIGNAL_TABLES) as run:
        result, rankings, forecasts = evaluate_dates(frames, config, dates, progress=progress, run=run)
    if skipped:
        result["skipped"] = [{"as_of": d.isoformat(), "reason": "no paid order in the horizon"}
                             for d in skipped]
    single = len(dates) == 1
    for path, frame in ((dump_rankings, rankings), (dump_forecasts, forecasts)):
        if path is not None:
            write_dump(frame.drop("as_of") if single else frame, path)
    return result


def write_dump(frame: pl.DataFrame, path: Path) -> None:
    """A `--dump-*` file: Parquet, or CSV where the name ends in .csv (a Parquet file under that name
    opens as garbage in a spreadsheet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        frame.write_csv(path)
    else:
        frame.write_parquet(path)


class AsOfDates(list[date]):
    """The dates of `--as-of` or `--as-of-range`, remembering which option gave them, so that a date
    refused later (check_dates_have_orders) is blamed on the option the user actually typed."""

    option: str

    def __init__(self, dates: Iterable[date], option: str) -> None:
        super().__init__(dates)
        self.option = option


def check_dates_have_orders(orders: pl.DataFrame, dates: list[date], horizon_days: int,
                            option: str | None = None) -> None:
    """Refuse, in one message, every date that cannot be scored: one with no orders before it (nothing
    to train on), one whose horizon runs past the last order day (the days after the data would be
    scored as days without sales: a forecast far too high), and one whose horizon holds no paid order
    (a shutdown: every ranking metric would read 0 and the forecast be scored on zeros, and averaged
    across dates such a date would drag every mean down). `option`: the option the dates came from
    (by default the one `dates` remembers, else --as-of). The message names each date and why, the
    orders' own range and the dates that would do."""
    option = option or getattr(dates, "option", "--as-of")
    if orders.height == 0:
        raise UsageError("the warehouse holds no orders; run `circlebuy ingest RAW` first")
    days = orders.select(platform_day(pl.col("ordered_at")).alias("d"))["d"]
    first, last = days.min(), days.max()
    paid = _paid_days(orders)
    h = horizon_days
    before, after, cut, empty = [], [], [], []
    for d in dates:
        end = d + timedelta(days=h - 1)  # the horizon's last day
        if d <= first:
            before.append(d)
        elif d > last:
            after.append(d)
        elif end > last:
            cut.append(d)
        elif not _horizon_has_paid(paid, d, h):
            empty.append(d)
    if not (before or after or cut or empty):
        return
    reasons = []
    if before:
        reasons.append(f"{listed(before)}: nothing to evaluate there: no orders before it to train on")
    if after:
        reasons.append(f"{listed(after)}: nothing to evaluate there: after the last order day")
    if cut:
        reasons.append(f"{listed(cut)}: the {h}-day horizon runs past the orders, which end on {last}, "
                       "and the days after them would be scored as days without sales")
    if empty:
        spans = ", ".join(f"{d} to {d + timedelta(days=h - 1)}" if h > 1 else d.isoformat() for d in empty)
        reasons.append(f"{listed(empty)}: no paid order in the {h}-day horizon ({spans}), so nothing to "
                       "score there")
    latest = last - timedelta(days=h - 1)  # the last as-of whose whole horizon is within the orders
    need = f"orders before it, its whole {h}-day horizon within the orders and a paid order in that horizon"
    usable = (f"an as-of date needs {need}: from {first + timedelta(days=1)} to {latest}"
              + (" (or shorten the horizon with --horizon-days)" if cut else "")
              if latest > first else
              f"no as-of date has {need}; shorten the horizon with --horizon-days")
    refused = len(before) + len(after) + len(cut) + len(empty)
    head = f"{option}: {refused} of {len(dates)} dates refused; " if len(dates) > 1 else f"{option}: "
    raise UsageError(f"{head}{'; '.join(reasons)}; the orders run from {first} to {last}, so {usable}")


def _paid_days(orders: pl.DataFrame) -> set[date]:
    return set(orders.filter(pl.col("status") == "paid")
               .select(platform_day(pl.col("ordered_at")).alias("d"))["d"].unique().to_list())


def _horizon_has_paid(paid: set[date], d: date, horizon_days: int) -> bool:
    return any(d + timedelta(days=i) in paid for i in range(horizon_days))


def empty_horizons(orders: pl.DataFrame, dates: list[date], horizon_days: int) -> list[date]:
    """The dates, within the orders' range, whose horizon holds no paid order (a shutdown)."""
    if orders.height == 0:
        return []
    days = orders.select(platform_day(pl.col("ordered_at")).alias("d"))["d"]
    first, last = days.min(), days.max()
    paid = _paid_days(orders)
    return [d for d in dates if first < d and d + timedelta(days=horizon_days - 1) <= last
            and not _horizon_has_paid(paid, d, horizon_days)]


def listed(dates: list[date]) -> str:
    """Every date, in order: a refusal that names only some of them is found out one try at a time."""
    return ", ".join(d.isoformat() for d in dates)


def evaluate_dates(frames: dict[str, pl.DataFrame], config: EvaluateConfig, dates: list[date],
                   progress: bool = False, run: Runner | None = None
                   ) -> tuple[dict, pl.DataFrame, pl.DataFrame]:
    """Rolling origin: each date trained on what happened before it. Returns the JSON (single-date
    shape for one date) and every date's rankings and forecasts with an `as_of` column first. The
    recommendation signal is aggregated per date, up to its instant (by `run`: an engine's, or
    in-process): an order line counts as it stood then, so a cancellation after the date is not
    known to its training (one source for every date would lend the earlier dates the later ones'
    cancellations)."""
    from recsys.signal import signal_source

    results, rankings, forecasts = [], [], []
    for i, day in enumerate(dates):
        if progress:
            print(f"evaluate: as of {day} ({i + 1} of {len(dates)})", file=sys.stderr, flush=True)
        source = signal_source(frames, day_start(day), config.production.signal, run)
        result, ranked, forecast = evaluate_frames(frames, replace(config, as_of_day=day), progress=progress,
                                                   source=source)
        results.append(result)
        rankings.append(ranked.select(pl.lit(day).alias("as_of"), pl.all()))
        forecasts.append(forecast.select(pl.lit(day).alias("as_of"), pl.all()))
    result = results[0] if len(dates) == 1 else {"dates": results, "mean": mean_block(results)}
    return result, pl.concat(rankings), pl.concat(forecasts)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mean_models(blocks: list[dict], key: str) -> dict:
    """Per model and metric, the mean over the dates that scored the model: those where its `key`
    figure (ndcg@k, wape, total_wape) is a number. A null there means the date had nothing to score
    it on (no head series, no sales), and its other figures (a coverage of zero outcomes) say
    nothing either; counted, it would pull the mean towards 0 and overstate `dates`. Within those
    dates a null figure is skipped. `dates`: how many dates scored the model."""
    out: dict[str, dict] = {}
    names = [n for b in blocks for n in b]
    for name in dict.fromkeys(names):
        per = [b[name] for b in blocks if name in b]
        if any(key in p for p in per):
            per = [p for p in per if _number(p.get(key))]
        metrics = {}
        for metric in dict.fromkeys(m for p in per for m in p):
            values = [p[metric] for p in per if _number(p.get(metric))]
            if values:
                metrics[metric] = round(sum(values) / len(values), 6)
        metrics["dates"] = len(per)
        out[name] = metrics
    return out


def mean_block(results: list[dict]) -> dict:
    """Means across dates of every model's figures, and per date which model won. A date counts
    for a block only where it scored something: groups evaluated for recsys, a WAPE for a forecast
    model (no winner is named for a date that scored nothing)."""
    key = f"ndcg@{results[0]['k']}"
    recsys = [r["recsys"].get("models", {}) if r["recsys"].get("groups_evaluated") else {} for r in results]
    forecast = [r["forecast"].get("models", {}) for r in results]
    head = [r["forecast"].get("head", {}).get("models", {}) for r in results]
    winners = []
    for r, rec, hd in zip(results, recsys, head, strict=True):
        gens = {n: m[key] for n, m in rec.items() if n != "picks" and _number(m.get(key))}
        wapes = {n: m["total_wape"] for n, m in hd.items() if _number(m.get("total_wape"))}
        winners.append({
            "as_of": r["as_of"],
            "recsys": max(gens, key=gens.get) if gens else None,
            "forecast_head_total_wape": min(wapes, key=wapes.get) if wapes else None,
        })
    return {
        "dates": [r["as_of"] for r in results],
        "recsys": {"models": _mean_models(recsys, key)},
        "forecast": {"models": _mean_models(forecast, "wape"),
                     "head": {"models": _mean_models(head, "total_wape")}},
        "winners": winners,
    }


def parse_dates(as_of: str | None, as_of_range: str | None, every: str) -> AsOfDates:
    """Dates from `--as-of D1,D2,...` or `--as-of-range FROM..TO --every Nd` (sorted, unique), with
    the option they came from (a date refused later names it). Raises UsageError naming the option
    and the value."""
    if (as_of is None) == (as_of_range is None):
        raise UsageError("give exactly one of --as-of YYYY-MM-DD[,YYYY-MM-DD...] and "
                         "--as-of-range FROM..TO (or --vintages FROM..TO to score published lists)")
    if as_of is not None:
        items = [v.strip() for v in as_of.split(",")]
        if not any(items) or "" in items:  # "D1,,D2": a date left out of the list, not a list of two
            raise UsageError(f"--as-of: expected YYYY-MM-DD[,YYYY-MM-DD...] with no empty item; "
                             f"got {as_of!r}")
        days = [_day(v, "--as-of") for v in items]
        return AsOfDates(sorted(set(days)), "--as-of")
    if ".." not in as_of_range:
        raise UsageError(f"--as-of-range: expected FROM..TO (YYYY-MM-DD..YYYY-MM-DD); got {as_of_range!r}")
    first, last = (_day(v.strip(), "--as-of-range") for v in as_of_range.split("..", 1))
    if last < first:
        raise UsageError(f"--as-of-range: {last} is before {first}")
    text = every.strip().lower()
    step = int(text[:-1]) if text.endswith("d") and text[:-1].isdigit() else (
        int(text) if text.isdigit() else 0)
    if step < 1:
        raise UsageError(f"--every: expected a whole number of days, at least 1, such as 7d; got {every!r}")
    out, day = [], first
    while day <= last:
        out.append(day)
        day += timedelta(days=step)
    return AsOfDates(out, "--as-of-range")


def _day(value: str, option: str) -> date:
    try:
        return parse_iso_day(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None

"""aggregation benchmark: speed and memory of pooling + nowcasts and of the whole demand stage on a
generated world, and the accuracy of the forecast block on a generated world and Online Retail.

    .venv/bin/python -m bench.bench_aggregation [speed] [stage] [accuracy] [presale] [short]
        [--groups 20000 --days 90] [--raw DIR] [--repeats N]

`short` scores the daily short-history fallbacks (1, 3, 10, 20 days of history) on Online Retail and
on the S world read without campaigns. `stage` runs the nightly's forecast stage alone
(`build_demand`), `--repeats` times, each in a fresh child process, and reports the medians.
`presale` scores the pre-sale nowcasts on the S world in one run, side by side, for each variant of
PRESALE_VARIANTS (without / with the bottom-up group evidence of aggregation.group_reach, the
product-level expectation, the P50 as the median or at the unbiased level).

Data is built once under $CIRCLEBUY_BENCH_DIR (default /tmp/cb-agg) with the CLI. Speed reads the
generated raw Parquet straight into contract frames (the world is clean), each measurement in a
child process so that its peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from common.contract import TABLES

ROOT = Path(os.environ.get("CIRCLEBUY_BENCH_DIR", "/tmp/cb-agg"))
CLI = str(Path(sys.executable).with_name("circlebuy"))
ONLINE_RETAIL = Path("/work/shared/data/online-retail/online_retail.parquet")
WORLD_END = date(2026, 11, 20)
TZ = ZoneInfo("Asia/Shanghai")


def _run(*args: str) -> None:
    subprocess.run([CLI, *args], check=True, stdout=subprocess.DEVNULL)


def world_raw(groups: int, days: int) -> Path:
    raw = ROOT / ("M" if (groups, days) == (20000, 90) else f"world-{groups}-{days}")
    if not (raw / "orders.parquet").exists() and not (raw / "orders").exists():
        _run("generate", "--out", str(raw), "--groups", str(groups), "--days", str(days),
             "--end", WORLD_END.isoformat(), "--seed", "7")
    return raw


def raw_frames(raw: Path) -> dict[str, pl.DataFrame]:
    """Contract frames straight from a clean generated world (no ingest)."""
    frames = {}
    for name, table in TABLES.items():
        path = raw / f"{name}.parquet"
        schema = table.polars_schema()
        if path.exists():
            df = pl.read_parquet(path)
            frames[name] = df.with_columns(
                [pl.lit(None, t).alias(c) for c, t in schema.items() if c not in df.columns]
            ).select([pl.col(c).cast(t) for c, t in schema.items()])
        else:
            frames[name] = pl.DataFrame(schema=schema)
    return frames


def child_speed(raw: str) -> dict:
    """One measurement (run in a child): fit, pooling + nowcasts at 14:00 of the last day, full stage."""
    from aggregation.demand import build_demand
    from aggregation.pooling import pool_campaigns
    from aggregation.presale import PresaleForecaster

    t0 = time.perf_counter()
    frames = raw_frames(Path(raw))
    load_s = time.perf_counter() - t0
    noon = datetime.combine(WORLD_END, datetime.min.time(), tzinfo=TZ) + timedelta(hours=14)
    t1 = time.perf_counter()
    model = PresaleForecaster().fit(frames, noon.replace(hour=0))
    fit_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    pooled = pool_campaigns(frames["orders"], frames["campaigns"], frames["groups"], frames["products"], noon)
    instants = pooled.select("campaign_id").unique().with_columns(pl.lit(noon).alias("instant"))
    states = model.state_at(frames, instants)
    preds = model.predict(states)
    nowcast_s = time.perf_counter() - t2
    t3 = time.perf_counter()
    demand, info = build_demand(frames, noon.replace(hour=0))
    stage_s = time.perf_counter() - t3
    return {
        "orders": frames["orders"].height, "campaigns": frames["campaigns"].height,
        "load_s": round(load_s, 1), "fit_s": round(fit_s, 1),
        "open_windows": pooled.height, "pool_and_nowcast_s": round(nowcast_s, 1),
        "nowcast_rows": len(preds["production"][1]),
        "demand_stage_s": round(stage_s, 1), "demand_rows": demand.height,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def child_stage(raw: str) -> dict:
    """The nightly's forecast stage alone (read the frames, then `build_demand` at 00:00 of the last
    day), so that the peak memory is the stage's own."""
    from aggregation.demand import build_demand

    t0 = time.perf_counter()
    frames = raw_frames(Path(raw))
    load_s = time.perf_counter() - t0
    after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    t1 = time.perf_counter()
    demand, info = build_demand(frames, datetime.combine(WORLD_END, datetime.min.time(), tzinfo=TZ))
    return {"orders": frames["orders"].height, "load_s": round(load_s, 1),
            "peak_after_load_gib": round(after_load, 2), "demand_stage_s": round(time.perf_counter() - t1, 1),
            "demand_rows": demand.height, "gate": info["gate"],
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def child_accuracy(home: str, as_of: str) -> dict:
    from common.home import Home
    from pipelines.evaluate.config import EvaluateConfig
    from pipelines.evaluate.forecast import evaluate_forecast
    from pipelines.warehouse import load_frames

    frames = load_frames(Home(Path(home)))
    t0 = time.perf_counter()
    block, _ = evaluate_forecast(frames, EvaluateConfig(as_of_day=date.fromisoformat(as_of)))
    block["wall_s"] = round(time.perf_counter() - t0, 1)
    block["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return block


PRESALE_VARIANTS = {
    # name: (group evidence, features, point forecast level until share)
    "before": (False, "default", -1.0),  # no group evidence, P50 the median
    "group_evidence": (True, "default", -1.0),  # + recent category buyers and active groups
    "group+product_signal": (True, "all", -1.0),  # + the product-level bottom-up expectation
    "group+unbiased_open": (True, "default", 0.0),  # + unbiased point before opening only
    "group+unbiased_all": (True, "default", 1.0),  # production: unbiased point at every share
}


def child_presale(home: str, as_of: str) -> dict:
    """Pre-sale block per PRESALE_VARIANTS, the frames read once."""
    from dataclasses import replace

    import pipelines.evaluate.forecast as ef
    from aggregation.nowcast import DEFAULT_FEATURES, FEATURES
    from common.home import Home
    from pipelines.evaluate.config import EvaluateConfig
    from pipelines.warehouse import load_frames

    frames = load_frames(Home(Path(home)))
    base = EvaluateConfig(as_of_day=date.fromisoformat(as_of))
    cfg = base.presale
    out = {}
    for name, (reach, feats, until) in PRESALE_VARIANTS.items():
        presale = replace(cfg, reach=cfg.reach if reach else None, nowcast=replace(
            cfg.nowcast, features=FEATURES if feats == "all" else DEFAULT_FEATURES, unbiased_until=until))
        t0 = time.perf_counter()
        out[name] = ef.evaluate_presale(frames, replace(base, presale=presale))
        out[name]["wall_s"] = round(time.perf_counter() - t0, 1)
    out["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return out


SHORT_DAYS = (1, 3, 10, 20)


def child_short(home: str, start: str, drop_campaigns: str) -> dict:
    """Daily demand with 1 / 3 / 10 / 20 days of history (the short-history fallbacks), scored on
    the 7 days after each as-of like the forecast block."""
    from aggregation.daily import actuals
    from aggregation.demand import build_demand
    from aggregation.metrics import score
    from common.home import Home
    from pipelines.warehouse import load_frames

    frames = load_frames(Home(Path(home)))
    if drop_campaigns == "yes":  # the generated world read as data without campaigns
        frames = {**frames, "campaigns": frames["campaigns"].clear()}
    out = {}
    for n in SHORT_DAYS:
        day = date.fromisoformat(start) + timedelta(days=n)
        as_of = datetime.combine(day, datetime.min.time(), tzinfo=TZ)
        demand, info = build_demand(frames, as_of)
        truth = actuals(frames, as_of, 7).rename({"qty": "actual", "day": "delivery_on"})
        j = demand.join(truth, on=["product_id", "warehouse_id", "delivery_on"], how="left").with_columns(
            pl.col("actual").fill_null(0))
        out[n] = {"method": demand["method"].unique().to_list(), "rows": demand.height,
                  **score(*(j[c].to_numpy() for c in ("actual", "forecast_p10", "forecast_p50",
                                                      "forecast_p90")))}
    return out


def short_history() -> dict:
    s_home, or_home = accuracy_homes()
    return {"online_retail": _child("short", str(or_home), "2010-12-01", "no"),
            "world_S_without_campaigns": _child("short", str(s_home), "2026-09-22", "yes")}


def presale_compare() -> dict:
    """Nowcasts on the S world with and without the group evidence, side by side."""
    s_home = ROOT / "S-home"
    if not (s_home / "warehouse.duckdb").exists():
        accuracy_homes()
    out = _child("presale", str(s_home), "2026-11-13")
    first = out["before"]
    table = {}
    for share in first["at_share"]:
        table[share] = {"additive": first["at_share"][share]["additive"]}
        table[share].update({f"production[{v}]": out[v]["at_share"][share]["production"]
                             for v in PRESALE_VARIANTS})
    return {"windows_evaluated": first["windows_evaluated"], "volume": first["volume"], "by_share": table,
            "wall_s": {v: out[v]["wall_s"] for v in PRESALE_VARIANTS}, "peak_rss_gib": out["peak_rss_gib"]}


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.bench_aggregation", "--child", *args],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def accuracy_homes() -> tuple[Path, Path]:
    """The S world and Online Retail warehouses (built once)."""
    s_raw, s_home = ROOT / "S-raw", ROOT / "S-home"
    if not (s_home / "warehouse.duckdb").exists():
        _run("generate", "--out", str(s_raw), "--groups", "2000", "--days", "60",
             "--end", WORLD_END.isoformat(), "--seed", "7")
        _run("ingest", str(s_raw), "--home", str(s_home), "--now", "2026-11-21")
    or_raw, or_home = ROOT / "or-raw", ROOT / "or-home"
    if not (or_home / "warehouse.duckdb").exists():
        _run("import", "online-retail", str(ONLINE_RETAIL), "--out", str(or_raw))
        _run("ingest", str(or_raw), "--home", str(or_home), "--now", "2011-12-31")
    return s_home, or_home


def accuracy() -> dict:
    s_home, or_home = accuracy_homes()
    return {"world_S": _child("accuracy", str(s_home), "2026-11-13"),
            "online_retail": _child("accuracy", str(or_home), "2011-11-01")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("parts", nargs="*", default=["speed", "accuracy"])
    parser.add_argument("--groups", type=int, default=20000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--raw", type=Path, help="an existing generated world for speed / stage "
                        "(default: generate --groups/--days under the bench folder)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of the stage part (median reported)")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        kind, *rest = args.child
        runner = {"speed": child_speed, "stage": child_stage, "accuracy": child_accuracy,
                  "presale": child_presale, "short": child_short}[kind]
        result = runner(*rest)
        print(json.dumps(result, default=str))
        return
    results = {}
    raw = args.raw or (world_raw(args.groups, args.days) if {"speed", "stage"} & set(args.parts) else None)
    if "speed" in args.parts:
        results["speed"] = _child("speed", str(raw))
    if "stage" in args.parts:
        runs = [_child("stage", str(raw)) for _ in range(args.repeats)]
        results["stage"] = {"runs": runs,
                            "median_stage_s": statistics.median(r["demand_stage_s"] for r in runs),
                            "median_peak_rss_gib": statistics.median(r["peak_rss_gib"] for r in runs)}
    if "accuracy" in args.parts:
        results["accuracy"] = accuracy()
    if "presale" in args.parts:
        results["presale_group_reach"] = presale_compare()
    if "short" in args.parts:
        results["short_history"] = short_history()
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()

"""recsys benchmark: `circlebuy evaluate`'s recsys block and the nightly's picks, timed, on a
generated world and on Online Retail, plus recovery of each group's true category taste.

    .venv/bin/python -m bench.bench_recsys [world|online-retail ...] [--groups N --days D]
    .venv/bin/python -m bench.bench_recsys nightly-stage --groups 20000 --days 90   (M: train + picks)
Data is built once under $CIRCLEBUY_BENCH_DIR (default /tmp/cb-bench-recsys) with the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from common.home import Home
from pipelines.evaluate.config import EvaluateConfig
from pipelines.evaluate.recsys import evaluate_production
from pipelines.recsys_stage import pick_for_day, train_recsys
from pipelines.warehouse import MODEL_DROP, load_frames
from recsys.production import Production

ROOT = Path(os.environ.get("CIRCLEBUY_BENCH_DIR", "/tmp/cb-bench-recsys"))
CLI = str(Path(sys.executable).with_name("circlebuy"))
ONLINE_RETAIL = Path("/work/shared/data/online-retail/online_retail.parquet")
WORLD_END = date(2026, 11, 20)


def _run(*args: str) -> None:
    subprocess.run([CLI, *args], check=True, stdout=subprocess.DEVNULL)


def prepare_world(groups: int, days: int) -> tuple[Path, Path]:
    raw, home = ROOT / f"world-{groups}-{days}" / "raw", ROOT / f"world-{groups}-{days}" / "home"
    if not (home / "warehouse.duckdb").exists():
        _run(
            "generate",
            "--out",
            str(raw),
            "--groups",
            str(groups),
            "--days",
            str(days),
            "--end",
            WORLD_END.isoformat(),
            "--seed",
            "7",
        )
        _run("ingest", str(raw), "--home", str(home))
    return raw, home


def prepare_online_retail() -> Path:
    raw, home = ROOT / "online-retail" / "raw", ROOT / "online-retail" / "home"
    if not (home / "warehouse.duckdb").exists():
        _run("import", "online-retail", str(ONLINE_RETAIL), "--out", str(raw))
        _run("ingest", str(raw), "--home", str(home))
    return home


def taste_recovery(prod: Production, truth: pl.DataFrame, depth: int = 50) -> dict:
    """Spearman rank correlation, per group, between the true category affinity (the generator's
    _truth) and the category mix of the production ranking's top `depth`; averaged over groups."""
    groups = truth["group_id"].unique().sort()
    ranked = prod.rank(groups, depth).join(
        prod.signal.item_meta.select("product_id", "category"), on="product_id"
    )
    est = ranked.group_by("group_id", "category").agg(w=(1.0 / pl.col("rank")).sum())
    both = truth.join(est, on=["group_id", "category"], how="left").with_columns(pl.col("w").fill_null(0.0))
    both = both.with_columns(
        rt=pl.col("affinity").rank().over("group_id"), re=pl.col("w").rank().over("group_id")
    )
    per = both.group_by("group_id").agg(rho=pl.corr("rt", "re")).drop_nans().drop_nulls()
    return {"groups": per.height, "depth": depth, "mean_spearman": round(float(per["rho"].mean()), 4)}


def bench_evaluate(home: Path, as_of: date, label: str, truth: pl.DataFrame | None = None) -> dict:
    frames = load_frames(Home(home), drop=MODEL_DROP)
    tick = time.perf_counter()
    block, _, prod = evaluate_production(frames, EvaluateConfig(as_of_day=as_of))
    seconds = time.perf_counter() - tick
    k = "ndcg@10"
    m = block["models"]
    gens = {n: v[k] for n, v in m.items() if n not in ("production", "picks")}
    best = max(gens, key=gens.get)
    out = {
        "dataset": label,
        "as_of": as_of.isoformat(),
        "groups_evaluated": block["groups_evaluated"],
        "seconds": round(seconds, 1),
        "ndcg@10": {n: round(v[k], 4) for n, v in m.items()},
        "production_model": block["production_model"],
        "fallback_reason": block["fallback_reason"],
        "production_vs_popularity": round(m["production"][k] / m["popularity"][k], 3),
        "best_generator_on_test": best,
        "production_vs_best_generator": round(m["production"][k] / gens[best], 3),
        "timings_s": block["timings_s"],
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    if truth is not None:
        out["taste_recovery"] = taste_recovery(prod, truth)
    return out


def bench_nightly_stage(home: Path, day: date, label: str) -> dict:
    """The nightly's recsys stages on `home` for `day`: train (tune, label windows, ranker, refit; the
    signal aggregated on the warehouse file, as the nightly does) and picks for every group, in this
    process; wall time per stage and peak RSS."""
    tick = time.perf_counter()
    frames = load_frames(Home(home), drop=MODEL_DROP)
    load_s = time.perf_counter() - tick
    tick = time.perf_counter()
    from pipelines.engine.definitions import warehouse_runner

    with warehouse_runner(Home(home), None, ()) as aggregates:  # as the nightly: on the warehouse file
        prod, run = train_recsys(frames, day, run=aggregates)
    train_s = time.perf_counter() - tick
    tick = time.perf_counter()
    picks, run = pick_for_day(prod, day, run)
    info = run.to_dict()
    picks_s = time.perf_counter() - tick
    return {
        "dataset": label,
        "date": day.isoformat(),
        "groups": frames["groups"].height,
        "order_lines": frames["orders"].height,
        "seconds": {"load": round(load_s, 1), "train": round(train_s, 1), "picks": round(picks_s, 1),
                    "train_and_picks": round(train_s + picks_s, 1)},
        "train_stages_s": info["timings_s"],
        "picks_rows": picks.height,
        "model": info["model"],
        "gate": info["gate"],
        "windows": info["windows"],
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("datasets", nargs="*", default=["world", "online-retail"])
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--days", type=int, default=60)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    results = []
    if "world" in args.datasets:
        raw, home = prepare_world(args.groups, args.days)
        truth = pl.read_parquet(raw / "_truth" / "group_taste.parquet")
        as_of = WORLD_END - timedelta(days=6)
        results.append(bench_evaluate(home, as_of, f"world {args.groups} groups x {args.days} days", truth))
    if "nightly-stage" in args.datasets:  # alone in its process, so that the peak RSS is its own
        _, home = prepare_world(args.groups, args.days)
        label = f"world {args.groups} groups x {args.days} days"
        results.append(bench_nightly_stage(home, WORLD_END, label))
    if "online-retail" in args.datasets:
        results.append(bench_evaluate(prepare_online_retail(), date(2011, 11, 1), "online retail"))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()

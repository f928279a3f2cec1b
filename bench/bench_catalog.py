"""Does recsys training cost follow the candidates or the catalogue? The same groups, days and
orders with a catalogue of 5,000 and of 50,000 products (`circlebuy generate --products N`), timed
side by side in one run: `train_production` (tuning on the folds, features, ranker, refit).

    .venv/bin/python -m bench.bench_catalog [--groups 1000] [--days 60] [--products 5000,50000]

Data is built once under $CIRCLEBUY_BENCH_DIR (default /tmp/cb-bench-catalog) with the CLI.
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

from common.home import Home
from pipelines.warehouse import MODEL_DROP, load_frames
from recsys.production import train_production

ROOT = Path(os.environ.get("CIRCLEBUY_BENCH_DIR", "/tmp/cb-bench-catalog"))
CLI = str(Path(sys.executable).with_name("circlebuy"))
END = date(2026, 10, 20)  # no festival in the window: the catalogue is the only difference


def prepare(groups: int, days: int, products: int) -> Path:
    base = ROOT / f"g{groups}-d{days}-p{products}"
    raw, home = base / "raw", base / "home"
    if not (home / "warehouse.duckdb").exists():
        subprocess.run([CLI, "generate", "--out", str(raw), "--groups", str(groups), "--days", str(days),
                        "--end", END.isoformat(), "--seed", "7", "--products", str(products)],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run([CLI, "ingest", str(raw), "--home", str(home)], check=True, stdout=subprocess.DEVNULL)
    return home


def measure(home: Path) -> dict:
    frames = load_frames(Home(home), drop=MODEL_DROP)
    tick = time.perf_counter()
    prod = train_production(frames, END - timedelta(days=6))
    seconds = time.perf_counter() - tick
    return {"train_s": round(seconds, 1), "timings_s": prod.report.timings_s,
            "catalog": len(prod.signal.items), "orders": frames["orders"].height,
            "model": prod.report.model, "peak_rss_gib": round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--products", default="5000,50000")
    args = ap.parse_args()
    results = {}
    for n in (int(x) for x in args.products.split(",")):
        home = prepare(args.groups, args.days, n)
        results[n] = measure(home)
        print(json.dumps({n: results[n]}), flush=True)
    sizes = sorted(results)
    if len(sizes) >= 2:
        ratio = results[sizes[-1]]["train_s"] / results[sizes[0]]["train_s"]
        print(json.dumps({"ratio_train_s": round(ratio, 2), "target": "<= 2.0"}))


if __name__ == "__main__":
    main()

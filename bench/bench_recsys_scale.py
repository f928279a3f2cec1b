"""The nightly's recommendation work on a large world, in one process: `train_production` (tuning on
the folds, label windows, ranker, refit) then `make_picks` for every group, with each part's time and
the peak RSS (the issue-12 target on the M world: train + picks under 10 minutes and 8 GiB).

    .venv/bin/python -m bench.bench_recsys_scale --home HOME --date YYYY-MM-DD
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import date
from pathlib import Path

from threadpoolctl import threadpool_limits

from common.home import Home
from pipelines.warehouse import MODEL_DROP, load_frames
from recsys.picks import make_picks
from recsys.production import train_production


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True)
    parser.add_argument("--date", required=True)
    args = parser.parse_args()
    day = date.fromisoformat(args.date)
    tick = time.perf_counter()
    frames = load_frames(Home(Path(args.home)), drop=MODEL_DROP)
    load_s = time.perf_counter() - tick
    notes: list[str] = []
    with threadpool_limits(1, "blas"):
        tick = time.perf_counter()
        prod = train_production(frames, day, log=notes)
        train_s = time.perf_counter() - tick
        tick = time.perf_counter()
        picks, _ = make_picks(prod, day)
        picks_s = time.perf_counter() - tick
    print(json.dumps({
        "groups": frames["groups"].height, "orders": frames["orders"].height, "load_s": round(load_s, 1),
        "train_s": round(train_s, 1), "timings_s": prod.report.timings_s, "picks_s": round(picks_s, 1),
        "train_plus_picks_s": round(train_s + picks_s, 1), "model": prod.report.model,
        "picks": picks.height,
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "notes": notes,
    }))


if __name__ == "__main__":
    main()

"""Nightly pipeline benchmarks: the whole run on the S world, and the next day on the same home.

    .venv/bin/python -m bench.bench_nightly [--groups 2000] [--days 60] [--repeats 3]

For each repeat: a fresh home, `circlebuy nightly --date E-1 --raw DAY1` (everything known before
E-1 00:00, the first run) then `circlebuy nightly --date E --raw DAY2` (only day E-1's new rows:
the incremental next day). Each run is a subprocess, so its wall time and peak RSS are its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / ".venv" / "bin" / "circlebuy")
TZ = ZoneInfo("Asia/Shanghai")
EVENT_TIME = {"orders": "ordered_at", "posts": "posted_at", "feedback": "at"}


def read_table(raw: Path, name: str) -> pl.DataFrame | None:
    """A raw table from <name>.parquet, <name>.csv or a folder of parquet parts."""
    if (raw / f"{name}.parquet").exists():
        return pl.read_parquet(raw / f"{name}.parquet")
    if (raw / name).is_dir():
        parts = sorted((raw / name).glob("*.parquet"))
        return pl.concat([pl.read_parquet(p) for p in parts], how="diagonal_relaxed") if parts else None
    return None


def split_world(raw: Path, cut: datetime, day_end: datetime, day1: Path, day2: Path) -> None:
    """DAY1: events before `cut` (+ all reference tables); DAY2: events in [cut, day_end)."""
    for out in (day1, day2):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
    for name in ("suppliers", "products", "shopkeepers", "groups", "memberships", "campaigns",
                 "posts", "orders", "feedback"):
        frame = read_table(raw, name)
        if frame is None:
            continue
        column = EVENT_TIME.get(name)
        if column is None:
            frame.write_parquet(day1 / f"{name}.parquet")
            continue
        frame.filter(pl.col(column) < cut).write_parquet(day1 / f"{name}.parquet")
        frame.filter((pl.col(column) >= cut) & (pl.col(column) < day_end)).write_parquet(
            day2 / f"{name}.parquet")


def timed(cmd: list[str]) -> tuple[float, float, dict]:
    """Run a command; return (seconds, peak RSS of children in GiB so far, parsed JSON stdout)."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    return seconds, peak, json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--end", default="2026-11-20")
    parser.add_argument("--work", default="/tmp/cb-bench/nightly")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    end = date.fromisoformat(args.end)
    work = Path(args.work) / f"g{args.groups}-d{args.days}"
    raw = work / "raw"
    if not (raw / "_truth").exists():
        subprocess.run([CLI, "generate", "--out", str(raw), "--groups", str(args.groups),
                        "--days", str(args.days), "--end", str(end), "--seed", "7"], check=True)
    first_day, second_day = end - timedelta(days=1), end
    cut = datetime.combine(first_day, datetime.min.time(), tzinfo=TZ)
    split_world(raw, cut, cut + timedelta(days=1), work / "day1", work / "day2")
    firsts, seconds_, stage_rows = [], [], []
    for rep in range(args.repeats):
        home = work / f"home-{rep}"
        shutil.rmtree(home, ignore_errors=True)
        t1, _, s1 = timed([CLI, "nightly", "--date", str(first_day), "--raw", str(work / "day1"),
                           "--home", str(home), "--json"])
        t2, peak, s2 = timed([CLI, "nightly", "--date", str(second_day), "--raw",
                              str(work / "day2"), "--home", str(home), "--json"])
        firsts.append(t1)
        seconds_.append(t2)
        stage_rows.append((s1, s2))
        print(f"repeat {rep}: first {t1:.1f}s, next day {t2:.1f}s, peak RSS so far {peak:.2f} GiB",
              flush=True)
    s1, s2 = stage_rows[-1]
    print(f"\nworld: {args.groups} groups x {args.days} days (end {end})")
    print(f"first nightly  median {statistics.median(firsts):.1f}s  runs {[round(t, 1) for t in firsts]}")
    print(f"next-day       median {statistics.median(seconds_):.1f}s  runs "
          f"{[round(t, 1) for t in seconds_]}  ratio "
          f"{statistics.median(seconds_) / statistics.median(firsts):.2f}")
    print(f"peak RSS of any run: {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20:.2f} GiB")
    print("per-stage seconds (last repeat):")
    for a, b in zip(s1.get("stages", []), s2.get("stages", []), strict=False):
        print(f"  {a['name']:<9} first {a['seconds']:7.2f}s   next day {b['seconds']:7.2f}s")


if __name__ == "__main__":
    main()

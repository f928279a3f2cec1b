"""Generator benchmark: `circlebuy generate` of the S world (a few runs) and the M world (once or twice).

Each run is a child process (`python -m bench.bench_generate --child ...`) so its peak resident
memory is its own (resource.getrusage(RUSAGE_SELF).ru_maxrss, read by the child at its end).
Reports medians; target: M (--groups 20000 --days 90) under 180 s, memory under 8 GiB.

    .venv/bin/python -m bench.bench_generate [--s-runs 3] [--m-runs 1] [--format parquet] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

OUT = Path("bench/out/generate")
END = "2026-11-20"
SIZES = {"S": (2000, 60), "M": (20000, 90)}
TARGET_M_SECONDS, TARGET_GIB = 180.0, 8.0


def child(out: Path, groups: int, days: int, fmt: str) -> None:
    """Generate one world in this process and print its figures as one JSON line."""
    from pipelines.generate import run_generate

    started = time.perf_counter()
    summary = run_generate(out=out, groups=groups, days=days, end=date.fromisoformat(END), seed=7,
                           dirty=False, fmt=fmt, progress=False)
    rss_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"wall_s": round(time.perf_counter() - started, 2), "peak_rss_gib": round(rss_gib, 2),
                      "cpu_s": round(cpu.ru_utime + cpu.ru_stime, 1), "tables": summary["tables"]}))


def run_once(size: str, fmt: str) -> dict:
    groups, days = SIZES[size]
    out = OUT / size
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "bench.bench_generate", "--child", str(out), str(groups), str(days), fmt]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--s-runs", type=int, default=3)
    parser.add_argument("--m-runs", type=int, default=1)
    parser.add_argument("--format", default="parquet", choices=("parquet", "csv"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        out, groups, days, fmt = args.child
        child(Path(out), int(groups), int(days), fmt)
        return
    load = os.getloadavg()[0]
    report: dict = {"format": args.format, "end": END, "load_1min_at_start": round(load, 1), "sizes": {}}
    for size, runs in (("S", args.s_runs), ("M", args.m_runs)):
        if runs <= 0:
            continue
        results = []
        for k in range(runs):
            r = run_once(size, args.format)
            results.append(r)
            print(f"{size} run {k + 1}/{runs}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, "
                  f"peak {r['peak_rss_gib']:.2f} GiB, orders {r['tables']['orders']:,}",
                  file=sys.stderr, flush=True)
        groups, days = SIZES[size]
        report["sizes"][size] = {
            "command": f"circlebuy generate --out RAW --groups {groups} --days {days} --end {END} "
                       f"--format {args.format}",
            "runs": len(results),
            "median_wall_s": statistics.median(r["wall_s"] for r in results),
            "median_cpu_s": statistics.median(r["cpu_s"] for r in results),
            "max_peak_rss_gib": max(r["peak_rss_gib"] for r in results),
            "tables": results[0]["tables"],
        }
    if "M" in report["sizes"]:
        m = report["sizes"]["M"]
        m["target_ok"] = m["median_wall_s"] < TARGET_M_SECONDS and m["max_peak_rss_gib"] < TARGET_GIB
    report["load_1min_at_end"] = round(os.getloadavg()[0], 1)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for size, r in report["sizes"].items():
            print(f"{size}: median {r['median_wall_s']:.1f} s wall ({r['runs']} runs), "
                  f"CPU {r['median_cpu_s']:.1f} s, peak {r['max_peak_rss_gib']:.2f} GiB, "
                  f"orders {r['tables']['orders']:,}")
        print(f"load average (1 min) at start {report['load_1min_at_start']}, "
              f"at end {report['load_1min_at_end']}")


if __name__ == "__main__":
    main()

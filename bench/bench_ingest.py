"""Ingest benchmark: `circlebuy ingest` of the M world (20,000 groups, 90 days) into a fresh home.

Generates the world once into /tmp/cb-bench/M (reused when present), then per round ingests it
into an empty home (the first load) and ingests the same files again (every row a duplicate),
each as a child process whose wall time and peak resident memory (wait4's ru_maxrss) are taken.
Reports medians over the rounds: wall, CPU (user + system, readable on a shared machine) and
peak memory. Targets: first load < 120 s, peak memory < 4 GiB.

    .venv/bin/python -m bench.bench_ingest [--raw /tmp/cb-bench/M] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
END = "2026-11-20"
TARGET_SECONDS, TARGET_GIB = 120.0, 4.0


def ensure_world(raw: Path, groups: int, days: int) -> None:
    """Generate the world once; a folder with orders already in it is reused as is."""
    if any(raw.glob("orders*")):
        return
    print(f"generating {raw} (--groups {groups} --days {days}) ...", file=sys.stderr, flush=True)
    subprocess.run([str(BIN / "circlebuy"), "generate", "--out", str(raw), "--groups", str(groups),
                    "--days", str(days), "--end", END], check=True)


def run_child(args: list[str]) -> tuple[float, float, float, str]:
    """Run a command: (wall seconds, CPU seconds (user + system), peak RSS GiB of the child, stdout)."""
    started = time.perf_counter()
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = child.stdout.read() if child.stdout else b""
    err = child.stderr.read() if child.stderr else b""
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(args[:3])} failed: {err.decode()[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20, out.decode()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, default=Path("/tmp/cb-bench/M"))
    parser.add_argument("--groups", type=int, default=20000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    ensure_world(args.raw, args.groups, args.days)
    first, again, report = [], [], {}
    for _ in range(args.rounds):
        home = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
        try:
            cmd = [str(BIN / "circlebuy"), "ingest", str(args.raw), "--home", str(home), "--now", END,
                   "--json"]
            seconds, cpu, gib, out = run_child(cmd)
            first.append((seconds, cpu, gib))
            report = json.loads(out)
            seconds, cpu, gib, out = run_child(cmd)
            again.append((seconds, cpu, gib))
            assert all(t["loaded"] == 0 for t in json.loads(out)["tables"].values())
        finally:
            shutil.rmtree(home, ignore_errors=True)
    rows = sum(t["read"] for t in report["tables"].values())
    result = {
        "world": str(args.raw), "rounds": args.rounds, "rows_read": rows,
        "orders": report["tables"]["orders"]["read"],
        "first_load_seconds": statistics.median(s for s, _, _ in first),
        "first_load_cpu_seconds": statistics.median(c for _, c, _ in first),
        "first_load_peak_gib": statistics.median(g for _, _, g in first),
        "reingest_seconds": statistics.median(s for s, _, _ in again),
        "reingest_cpu_seconds": statistics.median(c for _, c, _ in again),
        "reingest_peak_gib": statistics.median(g for _, _, g in again),
        "load_average_after": os.getloadavg()[0],
        "all_first_load": first, "all_reingest": again,
    }
    result["meets_targets"] = (result["first_load_seconds"] < TARGET_SECONDS
                               and max(g for _, _, g in first + again) < TARGET_GIB)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{rows:,} rows ({result['orders']:,} order lines) from {args.raw}, {args.rounds} rounds")
        for label, key in (("first load", "first_load"), ("re-ingest ", "reingest")):
            seconds, cpu, gib = (result[key + s] for s in ("_seconds", "_cpu_seconds", "_peak_gib"))
            print(f"{label}: median {seconds:.1f}s wall, {cpu:.1f}s CPU, peak {gib:.2f} GiB")
        print(f"targets (< {TARGET_SECONDS:.0f}s, < {TARGET_GIB:.0f} GiB): "
              f"{'met' if result['meets_targets'] else 'NOT met'}")
    return result


if __name__ == "__main__":
    main()

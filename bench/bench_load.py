"""Resident memory of a table loaded from DuckDB, as handed over (`.pl()`) and as the warehouse
keeps it (`pipelines.warehouse._compact`), for short and long string ids.

    .venv/bin/python -m bench.bench_load [--rows 3000000] [--loads 4]

Each case runs in a child process: it loads the same table `loads` times, keeps every copy, and
reports the median RSS added per copy (MiB) after polars has had time to return freed memory.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(mode: str, width: int, rows: int, loads: int) -> float:
    """MiB resident per loaded copy of a table with a `width`-character id, in this process."""
    import duckdb

    from pipelines.warehouse import _compact

    con = duckdb.connect()
    con.execute(
        f"CREATE TABLE t AS SELECT 'm' || lpad(i::VARCHAR, {width - 1}, '0') AS id, "
        "'x' || (i % 1000)::VARCHAR AS short, i::BIGINT AS n, i * 0.5 AS d "
        f"FROM range({rows}) t(i)"
    )
    kept, steps, before = [], [], None
    for _ in range(loads):
        frame = con.execute("SELECT * FROM t").pl()
        kept.append(_compact(frame) if mode == "compacted" else frame)
        del frame
        gc.collect()
        time.sleep(1.5)  # polars' allocator returns freed pages after ~1 s
        now = _rss_mib()
        if before is not None:
            steps.append(now - before)
        before = now
    return statistics.median(steps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--loads", type=int, default=4)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "WIDTH"))
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        mode, width = args.child[0], int(args.child[1])
        print(json.dumps(measure(mode, width, args.rows, args.loads)))
        return
    results = []
    for width in (9, 31):
        for mode in ("as handed over", "compacted"):
            out = subprocess.run(
                [sys.executable, "-m", "bench.bench_load", "--rows", str(args.rows), "--loads",
                 str(args.loads), "--child", mode, str(width)],
                check=True, capture_output=True, text=True,
            ).stdout
            results.append({"id_chars": width, "frames": mode, "mib_per_copy": round(json.loads(out))})
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

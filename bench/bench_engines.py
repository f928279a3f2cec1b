"""The set-based stages on the two engines: DuckDB (embedded) against Spark local[1] and local[2].

    .venv/bin/python -m bench.bench_engines [--groups 2000] [--days 60] [--repeats 1]
                                            [--engines duckdb,spark:local[1],spark:local[2]]

Per engine, on the same generated world:
- `circlebuy ingest RAW --home H --engine E [--spark-master M] --json` on a fresh home, as a child
  process: wall time, peak RSS of the child and its descendants (the JVM) summed, sampled every
  0.25 s, and the counts (which must agree);
- the set-based definitions of pipelines/engine/definitions.py (pooling as of an instant, the
  panels' history and actuals, the signal's daily aggregates and exposures) over the warehouse's
  frames, in this process: seconds per definition, rows out, and on Spark the shuffle bytes
  written and read, from Spark's event log (one job description per definition).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = str(ROOT / ".venv" / "bin" / "circlebuy")


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc; the Spark driver's JVM is a child of the Python one)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return out


def _rss_gib(pids: list[int]) -> float:
    total = 0
    for p in pids:
        with contextlib.suppress(OSError):  # the process ended between listing and reading
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 2**20


def _child(cmd: list[str]) -> tuple[float, float, dict]:
    """Run a command; (seconds, peak RSS of it and its descendants together in GiB, its JSON)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, _rss_gib(_tree(proc.pid)))
        time.sleep(0.25)
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(stderr[-4000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return seconds, peak, json.loads(stdout)


SPARK_CONF: list[str] = []  # --spark-conf k=v, passed to every Spark run


def _engine_args(engine: str) -> list[str]:
    if engine == "duckdb":
        return ["--engine", "duckdb"]
    _, master = engine.split(":", 1)
    return ["--engine", "spark", "--spark-master", master, *[a for c in SPARK_CONF for a in ("--conf", c)]]


def world(work: Path, groups: int, days: int, end: date) -> Path:
    raw = work / f"g{groups}-d{days}" / "raw"
    if not (raw / "orders.parquet").exists() and not (raw / "orders").exists():
        shutil.rmtree(raw, ignore_errors=True)
        subprocess.run([CLI, "generate", "--out", str(raw), "--groups", str(groups), "--days", str(days),
                        "--end", str(end), "--seed", "7", "--format", "parquet"], check=True,
                       capture_output=True)
    return raw


def bench_ingest(raw: Path, work: Path, engine: str, repeats: int) -> dict:
    runs, peaks, counts = [], [], None
    for r in range(repeats):
        home = work / f"home-{engine.replace(':', '-').replace('[', '').replace(']', '')}-{r}"
        shutil.rmtree(home, ignore_errors=True)
        seconds, peak, out = _child([CLI, "ingest", str(raw), "--home", str(home), *_engine_args(engine),
                                     "--json"])
        runs.append(round(seconds, 1))
        peaks.append(peak)
        counts = out["tables"]
    return {"engine": engine, "runs": runs, "median_s": statistics.median(runs),
            "peak_rss_gib": round(max(peaks), 2), "tables": counts, "home": str(home)}


def _shuffle_by_job(log_dir: Path) -> dict[str, dict[str, int]]:
    """Shuffle bytes written / read per job description, summed over the event log's tasks."""
    job_of_stage: dict[int, str] = {}
    out: dict[str, dict[str, int]] = {}
    for path in sorted(p for p in log_dir.rglob("*") if p.is_file() and not p.name.startswith((".", "app"))):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            kind = event.get("Event")
            if kind == "SparkListenerJobStart":
                name = (event.get("Properties") or {}).get("spark.job.description") or "other"
                for stage in event.get("Stage IDs", []):
                    job_of_stage[stage] = name
            elif kind == "SparkListenerTaskEnd":
                metrics = event.get("Task Metrics") or {}
                name = job_of_stage.get(event.get("Stage ID"), "other")
                acc = out.setdefault(name, {"shuffle_write_bytes": 0, "shuffle_read_bytes": 0})
                acc["shuffle_write_bytes"] += (metrics.get("Shuffle Write Metrics") or {}).get(
                    "Shuffle Bytes Written", 0)
                read = metrics.get("Shuffle Read Metrics") or {}
                acc["shuffle_read_bytes"] += (read.get("Remote Bytes Read", 0)
                                              + read.get("Local Bytes Read", 0))
    return out


def bench_definitions(home: Path, engine: str, as_of_day: date, work: Path) -> dict:
    """Each set-based definition over the warehouse's frames, timed; Spark's shuffle bytes per one."""
    from common.clock import day_start
    from common.home import Home
    from pipelines.engine import definitions as d
    from pipelines.engine.base import engine_options
    from pipelines.engine.duckdb_engine import DuckDBEngine
    from pipelines.warehouse import MODEL_DROP, load_frames

    frames = load_frames(Home(home), drop=MODEL_DROP)
    as_of = day_start(as_of_day)
    jobs = {
        "pool_daily": (d.pool_daily(as_of + timedelta(hours=12)), "daily"),
        "history": (d.history(as_of), "daily"),
        "actuals": (d.actuals(as_of, 7), "daily"),
        "signal_days": (d.signal_days(as_of), "signal_days"),
        "post_answers": (d.post_answers(as_of), "post_answers"),
        "member_lines": (d.member_lines(as_of), "member_lines"),
    }
    timings: dict[str, dict] = {}
    if engine == "duckdb":
        eng = DuckDBEngine()
        spark = None
    else:
        from pipelines.engine.spark_engine import SparkEngine, build_session

        log_dir = work / f"eventlog-{engine.replace(':', '-').replace('[', '').replace(']', '')}"
        shutil.rmtree(log_dir, ignore_errors=True)
        log_dir.mkdir(parents=True)
        options = engine_options("spark", engine.split(":", 1)[1], [
            "spark.eventLog.enabled=true", f"spark.eventLog.dir=file://{log_dir}",
            "spark.eventLog.compress=false", "spark.eventLog.rolling.enabled=false", *SPARK_CONF])
        spark = build_session(options)
        eng = SparkEngine(spark)
    tick = time.perf_counter()
    d.register_frames(eng, frames)
    timings["register_frames"] = {"seconds": round(time.perf_counter() - tick, 2)}
    for name, (sql, schema) in jobs.items():
        if spark is not None:
            spark.sparkContext.setJobDescription(name)
        tick = time.perf_counter()
        rows = d.run(eng, sql, schema).height
        timings[name] = {"seconds": round(time.perf_counter() - tick, 2), "rows": rows}
    if spark is not None:
        spark.sparkContext.setJobDescription(None)
        eng.close()
        spark.stop()
        for name, shuffle in _shuffle_by_job(log_dir).items():
            if name in timings:
                timings[name].update(shuffle)
    return timings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--end", default="2026-11-20")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--engines", default="duckdb,spark:local[1],spark:local[2]")
    parser.add_argument("--work", default="/tmp/cb-bench/engines")
    parser.add_argument("--spark-conf", action="append", default=[],
                        help="A Spark setting k=v for every Spark run (repeatable): spark.driver.memory=8g")
    parser.add_argument("--home", default=None,
                        help="Definitions only, on this home (ingested before); skips the ingest runs")
    args = parser.parse_args(argv)
    SPARK_CONF.extend(args.spark_conf)
    work = Path(args.work)
    end = date.fromisoformat(args.end)
    raw = world(work, args.groups, args.days, end)
    results = []
    reference_home = None
    for engine in args.engines.split(","):
        if args.home:
            result = {"engine": engine}
            reference_home = Path(args.home)
        else:
            result = bench_ingest(raw, work, engine, args.repeats)
            print(f"{engine:<16} ingest median {result['median_s']:.1f}s runs {result['runs']} "
                  f"peak RSS {result['peak_rss_gib']} GiB (process tree)", flush=True)
            if reference_home is None:
                reference_home = Path(result["home"])
        result["definitions"] = bench_definitions(reference_home, engine, end - timedelta(days=7), work)
        for name, t in result["definitions"].items():
            extra = "".join(f"  {k} {v:,}" for k, v in t.items() if k != "seconds")
            print(f"  {name:<18} {t['seconds']:>7.2f}s{extra}", flush=True)
        results.append(result)
    base = results[0].get("tables")
    for r in results[1:]:
        if base is not None and r.get("tables") is not None and r["tables"] != base:
            raise SystemExit(f"ingest counts differ between {results[0]['engine']} and {r['engine']}")
    out = work / "bench_engines.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"written {out}")


if __name__ == "__main__":
    main()

"""API benchmark: picks throughput vs a bare FastAPI route, and a 60 s soak at a steady rate.

Needs `wrk` (Debian: `apt-get install -y wrk`). Everything runs on loopback: one uvicorn worker
(uvloop + httptools) serving an S-size snapshot (2,000 groups x 10 picks, 500 shopkeepers with a
key each); wrk with one thread and 32 connections asks for a random group's picks with that
group's shopkeeper key. In the same run, the same wrk settings hit a bare FastAPI app whose one
route returns a prepared byte string of the same size. Rounds alternate bare / picks; medians
are reported. The soak holds ~1,500 req/s (wrk's per-connection delay) for 60 s and checks zero
errors and resident memory growth of the server under 10%.

    .venv/bin/python -m bench.bench_api [--rounds 5] [--seconds 8] [--soak-seconds 60] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fastapi import FastAPI, Response

from api.keys import create_keys
from common.home import Home
from tests.api.world import large_world, write_snapshot

PYTHON = sys.executable


def bare_app() -> FastAPI:
    """The reference: a FastAPI route returning a prepared byte string (no auth, no middleware)."""
    body = os.environ.get("BENCH_BARE_BODY", "x" * 2000).encode("utf-8")
    app = FastAPI()

    @app.get("/bare/{group_id}")
    async def bare(group_id: str) -> Response:
        return Response(body, media_type="application/json")

    return app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(target: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [
        PYTHON,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
    ]
    with open(log, "wb") as err:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=err)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(
                url + "/readyz" if "api.server" in target else url + "/bare/x", timeout=1
            ):
                return proc, url
        except Exception:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server {target} did not start; see {log}")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def lua_script(path: Path, pairs: list[tuple[str, str]], delay_ms: int | None = None) -> Path:
    """A wrk script that picks a random (path, key) pair per request."""
    entries = ",\n".join(f'{{"{p}", "{k}"}}' for p, k in pairs)
    delay = f"function delay() return {delay_ms} end\n" if delay_ms else ""
    path.write_text(
        f"local pairs = {{\n{entries}\n}}\nlocal n = #pairs\nmath.randomseed(7)\n"
        "request = function()\n  local e = pairs[math.random(n)]\n"
        '  return wrk.format("GET", e[1], {["Authorization"] = "Bearer " .. e[2]})\nend\n' + delay
    )
    return path


def parse_latency(text: str) -> float:
    """Milliseconds from wrk's '99%    12.34ms' style values."""
    value = float(re.findall(r"[\d.]+", text)[0])
    unit = re.findall(r"[a-z]+$", text.strip())[0]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, script: Path, seconds: int, connections: int = 32) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_latency(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = parse_latency(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "requests": total, "errors": errors}


def prepare(root: Path) -> tuple[Home, list[tuple[str, str]], int]:
    home = Home(root / "home")
    home.ensure()
    world = large_world()
    write_snapshot(home, world, run_id="bench-1")
    owners = dict(world["groups"].select("group_id", "shopkeeper_id").iter_rows())
    shopkeepers = sorted(set(owners.values()))
    key_of = dict(zip(shopkeepers, create_keys(home, [("shopkeeper", s) for s in shopkeepers]), strict=True))
    pairs = [(f"/v1/groups/{g}/picks", key_of[s]) for g, s in owners.items()]
    from api.snapshot import load_snapshot

    snap = load_snapshot(home.current)
    sizes = [len(snap.picks_body(g, None)) for g in list(owners)[:200]]
    return home, pairs, int(statistics.median(sizes))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="bench.bench_api")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--soak-seconds", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(
        argv if argv is not None else sys.argv[2:] if sys.argv[1:2] == ["api"] else sys.argv[1:]
    )
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    load_before = os.getloadavg()
    others = busy_processes()
    root = Path(tempfile.mkdtemp(prefix="bench_api_"))
    home, pairs, body_size = prepare(root)
    random.seed(7)
    app_env = {"CIRCLEBUY_HOME": str(home.root), "CIRCLEBUY_ACCESS_LOG": "1"}
    app_script = lua_script(root / "picks.lua", pairs)
    bare_script = lua_script(
        root / "bare.lua", [(p.replace("/v1/groups/", "/bare/").removesuffix("/picks"), k) for p, k in pairs]
    )
    bare_env = {"BENCH_BARE_BODY": "x" * body_size}
    results: dict[str, list[dict]] = {"bare": [], "picks": []}
    for _ in range(args.rounds):
        for name, target, env, script in (
            ("bare", "bench.bench_api:bare_app", bare_env, bare_script),
            ("picks", "api.server:app_from_env", app_env, app_script),
        ):
            proc, url = start_server(target, env, root / f"{name}.log")
            try:
                run_wrk(url, script, 2)  # warm-up
                results[name].append(run_wrk(url, script, args.seconds))
            finally:
                stop_server(proc)
    summary = {
        k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p50_ms", "p99_ms")}
        | {"errors": sum(r["errors"] for r in v), "runs": v}
        for k, v in results.items()
    }
    # the machine is shared: compare each picks run with the bare run just before it, then take the median
    pair_ratios = [p["rps"] / b["rps"] for b, p in zip(results["bare"], results["picks"], strict=True)]
    summary["pair_ratios"] = [round(r, 3) for r in pair_ratios]
    summary["ratio"] = statistics.median(pair_ratios)
    summary["body_bytes"] = body_size
    if args.soak_seconds:
        proc, url = start_server("api.server:app_from_env", app_env, root / "soak.log")
        try:
            soak_script = lua_script(root / "soak.lua", pairs, delay_ms=5)
            run_wrk(url, soak_script, 5, connections=8)  # warm-up: caches, allocator
            rss0 = rss_kib(proc.pid)
            soak = run_wrk(url, soak_script, args.soak_seconds, connections=8)
            rss1 = rss_kib(proc.pid)
        finally:
            stop_server(proc)
        soak |= {"rss_start_kib": rss0, "rss_end_kib": rss1, "rss_growth": (rss1 - rss0) / rss0}
        summary["soak"] = soak
    summary["load_avg_before"] = load_before
    summary["load_avg_after"] = os.getloadavg()
    summary["other_processes"] = others
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    shutil.rmtree(root, ignore_errors=True)
    return summary


def busy_processes(limit: int = 8) -> list[str]:
    """What else was using the (shared) CPUs when the benchmark started."""
    out = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True).stdout
    rows = [line.strip() for line in out.splitlines()[1:] if line.strip()]
    return [r[:140] for r in rows if float(r.split()[0]) >= 5.0][:limit]


def render(s: dict) -> str:
    lines = [
        f"picks body ~{s['body_bytes']} B, 1 uvicorn worker, wrk -t1 -c32, "
        f"medians of {len(s['picks']['runs'])}"
    ]
    for k in ("bare", "picks"):
        lines.append(
            f"{k:>6}: {s[k]['rps']:,.0f} req/s  p50 {s[k]['p50_ms']:.2f} ms  p99 {s[k]['p99_ms']:.2f} ms  "
            f"errors {s[k]['errors']}  runs {[round(r['rps']) for r in s[k]['runs']]}"
        )
    lines.append(f"ratio picks/bare (median of paired rounds): {s['ratio']:.2f}  pairs {s['pair_ratios']}")
    if "soak" in s:
        k = s["soak"]
        lines.append(
            f"soak: {k['requests']:,} requests at {k['rps']:,.0f} req/s, p99 {k['p99_ms']:.2f} ms, "
            f"errors {k['errors']}, RSS {k['rss_start_kib'] / 1024:.1f} -> {k['rss_end_kib'] / 1024:.1f} MiB "
            f"({k['rss_growth']:+.1%})"
        )
    lines.append(f"load average before {s['load_avg_before']}, after {s['load_avg_after']}")
    lines += [f"  busy: {p}" for p in s["other_processes"]]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

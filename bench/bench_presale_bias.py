"""Pre-sale nowcast bias and P10–P90 coverage of `production` per as-of date and share of the window.

For each as-of date, `evaluate_presale` (the `presale` block of `circlebuy evaluate`) fits the
PresaleForecaster as of that date's 00:00 and nowcasts every campaign × warehouse closing in the 7
days after it at 0 / 25 / 50 / 75% of its window; this prints production's bias and coverage per
share, the fit's seconds and the block's seconds, and (with --json FILE) writes them.

The CNY festival world (calendar: stock-up 2026-02-03..02-16, lull 02-17..02-28, Lantern sale
02-24..03-02) is built once by

    circlebuy generate --out /tmp/cny/raw --groups 1000 --start 2025-12-01 --end 2026-03-20 --seed 11
    circlebuy ingest /tmp/cny/raw --home /tmp/cny/home

and measured by

    PYTHONPATH=$PWD .venv/bin/python -m bench.bench_presale_bias --home /tmp/cny/home \
        [--dates 2026-01-19,2026-02-02,2026-02-16,2026-03-02,2026-03-09] [--json out.json] [--fit-only]

--fit-only times PresaleForecaster.fit alone (the event analog's fits included). --no-analog runs
without the event analog (aggregation.presale_analog). --nowcast KEY=VALUE (repeatable) overrides a field of
the nowcast's config (aggregation.nowcast.NowcastConfig) for a side-by-side run, e.g. `--nowcast
jitter=false`.

One process, one date after another (a heavy run: about a minute per date on two cores).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields, replace
from datetime import date
from pathlib import Path

from aggregation.nowcast import NowcastConfig
from aggregation.presale import PresaleForecaster
from common.home import Home
from pipelines.evaluate.config import EvaluateConfig
from pipelines.evaluate.forecast import evaluate_presale
from pipelines.warehouse import MODEL_DROP, day_start, load_frames

DATES = ("2026-01-19", "2026-02-02", "2026-02-16", "2026-03-02", "2026-03-09")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", default="/tmp/cny/home")
    ap.add_argument("--dates", default=",".join(DATES))
    ap.add_argument("--model", default="production")
    ap.add_argument("--fit-only", action="store_true", help="time the PresaleForecaster fit alone")
    ap.add_argument("--json", default=None)
    ap.add_argument("--no-analog", action="store_true",
                    help="without the event analog (aggregation.presale_analog), for a side-by-side run")
    ap.add_argument("--nowcast", action="append", default=[], metavar="KEY=VALUE",
                    help="override a NowcastConfig field (bool, int, float or text)")
    args = ap.parse_args()
    overrides = nowcast_overrides(args.nowcast)
    frames = load_frames(Home(Path(args.home)), drop=MODEL_DROP)
    out = {}
    for d in args.dates.split(","):
        config = EvaluateConfig(as_of_day=date.fromisoformat(d))
        if overrides:
            presale = config.presale
            config = replace(config, presale=replace(presale, nowcast=replace(presale.nowcast, **overrides)))
        if args.no_analog:
            config = replace(config, presale=replace(config.presale, analog=replace(
                config.presale.analog, enabled=False)))
        if args.fit_only:
            tick = time.perf_counter()
            model = PresaleForecaster(config.presale).fit(frames, day_start(config.as_of_day))
            out[d] = {"fit_seconds": round(time.perf_counter() - tick, 2),
                      "train_windows": model.train_units_}
            print(f"{d}  fit {out[d]['fit_seconds']:.1f}s  ({model.train_units_} training windows)",
                  flush=True)
            continue
        tick = time.perf_counter()
        block = evaluate_presale(frames, config)
        seconds = time.perf_counter() - tick
        rows = {s: block["at_share"][s][args.model] for s in block.get("at_share", {})}
        out[d] = {"seconds": round(seconds, 1), "windows": block.get("windows_evaluated"),
                  "event_analog": block.get("event_analog"),
                  **{k: {s: r[k] for s, r in rows.items()} for k in ("wape", "bias", "pinball",
                                                                      "coverage_p10_p90")}}
        wape = " / ".join(f"{r['wape']:.3f}" for r in rows.values())
        bias = " / ".join(f"{100 * r['bias']:+.1f}" for r in rows.values())
        pinball = " / ".join(f"{r['pinball']:.3f}" for r in rows.values())
        cov = " / ".join(f"{r['coverage_p10_p90']:.2f}" for r in rows.values())
        print(f"{d}  wape {wape}  bias% {bias}  pinball {pinball}  coverage {cov}  "
              f"({block.get('windows_evaluated')} windows, {seconds:.0f}s)", flush=True)
        for said in block.get("event_analog") or []:
            bands = " / ".join(f"{b['week_ratio']:.2f}" if said["applied"] else "-"
                               for b in said.get("bands", []))
            print(f"    {said['label']} {said['event_day']} from {said['analog_origin']}: "
                  f"{'applied' if said['applied'] else 'not applied'} (to come / forecast per band: "
                  f"{bands or said.get('reason')})", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


def nowcast_overrides(pairs: list[str]) -> dict:
    """{field: value} from KEY=VALUE pairs, each value read as its NowcastConfig field's type."""
    types = {f.name: type(f.default) for f in fields(NowcastConfig)}
    out = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        if key not in types:
            raise SystemExit(f"--nowcast {pair}: unknown field {key!r}; known: {', '.join(types)}")
        kind = types[key]
        out[key] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
    return out


if __name__ == "__main__":
    main()

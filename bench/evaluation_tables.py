"""Markdown tables of a rolling-origin `circlebuy evaluate --json` result, for BENCHMARKS.md.

    .venv/bin/circlebuy evaluate --home H --as-of D1,D2,... --json > eval.json
    .venv/bin/python -m bench.evaluation_tables eval.json

Per date: recsys NDCG@10 of every model with its 90% bootstrap interval over groups, and whether
production's gap to the model is real (paired interval excludes zero); forecasts on the head
series (7-day totals): total WAPE with its interval over series, bias and daily P10-P90 coverage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _f(x: object, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def _ci(ci: list | None) -> str:
    return "–" if not ci or ci[0] is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def recsys_table(results: list[dict]) -> list[str]:
    names = list(results[0]["recsys"]["models"])
    head = "| model | " + " | ".join(r["as_of"] for r in results) + " | mean |"
    out = [head, "|" + "---|" * (len(results) + 2)]
    for name in names:
        cells, values = [], []
        for r in results:
            rec = r["recsys"]
            v = rec["models"].get(name, {}).get("ndcg@10")
            ci = rec.get("intervals", {}).get("ndcg@10", {}).get(name)
            gap = rec.get("intervals", {}).get("production_minus_model_ndcg@10", {}).get(name)
            mark = "" if gap is None else (" *" if gap["real"] else "")
            cells.append(f"{_f(v)} {_ci(ci)}{mark}")
            values.append(v)
        mean = sum(values) / len(values) if all(v is not None for v in values) else None
        label = f"**{name}**" if name == "production" else name
        out.append(f"| {label} | " + " | ".join(cells) + f" | {_f(mean)} |")
    out.append("")
    out.append("`*`: production's gap to this model is real (paired 90% interval excludes zero).")
    out.append("")
    rows = ["| as of | published | best generator (folds) | production / best on test | fallback |",
            "|---|---|---|---|---|"]
    for r in results:
        rec = r["recsys"]
        lift = rec.get("lift", {})
        ratio = f"{_f(lift.get('production_vs_best_generator'))} ({lift.get('best_generator_on_test')})"
        rows.append(f"| {r['as_of']} | {rec.get('production_model')} | {rec.get('best_generator')} | "
                    f"{ratio} | {rec.get('fallback_reason') or '–'} |")
    return out + rows


def forecast_table(results: list[dict]) -> list[str]:
    first = next((r["forecast"]["head"] for r in results if r["forecast"].get("head")), None)
    if first is None:
        return ["(no head series)"]
    names = list(first["models"])
    out = ["| model | " + " | ".join(
        f"{r['as_of']} ({r['forecast'].get('head', {}).get('series', 0)} series)" for r in results) + " |",
           "|" + "---|" * (len(results) + 1)]
    for name in names:
        cells = []
        for r in results:
            head = r["forecast"].get("head") or {}
            m = head.get("models", {}).get(name)
            if m is None:
                cells.append("–")
                continue
            ci = head.get("intervals", {}).get("total_wape", {}).get(name)
            cells.append(f"{_f(m['total_wape'])} {_ci(ci)} · bias {_f(m['bias'], 2)} · "
                         f"cov {_f(m['coverage_p10_p90'], 2)}")
        label = f"**{name}**" if name == "production" else name
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("")
    rows = ["| as of | published method | production / best statsforecast (head total WAPE) | best |",
            "|---|---|---|---|"]
    for r in results:
        head = (r["forecast"].get("head") or {}).get("models", {})
        stats = {n: m["total_wape"] for n, m in head.items()
                 if n != "production" and m["total_wape"] is not None}
        best = min(stats, key=stats.get) if stats else None
        prod = head.get("production", {}).get("total_wape")
        ratio = prod / stats[best] if best and prod is not None and stats[best] else None
        method = (r["forecast"].get("production_is") or {}).get("method")
        rows.append(f"| {r['as_of']} | {method} | {_f(ratio)} | {best} ({_f(stats.get(best))}) |")
    return out + rows


def main(path: str) -> None:
    result = json.loads(Path(path).read_text())
    results = result.get("dates", [result])
    print("### Recommendations: NDCG@10 [90% interval over groups]\n")
    print("\n".join(recsys_table(results)))
    print("\n### Forecasts, head series, 7-day totals: total WAPE [90% interval over series]\n")
    print("\n".join(forecast_table(results)))


if __name__ == "__main__":
    main(sys.argv[1])

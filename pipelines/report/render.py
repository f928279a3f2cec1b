"""Render a ReportContext as one self-contained HTML page: inline CSS, inline SVG, no links out.

Every part of the context may be missing; its section then says "not available in this run".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time

import polars as pl

from common.charts import bar_chart, esc, fan_chart, fmt_number, fmt_pct, fmt_qty
from common.contract import RULES
from pipelines.report.context import ReportContext

SECTIONS = (
    ("summary", "Run summary"),
    ("rows", "Rows and quarantine"),
    ("ranking", "Ranking: every model against the baselines"),
    ("forecast", "Forecast accuracy and interval coverage"),
    ("curves", "Booking curves of the largest open campaigns"),
    ("business", "How the business looks"),
    ("vintages", "Published picks, scored after the fact"),
    ("gates", "Quality gates and fallbacks"),
    ("notes", "Notes"),
)
SECTION_TITLES = tuple(title for _, title in SECTIONS)
MAX_CURVES = 12
NOT_AVAILABLE = "not available in this run"
RANKING_METRICS = ("ndcg@", "recall@", "precision@", "map@", "hit@", "coverage")
RECSYS_BASELINE, FORECAST_BASELINE = "popularity", "seasonal_naive"

CSS = """
:root{--ink:#1f2933;--muted:#616e7c;--line:#e4e7eb;--bg:#f7f8fa;--ok:#1b7f4b;--bad:#b42318;--warn:#b25e09}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
main{max-width:980px;margin:0 auto;padding:16px}
header{padding:8px 0 4px}
h1{font-size:1.5rem;margin:0 0 4px}
h2{font-size:1.2rem;margin:0 0 12px}
h3{font-size:1rem;margin:18px 0 8px}
section{background:#fff;border:1px solid var(--line);border-radius:10px;padding:16px;margin:14px 0}
nav{font-size:.9rem;margin:6px 0 0;display:flex;flex-wrap:wrap;gap:2px 14px}
nav a{color:var(--muted)}
.meta{color:var(--muted);margin:0}
.na{color:var(--muted);font-style:italic}
.muted{color:var(--muted);font-size:.9rem}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:.85rem;font-weight:600;color:#fff}
.s-ok{background:var(--ok)}.s-bad{background:var(--bad)}.s-warn{background:var(--warn)}
.scroll{overflow-x:auto;margin:8px 0}
table{border-collapse:collapse;width:100%;font-size:.9rem;font-variant-numeric:tabular-nums}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
td .text{white-space:normal;display:inline-block;min-width:14em;text-align:left}
th{color:var(--muted);font-weight:600}
tr.base td{color:var(--muted)}
tr.prod td{font-weight:600}
.bar{display:inline-block;height:8px;background:#0072B2;border-radius:2px;vertical-align:middle}
figure{margin:10px 0 14px}
figcaption{color:var(--muted);font-size:.85rem;margin-top:2px}
svg.chart{display:block;overflow:visible}
svg.bars{max-width:760px;font-variant-numeric:tabular-nums}
svg.fan{max-width:560px;height:auto}
.legend{display:flex;flex-wrap:wrap;gap:2px 14px;font-size:.85rem;color:var(--muted);margin:2px 0 6px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
.legend i.line{width:22px;height:0;border-top:2px solid #1f2933;border-radius:0;vertical-align:3px}
.legend i.dash{width:22px;height:0;border-top:2px dashed #0072B2;border-radius:0;vertical-align:3px}
.legend i.band{width:22px;background:rgba(0,114,178,.25)}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.grid figure{margin:0;border:1px solid var(--line);border-radius:8px;padding:8px}
ul.gates{list-style:none;padding:0;margin:0}
ul.gates li{padding:8px 0;border-bottom:1px solid var(--line)}
@media (max-width:600px){main{padding:8px}section{padding:12px;border-radius:8px}body{font-size:14px}}
"""


def render_report(ctx: ReportContext) -> str:
    """The whole report for one run as an HTML document (a string); never fetches anything."""
    body = [
        _header(ctx),
        _section("summary", _summary(ctx)),
        _section("rows", _rows(ctx)),
        _section("ranking", _ranking(ctx.recsys)),
        _section("forecast", _forecast(ctx.forecast)),
        _section("curves", _curves(ctx.booking_curves, ctx.booking_curves_missing)),
        _section("business", _business(ctx.business)),
        _section("vintages", _vintage_trend(ctx.vintages)),
        _section("gates", _gates(ctx.gates)),
        _section("notes", _notes(ctx.notes)),
    ]
    title = f"circlebuy run {ctx.run_id} · {ctx.date}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


# --- what the pick rules cost ---------------------------------------------------------------------


def rules_cost(recsys: dict | None, k: int | None = None) -> dict | None:
    """Published picks (after the business rules) against production (the ranker before them) and
    popularity, on the recsys block's NDCG@k; None when one of the three is missing."""
    models = (recsys or {}).get("models") or {}
    key = f"ndcg@{k}" if k else next((m for p in models.values() if isinstance(p, dict) for m in p
                                      if str(m).startswith("ndcg@")), None)
    if key is None:
        return None
    values = {n: _num((models.get(n) or {}).get(key)) for n in ("picks", "production", RECSYS_BASELINE)}
    if any(v is None for v in values.values()):
        return None
    picks, prod, pop = values["picks"], values["production"], values[RECSYS_BASELINE]
    return {"metric": key, "picks": picks, "production": prod, "popularity": pop,
            "cost": prod - picks, "picks_below_popularity": picks < pop,
            "production_model": (recsys or {}).get("production_model")}


def production_words(model: str | None) -> str:
    """What "production" is, in words: the ranker, or the generator published in its place."""
    if not model or model == "ranker":
        return "the ranker"
    return f"the generator {model!r}, published as the ranker's fallback"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def rules_cost_sentence(cost: dict) -> str:
    """One plain sentence: what shopkeepers get, what the rules cost, and against popularity."""
    metric = cost["metric"].upper()
    share = f" ({cost['cost'] / cost['production']:.0%} of production's)" if cost["production"] > 0 else ""
    lost = (f"the rules cost {cost['cost']:.3f}{share}" if cost["cost"] > 0
            else f"the rules cost nothing here ({-cost['cost']:.3f} better than production)")
    model = cost.get("production_model")
    before_rules = ("the ranker before the rules" if not model or model == "ranker"
                    else f"{production_words(model)}, before the rules")
    verdict = ("so shopkeepers get picks BELOW the popularity baseline" if cost["picks_below_popularity"]
               else "so shopkeepers get picks at or above the popularity baseline")
    return (f"what shopkeepers get: the published picks (after the business rules) score {metric} "
            f"{cost['picks']:.3f}, production ({before_rules}) {cost['production']:.3f}, "
            f"popularity {cost['popularity']:.3f}; {lost}, {verdict}")


# --- what the forecast block's production really is ----------------------------------------------

DAILY_MODELS = ("daily_ensemble", "daily_gbm")  # the daily production methods that are not a fallback


def forecast_fallback(forecast: dict | None) -> dict | None:
    """When the forecast block's production is a fallback (its gate failed: seasonal naive in place of
    the ensemble / booster, or the short-history baseline), what was published and why; else None.
    {"method", "model", "trained", "reason", "production_wape", "seasonal_naive_wape"}."""
    production_is = (forecast or {}).get("production_is")
    if not isinstance(production_is, dict):
        return None
    gate = production_is.get("gate") if isinstance(production_is.get("gate"), dict) else {}
    method = str(production_is.get("method") or "")
    if gate.get("passed") is not False and (not method or method in DAILY_MODELS):
        return None
    return {"method": method or "seasonal_naive", "model": production_is.get("model"),
            "trained": gate.get("trained"), "reason": str(gate.get("reason") or ""),
            "production_wape": _num(gate.get("production_wape")),
            "seasonal_naive_wape": _num(gate.get("seasonal_naive_wape"))}


def forecast_fallback_sentence(fallback: dict) -> str:
    """One plain sentence: which forecast stands in for the production model, and the numbers why."""
    method, model = fallback["method"], fallback.get("model")
    words = method.replace("_", " ")
    why = f" ({fallback['reason']})" if fallback.get("reason") else ""
    if fallback.get("trained") is False or method.startswith("short_history"):
        return (f"the daily forecast's production is the short-history fallback ({method}), not a "
                f"trained model{why}")
    prod, naive = fallback.get("production_wape"), fallback.get("seasonal_naive_wape")
    if not why and prod is not None and naive is not None:
        why = f" (WAPE {prod:.3f} vs seasonal naive {naive:.3f})"
    named = f"the {model} model" if model else "the production model"
    return (f"the daily forecast's production is the {words} fallback, not {named}, which did worse "
            f"than seasonal naive{why}; {words} is what the daily forecast publishes and what the "
            "evaluation scores as 'production'")


def forecast_baseline_gap(forecast: dict | None) -> dict | None:
    """Production's held-out error against the best statistical baseline the evaluation measured, when
    production is worse (daily WAPE, and the head series' horizon totals when scored); else None.
    {"daily": comparison | None, "head": comparison | None}, a comparison being {"baseline",
    "baseline_wape", "production_wape", "gap", "relative"}."""
    def worst(models: dict, metric: str) -> dict | None:
        prod = _num((models.get("production") or {}).get(metric))
        scored = {str(n): _num(m.get(metric)) for n, m in models.items()
                  if n != "production" and isinstance(m, dict)}
        scored = {n: v for n, v in scored.items() if v is not None}
        if prod is None or not scored:
            return None
        best = min(scored, key=lambda n: (scored[n], n))
        if prod <= scored[best]:
            return None
        gap = prod - scored[best]
        return {"baseline": best, "baseline_wape": scored[best], "production_wape": prod, "gap": gap,
                "relative": gap / scored[best] if scored[best] > 0 else None}

    daily = worst((forecast or {}).get("models") or {}, "wape")
    head_block = (forecast or {}).get("head") or {}
    head = worst(head_block.get("models") or {}, "total_wape")
    if head is not None:
        head["totals"] = _totals_of(head_block)
    if daily is None and head is None:
        return None
    return {"daily": daily, "head": head}


def _totals_of(head: dict) -> str:
    """"7-day totals", or the horizon the evaluation scored (`--horizon-days`)."""
    days = head.get("horizon_days")
    return f"{days}-day totals" if isinstance(days, int) else "7-day totals"


def forecast_baseline_short(gap: dict) -> str:
    """The gap in a few words for the gate line: production's WAPE against the best baseline's."""
    g, what = ((gap["daily"], "daily WAPE") if gap.get("daily")
               else (gap["head"], f"head {gap['head'].get('totals', '7-day totals')} WAPE"))
    rel = f", +{g['relative']:.0%}" if g.get("relative") is not None else ""
    return (f"production's {what} {g['production_wape']:.3f} is worse than the best statistical "
            f"baseline, {g['baseline']} ({g['baseline_wape']:.3f}{rel})")


def forecast_baseline_sentence(gap: dict) -> str:
    """One plain sentence: which baseline beat production on the held-out window, and by how much."""
    def part(g: dict, what: str) -> str:
        rel = f", {g['relative']:.0%} more error" if g.get("relative") is not None else ""
        return (f"{what} production's WAPE {g['production_wape']:.3f} is worse than {g['baseline']}'s "
                f"{g['baseline_wape']:.3f} by {g['gap']:.3f}{rel}")
    parts = [part(g, w) for g, w in ((gap.get("daily"), "on every series' daily cells"),
                                     (gap.get("head"), "on the head series' "
                                      + (gap.get("head") or {}).get("totals", "7-day totals"))) if g]
    return ("production is worse than the best statistical baseline on the held-out window: "
            + "; ".join(parts) + " (the quality gate compares production with seasonal naive only)")


# --- small helpers -------------------------------------------------------------------------------


def _num(value: object) -> float | None:
    """A finite float from a metric value, or None (missing, text, bool, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _cell(value: object) -> str:
    v = _num(value)
    if v is None:
        return "–" if value is None or isinstance(value, int | float) else esc(value)
    if isinstance(value, int):
        return f"{value:,}"
    return fmt_number(v)


def _na(what: str = "") -> str:
    return f'<p class="na">{esc(what + ": " if what else "")}{NOT_AVAILABLE}.</p>'


def _section(anchor: str, inner: str) -> str:
    title = dict(SECTIONS)[anchor]
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{inner}</section>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] = ()) -> str:
    """Cells must already be escaped HTML."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    trs = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if i < len(row_classes) and row_classes[i] else ""
        trs.append(f"<tr{cls}>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>")
    body = "".join(trs)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>" if svg else ""


def _seconds(value: object) -> str:
    s = _num(value)
    if s is None:
        return "–"
    if s < 60:
        return f"{s:.1f} s"
    minutes, rest = divmod(round(s), 60)
    return f"{minutes} min {rest:02d} s"


def _status_class(status: str) -> str:
    s = status.lower()
    if s in {"success", "succeeded", "ok", "published", "publishing", "passed"}:
        return "s-ok"
    if s in {"failed", "failure", "error", "killed", "not published", "refused"}:
        return "s-bad"
    return "s-warn"


def _is_baseline(name: str) -> bool:
    return any(w in name.lower() for w in ("popular", "naive", "random", "baseline"))


# --- sections ------------------------------------------------------------------------------------


def _header(ctx: ReportContext) -> str:
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in SECTIONS)
    return (
        f"<header><h1>Nightly run {esc(ctx.run_id)}</h1>"
        f'<p class="meta">for {esc(ctx.date)} · '
        f'<span class="badge {_status_class(str(ctx.status))}">{esc(ctx.status)}</span> · '
        f"model version {esc(ctx.model_version or '–')}</p><nav>{nav}</nav></header>"
    )


def _summary(ctx: ReportContext) -> str:
    fallbacks = [g for g in ctx.gates if not g.get("passed", True) and g.get("part") != "publish"]
    total = sum(_num(s.get("seconds")) or 0.0 for s in ctx.stages)
    after = [str(n) for n in ctx.stages_after]
    if after and str(ctx.status).startswith("failed"):  # a failed run's report: the rest never ran
        count = (f"{len(ctx.stages) + len(after)} stages; the first {len(ctx.stages)} took "
                 f"{esc(_seconds(total))} ({esc(', '.join(after))}: not run, the run stopped there)")
    elif after:  # the report is written by a stage: it and the ones after it are not timed here
        count = (f"{len(ctx.stages) + len(after)} stages; the first {len(ctx.stages)} took "
                 f"{esc(_seconds(total))} ({esc(', '.join(after))}: still to finish when this report was "
                 "written; the ledger has their timings)")
    else:
        count = f"{len(ctx.stages)} stage(s) in {esc(_seconds(total))}"
    lines = [
        f"<p>Status <b>{esc(ctx.status)}</b>; {count}.",
    ]
    # a run the publish guard refused published nothing: its lists are not "the published" ones
    refused = any(g.get("part") == "publish" and not g.get("passed", True) for g in ctx.gates)
    if fallbacks:
        parts = ", ".join(esc(g.get("part", "?")) for g in fallbacks)
        lines.append(f" {'Built' if refused else 'Published'} with the fallback for: <b>{parts}</b> "
                     "(see the quality gates).")
    for g in ctx.gates:
        if g.get("part") == "publish":
            lines.append(f" <b>{esc(str(g.get('message', '')).removeprefix('publish:').strip())}</b>")
        elif g.get("picks_below_popularity"):
            lines.append(f" <b>The {'' if refused else 'published '}picks score below the popularity "
                         "baseline</b> after the business rules (see the ranking and the quality gates).")
    lines.append("</p>")
    if not ctx.stages:
        return "".join(lines) + _na("Stage timings")
    longest = max((_num(s.get("seconds")) or 0.0 for s in ctx.stages), default=0.0)
    rows = []
    for s in ctx.stages:
        secs = max(_num(s.get("seconds")) or 0.0, 0.0)
        share = min(secs / longest, 1.0) if longest > 0 else 0.0
        bar = f'<span class="bar" style="width:{max(1, round(share * 80))}px"></span>'
        rows.append(
            [
                esc(s.get("name", "?")),
                esc(_seconds(s.get("seconds"))),
                bar,
                _cell(s.get("rows_in")),
                _cell(s.get("rows_out")),
            ]
        )
    return "".join(lines) + _table(["stage", "time", "", "rows in", "rows out"], rows)


def _rows(ctx: ReportContext) -> str:
    out = []
    named = [
        s for s in ctx.stages if _num(s.get("rows_in")) is not None or _num(s.get("rows_out")) is not None
    ]
    svg = bar_chart(
        [str(s.get("name", "?")) for s in named],
        [
            ("rows in", [_num(s.get("rows_in")) for s in named]),
            ("rows out", [_num(s.get("rows_out")) for s in named]),
        ],
        title="Rows in and out per stage",
    )
    out.append(_figure(svg, "Rows in and out of each stage.") if svg else _na("Rows per stage"))

    tables = (ctx.ingest or {}).get("tables") or {}
    if tables:
        rows = []
        for name, t in tables.items():
            parts = [_num(t.get(k)) for k in ("read", "loaded", "duplicates", "quarantined")]
            balanced = None not in parts and parts[0] == parts[1] + parts[2] + parts[3]
            rows.append(
                [esc(name)]
                + [_cell(t.get(k)) for k in ("read", "loaded", "duplicates", "quarantined")]
                + ["✓" if balanced else "✗ does not add up"]
            )
        out.append("<h3>Ingest</h3>")
        out.append(_table(["table", "read", "loaded", "duplicates", "quarantined", "read = sum"], rows))
    elif (ctx.ingest or {}).get("failed"):  # a run stopped by its input: the cause where the counts go
        out.append(f"<h3>Ingest</h3><p><strong>Ingest failed before its counts were recorded:</strong> "
                   f"{esc(ctx.ingest['failed'])}</p>")
    else:
        out.append("<h3>Ingest</h3>" + _na("Ingest counts (no raw files were ingested)"))
    warnings = (ctx.ingest or {}).get("warnings") or []
    if warnings:
        out.append("<h3>Ingest warnings</h3><ul>" + "".join(f"<li>{esc(w)}</li>" for w in warnings) + "</ul>")

    # the warehouse's quarantine holds every run's rows not loaded since (this run's are in the table above)
    out.append("<h3>In quarantine, all runs</h3>")
    q = sorted(ctx.quarantine_by_rule, key=lambda r: -(_num(r.get("rows")) or 0.0))
    if not q:
        known = ctx.ingest is not None and not ctx.ingest.get("failed")  # read after a finished ingest only
        out.append('<p class="muted">Nothing is in quarantine.</p>' if known else _na("Quarantine"))
        return "".join(out)
    labels = [f"{r.get('table_name', '?')} · {r.get('rule', '?')}" for r in q]
    svg = bar_chart(labels, [("rows", [_num(r.get("rows")) for r in q])],
                    title="Rows in quarantine by rule, all runs")
    out.append(_figure(svg, "Rows set aside in quarantine by this run or an earlier one and not loaded "
                            "since, per table and rule; this run's own are in the Ingest table above."))
    out.append(
        _table(
            ["table", "rule", "rows", "what it means"],
            [
                [
                    esc(r.get("table_name", "?")),
                    esc(r.get("rule", "?")),
                    _cell(r.get("rows")),
                    f'<span class="text">{esc(RULES.get(str(r.get("rule")), ""))}</span>',
                ]
                for r in q
            ],
        )
    )
    return "".join(out)


def _ranking(recsys: dict | None) -> str:
    models = (recsys or {}).get("models") or {}
    models = {str(k): v for k, v in models.items() if isinstance(v, dict)}
    if not models:
        return _na("Ranking metrics")
    metrics: list[str] = []
    for m in models.values():
        metrics += [k for k in m if k not in metrics and _num(m[k]) is not None]
    charted = [k for k in metrics if k.startswith(RANKING_METRICS)]
    names = list(models)
    svg = bar_chart(
        charted,
        [(n, [_num(models[n].get(k)) for k in charted]) for n in names],
        title="Ranking metrics per model",
    )
    cost = rules_cost(recsys)
    out = [
        f'<p class="rules-cost"><b>{esc(_sentence(rules_cost_sentence(cost)))}</b> The picks are what '
        "the service publishes: the ranker's list after restraint, variety, availability and re-push "
        "rules.</p>"
        if cost
        else "",
        f"<p>Groups evaluated: <b>{_cell((recsys or {}).get('groups_evaluated'))}</b>. Higher is better; "
        "baselines are shown in grey in the table; in bold, production: the published model's list before "
        f"the business rules ({esc(production_words((recsys or {}).get('production_model')))}); picks: the "
        "published list, after the rules.</p>",
        f"<p>Scored on: {esc(str(recsys['source']))}.</p>" if (recsys or {}).get("source") else "",
        _figure(svg, "Ranking metrics of every model (higher is better)."),
    ]
    primary = next((k for k in metrics if k.startswith("ndcg@")), metrics[0] if metrics else None)
    base = RECSYS_BASELINE if RECSYS_BASELINE in models else next((n for n in names if _is_baseline(n)), None)
    headers = ["model", *metrics]
    if primary and base:
        headers.append(f"{primary} vs {base}")
    rows, classes = [], []
    for n in names:
        row = [esc(n)] + [_cell(models[n].get(k)) for k in metrics]
        if primary and base:
            row.append(_relative(_num(models[n].get(primary)), _num(models[base].get(primary))))
        rows.append(row)
        classes.append("prod" if n == "production" else "base" if _is_baseline(n) else "")
    out.append(_table(headers, rows, classes))
    return "".join(out)


def _relative(value: float | None, ref: float | None) -> str:
    if value is None or ref is None or ref == 0:
        return "–"
    return f"{100 * (value - ref) / abs(ref):+.1f}%"


def _head(head: dict | None) -> list[str]:
    """The figures a supplier plans on, quoted first: head series, horizon totals, with intervals."""
    models = (head or {}).get("models") or {}
    if not models:
        return []
    cis = ((head or {}).get("intervals") or {}).get("total_wape") or {}
    base = FORECAST_BASELINE if FORECAST_BASELINE in models else None
    out = [
        f"<p>Series a supplier plans on (sold at least {_cell(head.get('threshold'))} units in the "
        f"{_cell(head.get('window_days'))} days before): <b>{_cell(head.get('series'))}</b>, scored on "
        f"their {_totals_of(head)}. The 90% interval comes from resampling the series: two models whose "
        "intervals overlap a lot may not really differ.</p>"
    ]
    headers = ["model", "total WAPE", "90% interval", "bias", "P10–P90 coverage (daily)"] + (
        [f"total WAPE vs {base} (negative is better)"] if base else [])
    rows, classes = [], []
    for n, m in models.items():
        ci = cis.get(n) or [None, None]
        row = [esc(str(n)), _cell(m.get("total_wape")),
               "–" if ci[0] is None else f"{ci[0]:.3f} – {ci[1]:.3f}", _cell(m.get("bias")),
               _cell(m.get("coverage_p10_p90"))]
        if base:
            row.append(_relative(_num(m.get("total_wape")), _num(models[base].get("total_wape"))))
        rows.append(row)
        classes.append("prod" if n == "production" else "base")
    out.append(_table(headers, rows, classes))
    out.append("<h3>Every series, daily cells</h3>")
    return out


def _forecast(forecast: dict | None) -> str:
    models = (forecast or {}).get("models") or {}
    models = {str(k): v for k, v in models.items() if isinstance(v, dict)}
    out = []
    fallback = forecast_fallback(forecast)
    if fallback is not None:  # "production" below is the fallback's numbers: say so before the tables
        out.append(f"<p><b>{esc(_sentence(forecast_fallback_sentence(fallback)))}</b></p>")
    gap = forecast_baseline_gap(forecast)
    if gap is not None:
        out.append(f"<p><b>{esc(_sentence(forecast_baseline_sentence(gap)))}</b></p>")
    out += _head((forecast or {}).get("head"))
    if not models:
        out.append(_na("Forecast accuracy"))
    else:
        names = list(models)
        svg = bar_chart(
            names,
            [
                ("WAPE (lower is better)", [_num(models[n].get("wape")) for n in names]),
                ("P10–P90 coverage", [_num(models[n].get("coverage_p10_p90")) for n in names]),
            ],
            title="Forecast error and interval coverage per model",
            ref=(0.8, "80% target"),
        )
        out.append(
            f"<p>Series evaluated: <b>{_cell((forecast or {}).get('series_evaluated'))}</b>. "
            "WAPE is the absolute error as a share of the volume (lower is better); coverage is how often "
            "the actual fell inside the P10–P90 interval (80% is right; much less means the interval is "
            "too narrow).</p>"
        )
        out.append(_figure(svg, "Forecast WAPE and P10–P90 coverage per model."))
        metrics: list[str] = []
        for m in models.values():
            metrics += [k for k in m if k not in metrics]
        base = (
            FORECAST_BASELINE
            if FORECAST_BASELINE in models
            else next((n for n in names if _is_baseline(n)), None)
        )
        headers = ["model", *metrics] + ([f"wape vs {base} (negative is better)"] if base else [])
        rows, classes = [], []
        for n in names:
            row = [esc(n)] + [_cell(models[n].get(k)) for k in metrics]
            if base:
                row.append(_relative(_num(models[n].get("wape")), _num(models[base].get("wape"))))
            rows.append(row)
            classes.append("prod" if n == "production" else "base" if _is_baseline(n) else "")
        out.append(_table(headers, rows, classes))
    out.append("<h3>Pre-sale: total at cutoff, forecast during the window</h3>")
    out.append(_presale((forecast or {}).get("presale")))
    return "".join(out)


def _event_analog(said: object) -> str:
    """The nowcast's correction by last year's event (aggregation.presale_analog), one line an event:
    what it read and whether it was applied, and why not. (Flattened with the metrics it made rows of
    junk in the accuracy table: "event_analog · 1 · days · 1 – – …".)"""
    if not isinstance(said, list) or not said:
        return ""
    lines = []
    for one in said:
        if not isinstance(one, dict):
            continue
        name = one.get("label") or one.get("event") or "event"
        when = f" on {one['event_day']}" if one.get("event_day") else ""
        then = f", read as of {one['analog_origin']}" if one.get("analog_origin") else ""
        days = one.get("days") or []
        verdict = (f"applied to {len(days)} day(s) from {days[0]}" if one.get("applied") and days
                   else "applied" if one.get("applied") else "not applied")
        why = f": {one['reason']}" if one.get("reason") else ""
        lines.append(f"<li>{esc(str(name))}{esc(when)} (last year's{esc(then)}): {esc(verdict + why)}</li>")
    if not lines:
        return ""
    return "<p>Last year's event, read for the nowcast:</p><ul class=\"notes\">" + "".join(lines) + "</ul>"


def _presale(presale: object) -> str:
    """Any nested presale block: its top-level numbers as a line, every nested metric set as a table row;
    the event correction (`event_analog`) as lines of its own."""
    analog = ""
    if isinstance(presale, dict) and "event_analog" in presale:
        analog = _event_analog(presale["event_analog"])
        presale = {k: v for k, v in presale.items() if k != "event_analog"}
    flat = _flatten(presale) if presale else []
    if not flat:
        return analog + _na("Pre-sale evaluation")
    out = [analog] if analog else []
    top = next((leaf for path, leaf in flat if not path), None)
    if top:
        out.append(
            "<p>"
            + " · ".join(f"{esc(k.replace('_', ' '))}: <b>{_cell(v)}</b>" for k, v in top.items())
            + "</p>"
        )
    nested = [(path, leaf) for path, leaf in flat if path]
    if nested:
        common: list[str] = []  # leading keys shared by every row (e.g. "at_share") become the header
        for parts in zip(*(path for path, _ in nested), strict=False):
            if len(set(parts)) > 1 or len(common) + 1 >= min(len(p) for p, _ in nested):
                break
            common.append(parts[0])
        keys: list[str] = []
        for _, leaf in nested:
            keys += [k for k in leaf if k not in keys]
        rows = [
            [esc(" · ".join(path[len(common) :]))] + [_cell(leaf.get(k)) for k in keys]
            for path, leaf in nested
        ]
        out.append(_table([" · ".join(common) or "where", *keys], rows))
    return "".join(out)


def _flatten(value: object, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], dict]]:
    """Any nested dict / list of metrics as rows: (path of keys, {metric: scalar})."""
    if isinstance(value, dict):
        scalars = {str(k): v for k, v in value.items() if not isinstance(v, dict | list)}
        rows = [(path, scalars)] if scalars else []
        for k, v in value.items():
            if isinstance(v, dict | list):
                rows += _flatten(v, (*path, str(k)))
        return rows
    if isinstance(value, list):
        rows = []
        for i, v in enumerate(value):
            rows += _flatten(v, (*path, str(i + 1)))
        return rows
    return [(path, {"value": value})]


def _curves(curves: pl.DataFrame | None, missing: str | None = None) -> str:
    needed = {"campaign_id", "at", "cum_qty"}
    if curves is None or curves.is_empty() or not needed <= set(curves.columns):
        return _na("Booking curves") + (f'<p class="na">{esc(missing)}</p>' if missing else "")
    ids = _largest_first(curves)
    figs = [
        _curve_figure(cid, curves.filter(pl.col("campaign_id") == cid).sort("at")) for cid in ids[:MAX_CURVES]
    ]
    figs = [f for f in figs if f]
    if not figs:
        return _na("Booking curves")
    more = f" Showing the first {MAX_CURVES} of {len(ids)}." if len(ids) > MAX_CURVES else ""
    legend = (
        '<div class="legend"><span><i class="line"></i>ordered so far</span>'
        '<span><i class="dash"></i>forecast P50</span>'
        f'<span><i class="band"></i>P10–P90 of the total at cutoff</span>{esc(more)}</div>'
    )
    return legend + f'<div class="grid">{"".join(figs)}</div>'


def _largest_first(curves: pl.DataFrame) -> list:
    """Campaign ids by forecast P50 at cutoff (else by orders so far), largest first."""
    size = [pl.col("cum_qty").max().alias("_so_far")]
    if "forecast_p50" in curves.columns:
        size.append(pl.col("forecast_p50").cast(pl.Float64, strict=False).max().alias("_p50"))
    ranked = curves.group_by("campaign_id", maintain_order=True).agg(size)
    keys = ["_p50", "_so_far"] if "_p50" in ranked.columns else ["_so_far"]
    return ranked.sort(keys, descending=True, nulls_last=True, maintain_order=True)["campaign_id"].to_list()


def _curve_figure(cid: object, c: pl.DataFrame) -> str:
    """One campaign's booking curve (rows sorted by `at`) with its fan to the cutoff, as a figure."""
    first = c.row(0, named=True)
    ats = [_as_datetime(a) for a in c["at"].to_list()]
    pts = [
        (_epoch(a), float(q))
        for a, q in zip(ats, c["cum_qty"].to_list(), strict=True)
        if a and _num(q) is not None
    ]
    closes = _as_datetime(first.get("closes_at"))
    cutoff = _epoch(closes) if closes is not None else None
    p10, p50, p90 = (_num(first.get(f"forecast_p{p}")) for p in (10, 50, 90))
    band = (p10, p50, p90) if p10 is not None and p50 is not None and p90 is not None else None
    tz = next((a.tzinfo for a in ats if a is not None), None) or UTC
    xs = [p[0] for p in pts] + ([cutoff] if cutoff is not None else [])
    fmt = "%m-%d" if xs and max(xs) - min(xs) > 3 * 86400 else "%m-%d %H:%M"
    label = str(first.get("label") or cid)
    svg = fan_chart(
        [p[0] for p in pts],
        [p[1] for p in pts],
        title=f"Booking curve of {label}",
        cutoff=cutoff,
        band=band,
        x_fmt=lambda t: datetime.fromtimestamp(t, tz).strftime(fmt),
    )
    if not svg:
        return ""
    name = label if str(cid) in label else f"{label} ({cid})"
    caption = f"{name}: " + (f"{fmt_qty(pts[-1][1])} ordered so far" if pts else "no orders yet")
    if band is not None:
        caption += f"; at cutoff P50 {fmt_qty(band[1])}, P10–P90 {fmt_qty(band[0])}–{fmt_qty(band[2])}"
    else:
        caption += "; no forecast yet"
    if cutoff is not None:
        caption += f"; closes {datetime.fromtimestamp(cutoff, tz).strftime('%Y-%m-%d %H:%M')}"
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def _as_datetime(value: object) -> datetime | None:
    """A datetime from a datetime or a date (its midnight); anything else is None."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    return None


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _business(business: dict | None) -> str:
    if not business:
        return _na("Business view")
    count = {k: _cell(business.get(k)) for k in ("shopkeepers", "groups", "paid_orders", "paid_quantity")}
    out = [
        f"<p>{count['shopkeepers']} shopkeepers, {count['groups']} groups, "
        f"{count['paid_orders']} paid orders ({count['paid_quantity']} items).</p>"
    ]
    tiers = business.get("tiers") or {}
    trows = tiers.get("rows") or []
    out.append("<h3>Shopkeepers by tier: where the orders come from</h3>")
    if trows:
        svg = bar_chart(
            [str(r.get("tier")) for r in trows],
            [
                ("share of paid orders", [_num(r.get("order_share")) for r in trows]),
                ("share of quantity", [_num(r.get("quantity_share")) for r in trows]),
            ],
            title="Share of paid orders and quantity by shopkeeper tier",
            fmt=fmt_pct,
        )
        out.append(_figure(svg, f"Tiers: {tiers.get('note', tiers.get('method', ''))}."))
        out.append(
            _table(
                ["tier", "shopkeepers", "paid orders", "share", "quantity", "share"],
                [
                    [
                        esc(r.get("tier")),
                        _cell(r.get("shopkeepers")),
                        _cell(r.get("paid_orders")),
                        _pct(r.get("order_share")),
                        _cell(r.get("quantity")),
                        _pct(r.get("quantity_share")),
                    ]
                    for r in trows
                ],
            )
        )
    else:
        out.append(_na("Tiers"))
    beh = business.get("behaviour") or {}
    brows = beh.get("rows") or []
    out.append("<h3>Shopkeepers by how they act</h3>")
    if brows:
        svg = bar_chart(
            [str(r.get("label", r.get("behaviour"))) for r in brows],
            [("shopkeepers", [_num(r.get("shopkeepers")) for r in brows])],
            title="Shopkeepers by how they act",
        )
        share = beh.get("self_buying_share", 0.5)
        invites = beh.get("recruiting_min_invites", 2)
        out.append(
            _figure(
                svg,
                f"Mostly self-buying: one member places at least {_num(share) or 0.5:.0%} of the paid "
                f"orders of all their groups; sharing: the rest with orders; recruiting: invited at least "
                f"{invites} other shopkeepers (a recruiter is also counted as self-buying or sharing).",
            )
        )
        out.append(
            _table(
                ["behaviour", "shopkeepers", "share", "paid orders", "share of orders"],
                [
                    [
                        esc(r.get("label", r.get("behaviour"))),
                        _cell(r.get("shopkeepers")),
                        _pct(r.get("shopkeeper_share")),
                        _cell(r.get("paid_orders")),
                        _pct(r.get("order_share")),
                    ]
                    for r in brows
                ],
            )
        )
        if "recruiting_and_self_buying" in beh:
            out.append(
                f'<p class="muted">Of the recruiters, {_cell(beh.get("recruiting_and_self_buying"))} are '
                f"mostly self-buying and {_cell(beh.get('recruiting_and_sharing'))} share with their "
                "group.</p>"
            )
    else:
        out.append(_na("Shopkeeper behaviour"))
    kinds = business.get("group_kinds") or []
    out.append("<h3>Groups by kind</h3>")
    if kinds:
        svg = bar_chart(
            [str(k.get("kind")) for k in kinds],
            [
                ("share of groups", [_num(k.get("group_share")) for k in kinds]),
                ("share of paid orders", [_num(k.get("order_share")) for k in kinds]),
            ],
            title="Groups and paid orders by group kind",
            fmt=fmt_pct,
        )
        out.append(_figure(svg, "Share of groups and of paid orders per group kind."))
        out.append(
            _table(
                ["kind", "groups", "share", "paid orders", "share", "current members"],
                [
                    [
                        esc(k.get("kind")),
                        _cell(k.get("groups")),
                        _pct(k.get("group_share")),
                        _cell(k.get("paid_orders")),
                        _pct(k.get("order_share")),
                        _cell(k.get("members")),
                    ]
                    for k in kinds
                ],
            )
        )
    else:
        out.append(_na("Groups by kind"))
    return "".join(out)


def _pct(value: object) -> str:
    v = _num(value)
    return "–" if v is None else fmt_pct(v)


def _gates(gates: list[dict]) -> str:
    if not gates:
        return _na("Quality gates")
    items = []
    for g in gates:
        passed = bool(g.get("passed"))
        label = str(g.get("badge") or ("passed" if passed else "fallback"))
        tone = "s-ok" if label == "passed" else "s-bad" if label == "not published" else "s-warn"
        badge = f'<span class="badge {tone}">{esc(label)}</span>'
        part, message = str(g.get("part", "?")), str(g.get("message", ""))
        message = message.removeprefix(f"{part}:").strip()
        items.append(f"<li>{badge} <b>{esc(part)}</b>: {esc(message)}</li>")
    return f'<ul class="gates">{"".join(items)}</ul>'


def _vintage_trend(v: dict | None) -> str:
    """The closed loop: how the lists published on the last nights did, once their day had passed;
    each arm's row names its experiment (two experiments may both have a `popularity` arm)."""
    from pipelines.vintages import READ_WORDS, production_rows

    if not v or not v.get("nights"):
        note = (v or {}).get("note", "no published pick list has passed its day yet")
        return f'<p class="muted">{esc(note)}.</p>'
    served = {True: "yes", False: "no, never live", None: "unknown"}  # pipelines.vintages.served_runs
    rows = "".join(
        f"<tr><td>{esc(n['for_date'])}</td><td>{esc(n.get('arm', 'production'))}</td>"
        f"<td>{esc(n.get('experiment') or '-')}</td>"
        f"<td class=num>{n['lists']}</td><td class=num>{n['hit_rate']:.3f}</td>"
        f"<td class=num>{n['precision']:.3f}</td><td class=num>{n['ndcg']:.3f}</td>"
        f"<td>{served[n.get('served')]}</td></tr>"
        for n in v["nights"])
    table = ("<table><tr><th>night</th><th>arm</th><th>experiment</th><th>lists</th><th>hit rate</th>"
             f"<th>precision</th><th>NDCG</th><th>served</th></tr>{rows}</table>")
    if v.get("not_served"):
        table += (f"<p>Never served to shopkeepers: {esc(', '.join(v['not_served']))} (their runs were kept, "
                  "not made live: a backfill, or a run for a date older than the live snapshot's); their "
                  "lists are scored as what would have been served. The totals by slot count them; the "
                  "experiments' verdicts read served nights where there are any.</p>")
    slots = ", ".join(f"{esc(r['slot'])} {r['precision']:.3f} ({r['picks']} picks)"
                      for r in production_rows(v["by_slot"], "slot"))
    extra = [f"<p>Precision by slot: {slots}.</p>"]
    for r in production_rows(v.get("posted_vs_not", []), "posted", "conversion"):
        extra.append(f"<p>{'Posted' if r['posted'] else 'Not posted'}: {r['conversion']:.3f} of "
                     f"{r['picks']} picks ordered.</p>")
    for e in v.get("experiments", []):
        verdicts = "".join(f"<li>{esc(x['verdict'])}</li>" for metric in ("hit", "precision", "ndcg")
                           for x in e["verdicts"].get(metric, []))
        nights = f", nights {esc(e['nights'])}" if e.get("nights") else ""
        read = ""
        if e.get("read") == "served" and e.get("nights_left_out"):
            read = (f"<p>Read: its {len(e['nights_read'])} served night(s); never served, left out: "
                    f"{esc(', '.join(e['nights_left_out']))}.</p>")
        elif e.get("read") in READ_WORDS:
            read = f"<p>{esc(READ_WORDS[e['read']].capitalize())}.</p>"
        extra.append(f"<p>Experiment <b>{esc(e['name'])}</b> ({esc(', '.join(e['arms']))}{nights}), "
                     f"{e['lists']} lists:</p>{read}<ul>{verdicts}</ul>")
    return table + "".join(extra)


def _notes(notes: list[str]) -> str:
    if not notes:
        return '<p class="muted">No notes for this run.</p>'
    return "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>"

"""Plain-text rendering of `circlebuy evaluate` results (the `--json` output, for a terminal)."""

from __future__ import annotations

RANKING_KEYS = ("ndcg", "recall", "precision", "map", "hit")
FORECAST_KEYS = ("wape", "bias", "pinball", "coverage_p10_p90")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                   for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


HEAD_KEYS = ("total_wape", "bias", "coverage_p10_p90")


def render_evaluation(result: dict) -> str:
    """One date's blocks, or every date's and then the means across dates (rolling origin)."""
    if "dates" not in result:
        return render_date(result)
    parts = [render_date(r) for r in result["dates"]]
    mean = result.get("mean") or {}
    out = [f"mean over {len(mean.get('dates', []))} dates: {', '.join(mean.get('dates', []))}", ""]
    k = result["dates"][0].get("k", 10) if result["dates"] else 10
    rec = (mean.get("recsys") or {}).get("models") or {}
    if rec:
        cols = [f"{key}@{k}" for key in RANKING_KEYS] + ["coverage"]
        out += _table(["model", *cols], [[n, *(_fmt(m.get(c)) for c in cols)] for n, m in rec.items()])
    head = ((mean.get("forecast") or {}).get("head") or {}).get("models") or {}
    if head:
        out += ["", "head series, 7-day totals (mean over dates)"]
        out += _table(["model", *HEAD_KEYS],
                      [[n, *(_fmt(m.get(c)) for c in HEAD_KEYS)] for n, m in head.items()])
    winners = mean.get("winners") or []
    if winners:
        out += ["", "winners per date"]
        out += _table(["as of", "recsys (ndcg)", "forecast (head total WAPE)"],
                      [[w["as_of"], _fmt(w.get("recsys")), _fmt(w.get("forecast_head_total_wape"))]
                       for w in winners])
    return "\n\n".join([*parts, "\n".join(out)])


def _ci(interval: list | None) -> str:
    if not interval or interval[0] is None:
        return "-"
    return f"[{interval[0]:.3f}, {interval[1]:.3f}]"


def render_date(result: dict) -> str:
    """The recsys and forecast blocks as aligned tables; notes where a block was not evaluated."""
    k = result.get("k", 10)
    out = [f"evaluation as of {result.get('as_of')} (horizon {result.get('horizon_days')} days, k={k})", ""]
    recsys = result.get("recsys") or {}
    models = recsys.get("models") or {}
    out.append(f"recommendations: {recsys.get('groups_evaluated', 0)} groups evaluated")
    if models:
        cols = [f"{key}@{k}" for key in RANKING_KEYS] + ["coverage"]
        cis = (recsys.get("intervals") or {}).get(f"ndcg@{k}") or {}
        rows = [[name, *(_fmt(m.get(c)) for c in cols), _ci(cis.get(name))] for name, m in models.items()]
        out += _table(["model", *cols, f"ndcg@{k} 90% interval"], rows)
    if recsys.get("fallback_reason"):
        out.append(f"note: {recsys['fallback_reason']}")
    out.append("")
    forecast = result.get("forecast") or {}
    fmodels = forecast.get("models") or {}
    out.append(f"daily forecasts: {forecast.get('series_evaluated', 0)} series evaluated")
    if fmodels:
        rows = [[name, *(_fmt(m.get(c)) for c in FORECAST_KEYS)] for name, m in fmodels.items()]
        out += _table(["model", *FORECAST_KEYS], rows)
    head = forecast.get("head") or {}
    if head.get("models"):
        cis = (head.get("intervals") or {}).get("total_wape") or {}
        threshold = head.get("threshold")
        units = f"{threshold:g}" if isinstance(threshold, int | float) else _fmt(threshold)
        out += ["", f"head series (sold >= {units} units in the "
                    f"{head.get('window_days')} days before): {head.get('series')} series, 7-day totals"]
        rows = [[n, *(_fmt(m.get(c)) for c in HEAD_KEYS), _ci(cis.get(n))] for n, m in head["models"].items()]
        out += _table(["model", *HEAD_KEYS, "total_wape 90% interval"], rows)
    if forecast.get("note"):
        out.append(f"note: {forecast['note']}")
    presale = forecast.get("presale") or {}
    at_share = presale.get("at_share") or {}
    if at_share:
        out += ["", f"pre-sale nowcasts: {presale.get('windows_evaluated', 0)} windows"]
        rows = [[f"{share} · {name}", *(_fmt(m.get(c)) for c in FORECAST_KEYS)]
                for share, per_model in at_share.items() for name, m in per_model.items()]
        out += _table(["at share · model", *FORECAST_KEYS], rows)
    elif presale.get("note"):
        out.append(f"pre-sale: {presale['note']}")
    return "\n".join(out)

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
    days = result["dates"][0].get("horizon_days") if result["dates"] else None
    forecast = (mean.get("forecast") or {}).get("models") or {}
    if forecast:
        out += ["", "daily forecasts, every series (mean over dates)"]
        out += _table(["model", *FORECAST_KEYS, "dates"],
                      [[n, *(_fmt(m.get(c)) for c in FORECAST_KEYS), _fmt(m.get("dates"))]
                       for n, m in forecast.items()])
    head = ((mean.get("forecast") or {}).get("head") or {}).get("models") or {}
    if head:
        out += ["", f"head series, {_days(days)} totals (mean over dates)"]
        out += _table(["model", *HEAD_KEYS, "dates"],
                      [[n, *(_fmt(m.get(c)) for c in HEAD_KEYS), _fmt(m.get("dates"))]
                       for n, m in head.items()])
    winners = mean.get("winners") or []
    if winners:
        out += ["", "winners per date"]
        out += _table(["as of", "recsys (ndcg)", "forecast (head total WAPE)"],
                      [[w["as_of"], _fmt(w.get("recsys")), _fmt(w.get("forecast_head_total_wape"))]
                       for w in winners])
    return "\n\n".join([*parts, "\n".join(out)])


def _days(horizon: object) -> str:
    """The head series' totals are over --horizon-days, not a fixed week: say "3-day" for 3."""
    return f"{horizon}-day" if isinstance(horizon, int) else "horizon"


def _interval_note(intervals: dict | None, label: str) -> list[str]:
    """The line said where there is no interval (too few groups or series to resample)."""
    note = (intervals or {}).get("note")
    return [f"{label} 90% interval: {note}"] if note else []


def _gate_note(forecast: dict) -> list[str]:
    """Where the daily model failed its gate, production publishes seasonal naive: its row repeats
    seasonal_naive's, and without this line the table reads as a tie. The short-history fallback
    has its own note (forecast["note"])."""
    production = forecast.get("production_is") or {}
    gate = production.get("gate") or {}
    if gate.get("passed") is not False or forecast.get("note"):
        return []
    figures = (f"WAPE {_fmt(gate.get('production_wape'))} vs seasonal naive "
               f"{_fmt(gate.get('seasonal_naive_wape'))}")
    where = gate.get("reason") or f"{figures} on {gate.get('scored_on')}"
    return [f"note: the daily model ({production.get('model') or 'production'}) failed its gate, so "
            f"production is {production.get('method') or 'seasonal_naive'} (its row repeats that "
            f"model's): {where}"]


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
        out += _interval_note(recsys.get("intervals"), f"ndcg@{k}")
        if blind := recsys.get("uninformative"):
            out.append(f"note: {', '.join(blind)} knew nothing of its own on this history (year_ago needs a "
                       "year of it): its row is recent popularity's fill, not the method")
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
                    f"{head.get('window_days')} days before): {head.get('series')} series, "
                    f"{_days(result.get('horizon_days'))} totals"]
        rows = [[n, *(_fmt(m.get(c)) for c in HEAD_KEYS), _ci(cis.get(n))] for n, m in head["models"].items()]
        out += _table(["model", *HEAD_KEYS, "total_wape 90% interval"], rows)
        out += _interval_note(head.get("intervals"), "total_wape")
    if forecast.get("note"):
        out.append(f"note: {forecast['note']}")
    out += _gate_note(forecast)
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

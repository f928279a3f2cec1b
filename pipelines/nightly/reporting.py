"""Glue between a run and its report: quality gates, headline metrics, the HTML report."""

from __future__ import annotations

from pipelines.gates import GateVerdict
from pipelines.nightly.context import RunContext


def gate_outcome(part: str, verdict: GateVerdict, published: str | None = None) -> dict:
    """Turn a stage's gate verdict into one plain-words line for the report and the ledger.
    `published`: what was published in the production model's place when the gate failed (the
    fallback's method, e.g. seasonal_naive), named in the line and kept as `published_method`."""
    passed, reason = verdict.passed, verdict.reason
    fallback = f"the fallback ({published})" if published and not passed else "the fallback"
    if passed:
        message = f"{part}: production model published ({reason})" if reason else (
            f"{part}: production model published")
    elif verdict.trained is False:
        message = f"{part}: too little history for the production model, so {fallback} was " \
                  f"published ({reason})"
    else:
        message = f"{part}: production model was worse than its baseline, so {fallback} was " \
                  f"published instead ({reason})"
    trained = {} if verdict.trained is None else {"trained": verdict.trained}
    named = {"published_method": published} if published and not passed else {}
    return {"part": part, "passed": passed, "message": message, **trained, **verdict.details, **named}


def recsys_gate_outcome(verdict: GateVerdict, published: str | None) -> dict:
    """The recsys gate line, naming what was published (`published_method`): the ranker, or the best
    generator in its place when the ranker did not beat it on the validation folds (a fallback,
    `published_fallback`, even though the gate against popularity passed). `production_ndcg` is
    measured on the mean of the weekly validation folds (`production_ndcg_scope` says so, as the line
    does): the evaluation's `recsys.production.ndcg@k`, on the newest validation week only, differs."""
    outcome = gate_outcome("recsys", verdict)
    if not published:
        return outcome
    fallback = published != "ranker"
    details = verdict.details
    folds = details.get("folds")
    scope = f"mean of {folds} weekly validation folds" if folds else "the validation folds"
    name = f"the generator {published!r}" if fallback else "the ranker"
    prod, pop = details.get("production_ndcg"), details.get("popularity_ndcg")
    numbers = (f"; {name} NDCG {prod:.3f} vs popularity {pop:.3f} ({scope}, what the gate compares)"
               if isinstance(prod, int | float) and isinstance(pop, int | float) else "")
    reason = f" ({verdict.reason})" if verdict.reason else ""
    if not verdict.passed:
        message = (f"recsys: production model was worse than its baseline (popularity) on the validation "
                   f"folds; {name} was published all the same{reason}{numbers}")
    elif fallback:
        message = (f"recsys: the best generator {published!r} was published as the fallback, not the "
                   f"ranker{reason}{numbers}")
    else:
        message = f"recsys: production model published: the ranker{reason}{numbers}"
    return {**outcome, "message": message, "published_method": published, "published_fallback": fallback,
            "production_ndcg_scope": scope}


def level_shift_sentence(shift: dict) -> str:
    """The report's note when the daily forecast's newest fold broke from it as no older fold did
    (aggregation.ensemble.EnsembleForecaster.level_shift)."""
    low, high = shift["older_folds_sold_over_forecast"]
    older = f"{low:.2f}x to {high:.2f}x" if low != high else f"{low:.2f}x"
    if shift["head_forecast"] < 1.0:  # after a shutdown the model forecast nothing: no ratio to read
        sold = (f"sold {shift['head_sold']:,.0f} units of the best-selling products where the daily "
                "forecast model said none (fitted without those days")
    else:
        sold = (f"sold {shift['sold_over_forecast']:.2f}x what the daily forecast model said for the "
                f"best-selling products ({shift['head_sold']:,.0f} units against "
                f"{shift['head_forecast']:,.0f}, the model fitted without those days")
    return (f"forecast: the {shift['days']} days from {shift['days_from']} {sold}; the weeks before "
            f"them ran {older}): sales moved as the history had not shown (a festival, a shutdown, a "
            "promotion?); the forecast of the coming days has not been adjusted for it")


def note_level_shift(ctx: RunContext) -> None:
    """Say in the report's notes, and on the forecast gate (ledger, --json), when the daily forecast's
    last days checked broke from it as no earlier week did (the published forecast is not changed)."""
    run = ctx.demand_run
    shift = run.accounting.get("level_shift") if run is not None else None
    gate = next((g for g in ctx.record.gates if g.get("part") == "forecast"), None)
    if not shift or (gate is not None and "level_shift" in gate):
        return
    ctx.notes.append(level_shift_sentence(shift))
    if gate is not None:
        gate["level_shift"] = shift


def event_analog_sentence(said: dict) -> str:
    """The report's note on the forecast near one annual event: the daily forecast's
    (aggregation.daily.with_event_analog) or the pre-sale nowcast's (aggregation.presale_analog,
    whose said has `bands`)."""
    event = f"{said['label']} ({said['event']}, {said['event_day']})"  # English report, the label kept
    if "bands" in said or (not said.get("applied") and "days" in said):
        return presale_analog_sentence(said, event)
    if not said.get("applied"):
        return (f"forecast: {event} is near; the forecast is not corrected for it by {_evidence(said)}: "
                f"{said.get('reason', 'no history')}")
    ratios = said["sold_over_forecast"]
    return (f"forecast: {event} is near; the same forecaster, run on the history as it stood on "
            f"{said['analog_origin']} (as far before {_evidence(said)}), would have been "
            f"off by {min(ratios):.2f}x to {max(ratios):.2f}x (sold over forecast, all products) on the "
            f"{said['days_corrected']} day(s) from {said['days_from']} that stood to it as this forecast's "
            f"do; those days are multiplied by {_whose(said)} ratios, per category")


def _evidence(said: dict) -> str:
    """The earlier event the correction read: last year's, or another shopping festival."""
    instead = said.get("read_instead")
    if instead is None:
        return f"last year's ({said.get('last_year', 'unknown')})"
    label, event = instead["label"], instead["event"]
    name = label if label == event else f"{label} ({event})"
    return (f"{name}, {instead['day']}, the latest other shopping festival "
            f"(last year's, {said.get('last_year', 'unknown')}, is not in the history)")


def _whose(said: dict) -> str:
    instead = said.get("read_instead")
    return "last year's" if instead is None else f"{instead['label']}'s"


def presale_analog_sentence(said: dict, event: str) -> str:
    """event_analog_sentence for the pre-sale nowcast (PresaleForecaster._fit_analog's said)."""
    if not said.get("applied"):
        return (f"forecast: {event} is near; the pre-sale nowcast is not corrected for it by "
                f"{_evidence(said)}: {said.get('reason', 'no history')}")
    first = said["bands"][0]
    days = said["days"]
    return (f"forecast: {event} is near; the pre-sale nowcast, fitted as it stood on "
            f"{said['analog_origin']} (as far before {_evidence(said)}), expected "
            f"{first['forecast_to_come']:,.0f} units on the campaigns not open yet that closed in the week "
            f"after it, and {first['came']:,.0f} came ({first['week_ratio']:.2f}x); what this nowcast "
            f"expects still to come on the campaigns closing {days[0]} to {days[-1]} is multiplied by "
            f"{_whose(said)} ratios, per part of the window, category and day")


def note_event_analog(ctx: RunContext) -> None:
    """Say in the report's notes, and on the forecast gate (ledger, --json), when the daily forecast
    was corrected near an annual event, or could not be (and why)."""
    run = ctx.demand_run
    said = run.accounting.get("event_analog") if run is not None else None
    gate = next((g for g in ctx.record.gates if g.get("part") == "forecast"), None)
    if not said or (gate is not None and "event_analog" in gate):
        return
    ctx.notes.extend(event_analog_sentence(one) for one in said)
    if gate is not None:
        gate["event_analog"] = said


def note_forecast_honesty(ctx: RunContext) -> None:
    """Say in the forecast gate line and the report's notes what the evaluation found about the
    forecast the gate does not show: production is the seasonal-naive (or short-history) fallback,
    and/or production's held-out error is worse than the best statistical baseline measured. Notes
    only: the gate's pass/fail and the run's outcome do not change. Adds `evaluated_production_is`,
    `evaluated_fallback` and `worse_than_baseline` (+ `best_baseline`, `best_baseline_wape`,
    `evaluated_production_wape`) to the forecast gate, and what the pre-sale nowcast's evaluation
    found before the windows opened (`presale_at_opening`)."""
    from pipelines.report.render import (
        forecast_baseline_gap,
        forecast_baseline_sentence,
        forecast_baseline_short,
        forecast_fallback,
        forecast_fallback_sentence,
    )

    forecast = (ctx.evaluation or {}).get("forecast")
    gate = next((g for g in ctx.record.gates if g.get("part") == "forecast"), None)
    if not forecast or gate is None or "evaluated_fallback" in gate:
        return
    reused = forecast.get("reused_from_run")
    # a reused block was scored as of the run that computed it, not as of this run's D - horizon
    as_of = forecast.get("reused_as_of") if reused else (ctx.evaluation or {}).get("as_of")
    where = f"forecast evaluation as of {as_of}" if as_of else "forecast evaluation"
    if reused:
        where += f" (reused from run {reused})"
    mode = ctx.demand_run.mode if ctx.demand_run is not None else None
    scope = ("; this snapshot's demand table holds the live campaigns' nowcasts (their own gate), the "
             "daily model is what a run without campaigns publishes" if mode == "campaigns" else "")
    fallback, gap = forecast_fallback(forecast), forecast_baseline_gap(forecast)
    caveats, said = [], []
    gate["evaluated_fallback"] = fallback is not None
    gate["worse_than_baseline"] = gap is not None
    if fallback is not None:
        sentence = forecast_fallback_sentence(fallback)
        ctx.notes.append(f"{where}: {sentence}{scope}")
        gate["evaluated_production_is"] = fallback["method"]
        said.append(sentence)
        caveats.append("daily fallback")
    if gap is not None:
        ctx.notes.append(f"{where}: {forecast_baseline_sentence(gap)}")
        first = gap["daily"] or gap["head"]
        gate["best_baseline"] = first["baseline"]
        gate["best_baseline_wape"] = round(first["baseline_wape"], 6)
        gate["evaluated_production_wape"] = round(first["production_wape"], 6)
        said.append(f"{forecast_baseline_short(gap)} (see the notes)")
        caveats.append("below a baseline")
    opening = presale_at_opening(forecast.get("presale"))
    if opening is not None:
        gate.update(opening["keys"])
        if opening["sentence"]:
            ctx.notes.append(f"{where}: {opening['sentence']}")
            said.append(opening["sentence"])
            caveats.append("pre-sale off at opening")
    if said:
        gate["message"] = f"{gate['message']}; {where}: {'; '.join(said)}"
    if caveats and gate.get("passed") and "badge" not in gate:
        gate["badge"] = "passed, " + ", ".join(caveats)


PRESALE_BIAS_NOTE = 0.20  # |bias| of the pre-sale totals before the window opens that gets a note
PRESALE_COVERAGE_NOTE = (0.75, 0.90)  # P10-P90 coverage outside this gets a note (target 0.75-0.85;
# too narrow misleads a supplier more than a little too wide)


def presale_at_opening(presale: dict | None) -> dict | None:
    """What the evaluation found about the pre-sale nowcast before a window opens (share 0, what a
    supplier reads for a campaign not open yet) that the nowcast's gate, a WAPE on held-out
    campaigns, does not show: its bias, its P10-P90 coverage, and a baseline with a lower WAPE.
    `keys` for the forecast gate (`presale_opening_bias`, `presale_opening_coverage`,
    `presale_opening_below_baseline`) and a sentence when one of them is off (else ''); None when
    the evaluation has no pre-sale block at share 0."""
    at_open = ((presale or {}).get("at_share") or {}).get("0.00") or {}
    prod = at_open.get("production")
    if not prod or prod.get("bias") is None:
        return None
    bias, cov, wape = prod.get("bias"), prod.get("coverage_p10_p90"), prod.get("wape")
    others = {n: m["wape"] for n, m in at_open.items()
              if n != "production" and m.get("wape") is not None}
    best = min(others, key=others.get) if others else None
    below = best is not None and wape is not None and others[best] < wape
    parts = []
    if abs(bias) > PRESALE_BIAS_NOTE:
        parts.append(f"its totals are {'over' if bias > 0 else 'under'} the outcome by {abs(bias):.0%}")
    low, high = PRESALE_COVERAGE_NOTE
    if cov is not None and not low <= cov <= high:
        parts.append(f"P10-P90 holds {cov:.0%} of the outcomes (target 75-85%)")
    if below:
        parts.append(f"the {best} baseline's WAPE {others[best]:.3f} beats its {wape:.3f}")
    sentence = ("the pre-sale nowcast before the windows opened: " + "; ".join(parts)) if parts else ""
    keys = {"presale_opening_bias": round(bias, 6),
            "presale_opening_coverage": None if cov is None else round(cov, 6),
            "presale_opening_below_baseline": below}
    return {"keys": keys, "sentence": sentence}


def note_rules_cost(ctx: RunContext) -> None:
    """Say in the recsys gate line (ledger and report) what the pick rules cost: the gate compares the
    ranker with popularity, but shopkeepers get the picks after the business rules, which can score
    below popularity while the gate says passed. Adds `picks_ndcg`, `rules_cost` and
    `picks_below_popularity` to that gate, with the production and popularity figures of the same
    window (`*_ndcg_eval`) and `picks_ndcg_scope`: beside the gate's fold means, a reader subtracted
    production_ndcg - picks_ndcg and did not get rules_cost."""
    from pipelines.report.render import rules_cost, rules_cost_sentence

    ev = ctx.evaluation or {}
    cost = rules_cost(ev.get("recsys"), ev.get("k", ctx.config.k))
    gate = next((g for g in ctx.record.gates if g.get("part") == "recsys"), None)
    if cost is None or gate is None or "rules_cost" in gate:
        return
    gate["message"] = f"{gate['message']}; {rules_cost_sentence(cost)} (on the evaluation window)"
    # the evaluation window's figures, named apart from the fold means the gate compared
    # (`production_ndcg`, `popularity_ndcg`): rules_cost = production_ndcg_eval - picks_ndcg
    gate["picks_ndcg"] = round(cost["picks"], 6)
    gate["production_ndcg_eval"] = round(cost["production"], 6)
    gate["popularity_ndcg_eval"] = round(cost["popularity"], 6)
    gate["rules_cost"] = round(cost["cost"], 6)
    gate["picks_below_popularity"] = cost["picks_below_popularity"]
    gate["picks_ndcg_scope"] = "the evaluation window (the newest validation week), after the rules"
    if gate.get("passed") and cost["picks_below_popularity"]:
        gate["badge"] = "passed, picks below popularity"


def headline_metrics(ctx: RunContext) -> dict:
    """A few numbers for the ledger and the manifest."""
    metrics: dict = {}
    ev = ctx.evaluation or {}
    k = ev.get("k", ctx.config.k)
    models = (ev.get("recsys") or {}).get("models", {})
    for name in ("production", "popularity", "picks"):
        if name in models:
            metrics[f"recsys.{name}.ndcg@{k}"] = models[name].get(f"ndcg@{k}")
    # what those numbers are: `production` is the published model's list BEFORE the business rules
    # (`published_method`: the ranker, or the generator published as its fallback), `picks` the
    # published list after them; both on the evaluation window (the recsys gate's `production_ndcg`
    # is the mean of the validation folds instead)
    gate = next((g for g in ctx.record.gates if g.get("part") == "recsys"), {})
    published = gate.get("published_method") or (ev.get("recsys") or {}).get("production_model")
    if published:
        metrics["recsys.published_method"] = published
    head = ((ev.get("forecast") or {}).get("head") or {}).get("models", {})
    for name in ("production", "seasonal_naive"):
        if name in head:
            metrics[f"forecast.head.{name}.total_wape"] = head[name].get("total_wape")
            metrics[f"forecast.head.{name}.coverage_p10_p90"] = head[name].get("coverage_p10_p90")
    fmodels = (ev.get("forecast") or {}).get("models", {})
    for name in ("production", "seasonal_naive"):
        if name in fmodels:
            metrics[f"forecast.{name}.wape"] = fmodels[name].get("wape")
            metrics[f"forecast.{name}.coverage_p10_p90"] = fmodels[name].get("coverage_p10_p90")
    if ctx.picks is not None:
        metrics["picks.rows"] = ctx.picks.height
        metrics["picks.groups"] = ctx.picks["group_id"].n_unique() if ctx.picks.height else 0
    if ctx.demand is not None:
        metrics["demand.rows"] = ctx.demand.height
    return metrics


FAILED_REPORTS_KEPT = 10  # HOME/failed/<run_id>/report.html of the latest failed runs


def write_failure_report(ctx: RunContext, stage_names: list[str], stage: str, error: str, live: str) -> str:
    """The report of a run that failed at `stage`: what ran, what it read and quarantined, the error in
    words and what is live now (`live`, the runner's words), at HOME/failed/<run_id>/report.html (the
    run's snapshot folder is abandoned); the latest FAILED_REPORTS_KEPT are kept. Returns its path."""
    import shutil

    said = "" if live in error else f"; {live}"  # a stage's own error may already say what stays live
    ctx.notes.insert(0, f"stage {stage} failed: {error}{said}. Fix the cause and run the date again.")
    if stage == "ingest" and not (ctx.ingest or {}).get("tables"):
        ctx.ingest = {**(ctx.ingest or {}), "failed": error}
    folder = ctx.home.root / "failed" / ctx.record.run_id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.html"
    path.write_text(build_report(ctx, stage_names, status=f"failed at {stage}"), encoding="utf-8")
    kept = sorted((p for p in folder.parent.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in kept[:-FAILED_REPORTS_KEPT]:
        shutil.rmtree(old, ignore_errors=True)
    return str(path)


def _why_no_curves(ctx: RunContext) -> str | None:
    """Why the report draws no booking curve: the demand table has no campaign rows, or none of its
    campaigns had orders pooled at the run's as-of instant (those opening later are forecast before
    they open, from their priors: nothing to draw yet)."""
    import polars as pl

    from common.clock import TZ

    if ctx.demand is None or ctx.booking_curves is None:  # a run that stopped before drawing them
        return None
    campaign_rows = ctx.demand.filter(pl.col("campaign_id").is_not_null())
    if campaign_rows.height == 0:
        return ("This run's demand table has no per-campaign rows (daily forecasts per product and "
                "warehouse), so there is no booking curve to draw.")
    if "ordered_qty" in campaign_rows.columns and (campaign_rows["ordered_qty"].fill_null(0) > 0).any():
        return None  # orders were pooled: nothing to explain here
    at = ctx.as_of.astimezone(TZ)
    return (f"None of the campaigns in this run's demand table had orders pooled by its as-of instant "
            f"({at:%Y-%m-%d %H:%M} platform time): those that open later are forecast before they open "
            "(method bottom_up), with nothing booked yet to draw.")


def build_report(ctx: RunContext, stage_names: list[str], status: str | None = None) -> str:
    """Render the run's HTML report (pipelines.report); `stage_names`: every stage of the run, in
    order (the report says which are still to finish). `status`: the badge, where not the one
    report_status says (a failed run's)."""
    import polars as pl

    from pipelines.report import ReportContext, business_view, render_report

    curves = None
    if ctx.booking_curves is not None and ctx.booking_curves.height and ctx.demand is not None:
        d = ctx.demand.filter(pl.col("campaign_id").is_not_null())
        top = (
            d.group_by("campaign_id")
            .agg(pl.col("forecast_p50").sum(), pl.col("forecast_p10").sum(),
                 pl.col("forecast_p90").sum(), pl.col("ordered_qty").sum(),
                 pl.col("product_id").first(),
                 *([pl.col("closes_at").first()] if "closes_at" in d.columns else []))
            .sort(["ordered_qty", "campaign_id"], descending=[True, False])
            .head(4)
        )
        if "closes_at" not in top.columns:
            top = top.join(ctx.frames["campaigns"].select("campaign_id", "closes_at"),
                           on="campaign_id", how="left")
        names = ctx.frames["products"].select("product_id", "name")
        top = top.join(names, on="product_id", how="left").with_columns(
            (pl.col("name").fill_null(pl.col("product_id")) + " (" + pl.col("campaign_id") + ")")
            .alias("label"))
        per_campaign = (ctx.booking_curves.group_by("campaign_id", "at").agg(pl.col("cum_qty").sum())
                        .sort("campaign_id", "at"))
        curves = per_campaign.join(
            top.select("campaign_id", "label", "forecast_p10", "forecast_p50", "forecast_p90",
                       "closes_at"), on="campaign_id", how="inner")
    ev = ctx.evaluation or {}
    report_ctx = ReportContext(
        run_id=ctx.record.run_id,
        date=ctx.config.run_date,
        status=status or report_status(ctx),
        model_version=_shown_model_version(ctx, failed=status is not None and status.startswith("failed")),
        stages=list(ctx.record.stages),
        ingest=ctx.ingest,
        quarantine_by_rule=ctx.quarantine_by_rule,
        recsys=ev.get("recsys"),
        forecast=ev.get("forecast"),
        gates=list(ctx.record.gates),
        booking_curves=curves,
        booking_curves_missing=None if curves is not None and curves.height else _why_no_curves(ctx),
        business=business_view(_known_before(ctx)) if ctx.frames else None,
        notes=list(ctx.notes),
        vintages=_vintages(ctx),
        stages_after=_stages_after(ctx, stage_names),
    )
    return render_report(report_ctx)


def _stages_after(ctx: RunContext, stage_names: list[str]) -> list[str]:
    """The run's stages not finished when the report is written (report itself, publish)."""
    done = {s.get("name") for s in ctx.record.stages}
    return [n for n in stage_names if n not in done]


VINTAGE_NIGHTS = 14


def _vintages(ctx: RunContext) -> dict | None:
    """The last nights' published lists scored now that their day has passed (none on a new home)."""
    from datetime import timedelta

    from pipelines.vintages import run_vintages

    day = ctx.config.run_date
    try:
        first, last = day - timedelta(days=VINTAGE_NIGHTS), day - timedelta(days=1)
        return run_vintages(ctx.home, first, last, today=day, frames=ctx.frames)
    except Exception as exc:  # the report must not fail the run: say what is missing instead
        ctx.notes.append(f"pick vintages not scored: {exc}")
        return None


def report_status(ctx: RunContext) -> str:
    """The badge of the report a reader opens: a live snapshot's run succeeded (the report is written
    just before the switch, which only happens when nothing failed); a refused one says so."""
    if ctx.publish_refusal is not None and not ctx.config.allow_empty:
        return "not published"
    if ctx.not_live is not None:  # an older date than the live snapshot's: kept, HOME/current unchanged
        return "kept, not live"
    return "succeeded"


def _known_before(ctx: RunContext) -> dict:
    """The frames with only the orders placed before the run's as-of instant (stable reports)."""
    import polars as pl

    return {**ctx.frames, "orders": ctx.frames["orders"].filter(pl.col("ordered_at") < ctx.as_of)}


def _shown_model_version(ctx: RunContext, failed: bool) -> str:
    """The header's model version; a run that failed before training any model shows none ("–"), not
    the "none@date" placeholder of the ledger."""
    version = model_version(ctx)
    return "" if failed and version.startswith("none@") else version


def model_version(ctx: RunContext) -> str:
    """The run's model versions: the picks' then the demand's (none@date without either)."""
    versions = []
    for frame in (ctx.picks, ctx.demand):
        if frame is not None and "model_version" in frame.columns and frame.height:
            versions.extend(sorted(set(frame["model_version"].drop_nulls().to_list())))
    return "+".join(versions) or f"none@{ctx.config.run_date}"


def model_version_of(frame) -> str:
    """The distinct model versions of a frame's rows, joined by '+' ('' without any)."""
    if "model_version" not in frame.columns or frame.height == 0:
        return ""
    return "+".join(sorted(set(frame["model_version"].drop_nulls().to_list())))

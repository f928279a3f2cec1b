"""render_report: a full context, an almost empty one, escaping, and no reference to the network."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.report import SECTION_TITLES, ReportContext, business_view, render_report
from tests.pipelines.test_report_business import tiny  # noqa: F401  (fixture)

TZ = ZoneInfo("Asia/Shanghai")
N_CURVES = 3
# rows per stage, quarantine, ranking, forecast, three business charts, one per booking curve
FULL_CHARTS = 7 + N_CURVES


def booking_curves(n: int = N_CURVES) -> pl.DataFrame:
    """n campaigns, ten points each over a day; the last one has no forecast yet."""
    rows = []
    start = datetime(2026, 3, 1, 8, tzinfo=TZ)
    for c in range(n):
        cums = [sum(5 + 3 * c + h % 4 for h in range(0, k + 1, 3)) for k in range(0, 30, 3)]
        final = cums[-1]
        has_forecast = c < n - 1
        for k, cum in enumerate(cums):
            rows.append(
                {
                    "campaign_id": f"c{c}",
                    "label": f"Product {c} <fresh>",
                    "at": start + timedelta(hours=3 * k),
                    "cum_qty": cum,
                    "forecast_p10": final * 1.2 if has_forecast else None,
                    "forecast_p50": final * 1.6 if has_forecast else None,
                    "forecast_p90": final * 2.1 if has_forecast else None,
                    "closes_at": start + timedelta(days=2),
                }
            )
    return pl.DataFrame(rows)


def full_context(frames: dict[str, pl.DataFrame]) -> ReportContext:
    stages = [
        {"name": "ingest", "seconds": 3.2, "rows_in": 120_000, "rows_out": 119_880},
        {"name": "load", "seconds": 1.4, "rows_in": 119_880, "rows_out": 40_000},
        {"name": "train", "seconds": 75.0, "rows_in": 40_000, "rows_out": 4},
        {"name": "picks", "seconds": 2.0, "rows_in": 2_000, "rows_out": 16_000},
        {"name": "publish", "seconds": 0.3, "rows_in": None, "rows_out": None},
    ]
    metrics = {
        "ndcg@10": 0.21,
        "recall@10": 0.3,
        "precision@10": 0.12,
        "map@10": 0.1,
        "hit@10": 0.55,
        "coverage": 0.4,
    }
    return ReportContext(
        run_id="20260301-abc",
        date=date(2026, 3, 1),
        status="success",
        model_version="als-2026-03-01",
        stages=stages,
        ingest={
            "tables": {
                "orders": {"read": 100, "loaded": 90, "duplicates": 4, "quarantined": 6},
                "groups": {"read": 20, "loaded": 20, "duplicates": 0, "quarantined": 0},
            }
        },
        quarantine_by_rule=[
            {"table_name": "orders", "rule": "non_positive_quantity", "rows": 4},
            {"table_name": "orders", "rule": "unknown_foreign_key", "rows": 2},
        ],
        recsys={
            "groups_evaluated": 1800,
            "models": {
                "popularity": {k: v * 0.7 for k, v in metrics.items()},
                "item_knn": {k: v * 0.9 for k, v in metrics.items()},
                "production": metrics,
            },
        },
        forecast={
            "series_evaluated": 420,
            "models": {
                "seasonal_naive": {"wape": 0.42, "bias": -0.05, "pinball": 3.1, "coverage_p10_p90": 0.61},
                "production": {"wape": 0.3, "bias": 0.02, "pinball": 2.2, "coverage_p10_p90": 0.79},
            },
            "presale": {  # the shape pipelines.evaluate.forecast writes
                "campaigns_evaluated": 35,
                "windows_evaluated": 41,
                "at_share": {
                    share: {
                        "pickup": {"wape": 0.5 - share / 3, "bias": -0.1, "coverage_p10_p90": 0.7},
                        "production": {"wape": 0.4 - share / 3, "bias": 0.02, "coverage_p10_p90": 0.8},
                    }
                    for share in (0.25, 0.5, 0.75)
                },
            },
            "seconds": {"daily": 1.2, "presale": 0.8},
            "horizon_end": "2026-03-08",
        },
        gates=[
            {"part": "ranking", "passed": True, "message": "ranking: production beats popularity"},
            {
                "part": "forecast",
                "passed": False,
                "message": "forecasts were worse than seasonal naive, so seasonal naive was published",
            },
        ],
        booking_curves=booking_curves(),
        business=business_view(frames),
        notes=["first run <b>on</b> this home & data"],
    )


def external_refs(page: str) -> list[str]:
    """Every src/href/url() that points outside the document (anything but '#...' anchors)."""
    refs = re.findall(r"""(?:src|href|xlink:href)\s*=\s*["']?([^"'\s>]+)""", page, flags=re.I)
    refs += re.findall(r"url\(\s*['\"]?([^'\")]+)", page, flags=re.I)
    refs += re.findall(r"@import", page)
    return [r for r in refs if not r.startswith("#")]


def test_full_report_has_every_section_and_chart(tiny: dict[str, pl.DataFrame]) -> None:  # noqa: F811
    page = render_report(full_context(tiny))
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for title in SECTION_TITLES:
        assert f">{title}</h2>" in page
    assert page.count("<svg") == FULL_CHARTS
    assert "not available in this run" not in page
    # numbers from every part reach the page
    assert "1,800" in page and "0.210" in page and "+42.9%" in page  # ndcg vs popularity
    assert "P50" in page and "cutoff" in page and "non_positive_quantity" in page
    assert "fallback" in page and "seasonal naive was published" in page
    assert "shopkeepers.tier" in page and "mostly self-buying" in page and "not given" in page
    assert "campaigns evaluated: <b>35</b>" in page and "<th>at_share</th>" in page
    assert "<td>0.5 · production</td>" in page and "<td>0.75 · pickup</td>" in page
    # largest campaign first (c1 has the biggest P50; c2 has no forecast), label not repeated
    order = [page.index(f"<figcaption>Product {c} &lt;fresh&gt; (c{c}):") for c in (1, 0, 2)]
    assert order == sorted(order)
    # a gate message that repeats its part is not shown twice
    assert "<b>ranking</b>: production beats popularity" in page
    assert "1 min 15 s" in page
    # the warehouse's quarantine is every run's, and said so (this run's counts are the Ingest table's)
    assert "<h3>In quarantine, all runs</h3>" in page and "own are in the Ingest table above" in page
    assert "quarantined in this run" not in page


def test_report_escapes_text_and_references_nothing_outside(tiny: dict[str, pl.DataFrame]) -> None:  # noqa: F811
    page = render_report(full_context(tiny))
    assert "&lt;b&gt;on&lt;/b&gt; this home &amp; data" in page
    assert "Product 0 &lt;fresh&gt;" in page and "<fresh>" not in page
    assert external_refs(page) == []
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "<img" not in page


def test_almost_empty_context_renders_without_charts() -> None:
    ctx = ReportContext(run_id="r1", date=date(2026, 3, 1), status="failed", model_version="")
    page = render_report(ctx)
    for title in SECTION_TITLES:
        assert f">{title}</h2>" in page
    assert page.count("<svg") == 0
    assert page.count("not available in this run") >= 6
    assert external_refs(page) == []


def test_a_refused_run_does_not_call_its_lists_published() -> None:
    gates = [{"part": "ranking", "passed": False, "picks_below_popularity": True, "message": "ranking: …"},
             {"part": "publish", "passed": False, "message": "publish: refused: the picks are empty"}]
    page = render_report(ReportContext(run_id="r1", date=date(2026, 3, 25), status="refused",
                                       model_version="", gates=gates))
    assert "refused: the picks are empty" in page
    assert "<b>The picks score below the popularity baseline</b>" in page
    assert "published picks" not in page and "Built with the fallback for: <b>ranking</b>" in page


def test_partial_context_with_empty_frames_and_odd_values() -> None:
    ctx = ReportContext(
        run_id="r2",
        date=date(2026, 3, 1),
        status="running",
        model_version="v",
        stages=[{"name": "ingest"}],
        recsys={"groups_evaluated": 0, "models": {"popularity": {"ndcg@10": float("nan"), "note": "x"}}},
        forecast={"series_evaluated": 0, "models": {}, "presale": {"by_checkpoint": [{"wape": None}]}},
        booking_curves=pl.DataFrame(
            {
                "campaign_id": ["c9", "c9"],
                "label": ["Eggs (c9)", "Eggs (c9)"],
                "cum_qty": [3, 7],
                "at": [datetime(2026, 3, 1, 9, tzinfo=TZ), datetime(2026, 3, 1, 12, tzinfo=TZ)],
            }
        ),  # no forecast and no cutoff columns
        business=business_view({}),
    )
    page = render_report(ctx)
    assert "<figcaption>Eggs (c9): 7 ordered so far; no forecast yet</figcaption>" in page
    assert "Forecast accuracy: not available in this run" in page
    assert "<th>by_checkpoint</th>" in page and "<td>1</td>" in page
    # the only charts: the booking curve and the (all-zero) business tier and behaviour bars
    assert page.count("<svg") == 3
    empty_curves = ReportContext(
        run_id="r3", date=date(2026, 3, 1), status="ok", model_version="v", booking_curves=pl.DataFrame()
    )
    assert "Booking curves: not available in this run" in render_report(empty_curves)


MARK = "<x onload=1>"
_names = st.text(min_size=1, max_size=12).map(lambda t: t + MARK)
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**9),
    st.floats(allow_nan=True, allow_infinity=True),
    _names,
)
_metrics = st.dictionaries(
    st.sampled_from(["ndcg@10", "recall@10", "wape", "bias", "coverage_p10_p90", MARK]), _values, max_size=5
)
_nested = st.recursive(
    _values,
    lambda inner: st.dictionaries(_names, inner, max_size=3) | st.lists(inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(
    recsys_models=st.dictionaries(_names, _metrics, max_size=4),
    forecast_models=st.dictionaries(_names, _metrics, max_size=3),
    presale=_nested,
    stages=st.lists(
        st.fixed_dictionaries({"name": _names, "seconds": _values, "rows_in": _values}), max_size=4
    ),
    gates=st.lists(
        st.fixed_dictionaries({"part": _names, "passed": st.booleans(), "message": _names}), max_size=3
    ),
)
def test_any_metrics_render_escaped_without_error(
    recsys_models, forecast_models, presale, stages, gates
) -> None:
    """Whatever numbers and names arrive (NaN, text, nested presale), the page renders and escapes them."""
    ctx = ReportContext(
        run_id=MARK,
        date=date(2026, 3, 1),
        status=MARK,
        model_version=MARK,
        stages=stages,
        recsys={"groups_evaluated": MARK, "models": recsys_models},
        forecast={"series_evaluated": 1, "models": forecast_models, "presale": presale},
        quarantine_by_rule=[{"table_name": MARK, "rule": MARK, "rows": 3}],
        gates=gates,
        notes=[MARK],
    )
    page = render_report(ctx)
    assert MARK not in page and "&lt;x onload=1&gt;" in page
    assert page.rstrip().endswith("</html>") and external_refs(page) == []


def test_head_series_figures_are_quoted_first(tiny: dict[str, pl.DataFrame]) -> None:  # noqa: F811
    ctx = full_context(tiny)
    head = {"series": 37, "threshold": 28.0, "window_days": 28,
            "models": {"seasonal_naive": {"total_wape": 0.9, "bias": 0.01, "coverage_p10_p90": 0.6},
                       "production": {"total_wape": 0.72, "bias": -0.03, "coverage_p10_p90": 0.8}},
            "intervals": {"total_wape": {"production": [0.65, 0.79], "seasonal_naive": [0.8, 1.0]}}}
    ctx = replace(ctx, forecast={**ctx.forecast, "head": head})
    page = render_report(ctx)
    assert "Series a supplier plans on" in page and "<b>37</b>" in page
    assert "0.650 – 0.790" in page and "-20.0%" in page  # interval, and production vs seasonal naive
    assert page.index("Series a supplier plans on") < page.index("Every series, daily cells")


def test_the_nowcasts_event_correction_is_said_in_lines_not_flattened_into_the_accuracy_table() -> None:
    said = [{"event": "cny", "label": "春节", "event_day": "2026-02-17", "last_year": "2025-01-29",
             "analog_origin": "2025-01-22", "applied": False, "days": ["2026-02-17", "2026-02-18"],
             "reason": "no campaign closed a year before"}]
    presale = {"wape": 0.31, "by_share": {"0.5": {"wape": 0.2}}, "event_analog": said}
    page = render_report(ReportContext(run_id="r1", date=date(2026, 2, 10), status="succeeded",
                                       model_version="m", forecast={"presale": presale}))
    assert "春节 on 2026-02-17 (last year's, read as of 2025-01-22): not applied: no campaign closed" in page
    assert "event_analog" not in page and "analog_origin" not in page


def test_the_head_series_totals_are_named_by_the_horizon_scored() -> None:
    head = {"series": 40, "threshold": 28, "window_days": 28, "horizon_days": 14,
            "models": {"production": {"total_wape": 0.5}, "seasonal_naive": {"total_wape": 0.4}}}
    page = render_report(ReportContext(run_id="r1", date=date(2026, 2, 10), status="succeeded",
                                       model_version="m", forecast={"head": head}))
    assert "scored on their 14-day totals" in page and "7-day" not in page


def test_a_report_without_booking_curves_says_why() -> None:
    """Same-day campaigns (09:00–23:00) are never open at the nightly's 00:00: the section says so, not
    only "not available"; a demand table without campaign rows says that instead."""
    from types import SimpleNamespace

    from pipelines.nightly.reporting import _why_no_curves

    as_of = datetime(2026, 3, 16, tzinfo=TZ)
    upcoming = pl.DataFrame({"campaign_id": ["C1"], "product_id": ["P1"]})
    daily = pl.DataFrame({"campaign_id": [None], "product_id": ["P1"]},
                         schema_overrides={"campaign_id": pl.String})
    drawn = pl.DataFrame()  # the forecast stage drew none

    def why_of(demand, curves=drawn):
        return _why_no_curves(SimpleNamespace(demand=demand, as_of=as_of, booking_curves=curves))

    why = why_of(upcoming)
    assert "2026-03-16 00:00 platform time" in why and "bottom_up" in why
    assert "no per-campaign rows" in why_of(daily)
    assert why_of(None) is None and why_of(upcoming, curves=None) is None  # stopped before drawing
    assert why_of(upcoming.with_columns(ordered_qty=pl.lit(3))) is None  # orders pooled: no claim
    html = render_report(ReportContext(run_id="r", date=date(2026, 3, 16), status="succeeded",
                                       model_version="m", booking_curves_missing=why))
    assert "Booking curves: not available in this run." in html and "with nothing booked yet to draw" in html

"""Hand-made inline SVG charts for the run report and the supplier's page (one chart module for
both): plain markup, no fonts, scripts or links.

Each function returns one `<svg>` element (or "" when there is nothing to draw) that scales to
its container's width through its viewBox. Every text is escaped here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F", "#332288")
INK, MUTED, GRID = "#1f2933", "#616e7c", "#e4e7eb"
BAND, LINE, SUGGESTED = "#0072B2", "#1f2933", "#2e8b57"
CHAR_W = 6.8  # average glyph width at 12px, used only for layout
MAX_ABS = 1e15
PLOT_SHARE = 0.8  # bars use the left 80% of a bar chart; value labels the rest
FONT = 'font-family="system-ui, -apple-system, \'Segoe UI\', Roboto, sans-serif" font-size="12"'


def esc(value: object) -> str:
    """Escape any value for HTML text or an attribute."""
    return html.escape(str(value), quote=True)


def fmt_number(v: float) -> str:
    """Short human number: thousands separators for big values, 3 decimals for small ones."""
    if v == 0:
        return "0"
    if abs(v) >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.3f}"


def fmt_qty(v: float) -> str:
    """A quantity: whole numbers from 10 up, one decimal below, and a value that rounds to a whole
    number written as one ("0", "2", never "0.0" beside "0")."""
    if abs(v) >= 10 or float(v).is_integer():
        return f"{v:,.0f}"
    text = f"{v:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def fmt_pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _n(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def nice_ticks(lo: float, hi: float, count: int = 4, *, integer: bool = False) -> list[float]:
    """Round tick values covering [lo, hi] (the last tick is >= hi); whole steps for counts."""
    if not hi - lo > 1e-9 * max(1.0, abs(lo)):  # empty, or too thin to draw (5e-324 has no log)
        hi = lo + 1.0
    raw = max((hi - lo) / count, 1.0) if integer else (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw * 0.999)
    first = math.floor(lo / step + 1e-9) * step
    ticks = []
    t = first
    while t < hi + step * 0.999:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg class="chart fan" viewBox="0 0 {_n(width)} {_n(height)}" width="100%" role="img" '
        f'preserveAspectRatio="xMinYMin meet" {FONT}><title>{esc(title)}</title>' + "".join(body) + "</svg>"
    )


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str, extra: str = "") -> str:
    return f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{stroke}"{extra}/>'


def _text(x: float, y: float, content: str, fill: str = INK, anchor: str = "start") -> str:
    """A text element; `content` must already be escaped markup."""
    a = "" if anchor == "start" else f' text-anchor="{anchor}"'
    return f'<text x="{_n(x)}" y="{_n(y)}" fill="{fill}"{a}>{content}</text>'


def _fit(label: str, max_chars: int) -> str:
    return label if len(label) <= max_chars else label[: max(1, max_chars - 1)] + "…"


def _legend(names: Sequence[str]) -> str:
    """Colour keys as HTML above the chart, so that they wrap on a narrow screen."""
    keys = "".join(
        f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{esc(name)}</span>'
        for i, name in enumerate(names)
    )
    return f'<div class="legend">{keys}</div>'


def _drawable(v: float | None) -> bool:
    """A value a chart can place: finite and within +-1e15 (anything beyond shows as a dash)."""
    return v is not None and math.isfinite(v) and abs(v) <= MAX_ABS


def _pc(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") + "%"


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    fmt: Callable[[float], str] = fmt_number,
    ref: tuple[float, str] | None = None,
) -> str:
    """Horizontal grouped bars: per category a label line, then one bar per series; `ref` a marked line.

    Horizontal positions are percentages of the chart's width and text keeps its pixel size, so the
    chart reads the same on a phone and on a desktop. A legend (HTML) precedes it when there are
    several series.
    """
    series = [(name, [v if _drawable(v) else None for v in vals]) for name, vals in series]
    values = [v for _, vals in series for v in vals if v is not None]
    if not categories or not values:
        return ""
    lo = min(0.0, *values)
    hi = max(0.0, *values, *([ref[0]] if ref else []))
    ticks = nice_ticks(lo, hi, integer=all(float(v).is_integer() for v in values))
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    span = PLOT_SHARE * 100

    def x(v: float) -> float:  # percent of the width
        return (v - lo) / (hi - lo) * span

    multi = len(series) > 1
    bar_h, bar_gap, label_h, group_gap = (12.0 if multi else 16.0), 3.0, 17.0, 9.0
    group_h = label_h + len(series) * (bar_h + bar_gap)
    top = 2.0
    plot_bottom = top + len(categories) * (group_h + group_gap)
    height = plot_bottom + 18
    body: list[str] = []
    for i, t in enumerate(ticks):
        body.append(
            f'<text x="{_pc(x(t))}" y="{_n(plot_bottom + 12)}" fill="{MUTED}" '
            f'text-anchor="{"start" if i == 0 else "middle"}">{esc(fmt(t))}</text>'
        )
    for gi, cat in enumerate(categories):
        gy = top + gi * (group_h + group_gap)
        y0, y1 = _n(gy + label_h - 2), _n(gy + group_h + (group_gap if gi == len(categories) - 1 else 0))
        for t in ticks:
            colour = MUTED if t == 0 else GRID
            body.append(f'<line x1="{_pc(x(t))}" y1="{y0}" x2="{_pc(x(t))}" y2="{y1}" stroke="{colour}"/>')
        body.append(_text(0, gy + 13, f"<title>{esc(cat)}</title>{esc(_fit(cat, 60))}", INK))
        for si, (name, vals) in enumerate(series):
            v = vals[gi] if gi < len(vals) else None
            by = gy + label_h + si * (bar_h + bar_gap)
            text_y = _n(by + bar_h - 2)
            if v is None:
                body.append(f'<text x="{_pc(x(0))}" dx="4" y="{text_y}" fill="{MUTED}">–</text>')
                continue
            left, right = sorted((x(0), x(v)))
            body.append(
                f'<rect x="{_pc(left)}" y="{_n(by)}" width="{_pc(right - left)}" height="{_n(bar_h)}" '
                f'rx="2" fill="{PALETTE[si % len(PALETTE)]}"><title>{esc(name)} · {esc(cat)}: '
                f"{esc(fmt(v))}</title></rect>"
                f'<text x="{_pc(max(right, x(0)))}" dx="4" y="{text_y}" fill="{INK}">{esc(fmt(v))}</text>'
            )
    if ref is not None:
        body.append(
            f'<line x1="{_pc(x(ref[0]))}" y1="{_n(top)}" x2="{_pc(x(ref[0]))}" y2="{_n(plot_bottom)}" '
            f'stroke="{PALETTE[5]}" stroke-width="1.5" stroke-dasharray="5 3"/>'
            f'<text x="{_pc(x(ref[0]))}" dx="4" y="{_n(top + 12)}" fill="{PALETTE[5]}">{esc(ref[1])}</text>'
        )
    svg = (
        f'<svg class="chart bars" width="100%" height="{_n(height)}" role="img" {FONT}>'
        f"<title>{esc(title)}</title>" + "".join(body) + "</svg>"
    )
    return (_legend([name for name, _ in series]) if multi else "") + svg


def fan_chart(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    title: str,
    cutoff: float | None,
    band: tuple[float, float, float] | None,
    x_fmt: Callable[[float], str],
    width: int = 420,
    height: int = 240,
    now: float | None = None,
    suggested: float | None = None,
    suggested_label: str = "suggested {qty}",
    cutoff_label: str = "cutoff",
    band_label: str = "P10–P90 at cutoff: {p10} – {p90}",
    so_far_label: str = "ordered so far: {qty}",
) -> str:
    """A cumulative booking curve (steps) with its forecast fan from the last point to the cutoff.

    `band` is (p10, p50, p90) of the total at `cutoff`: a shaded P10–P90 fan, a dashed P50 line and
    the three values written at the cutoff. `now` draws a dotted line at the reading instant,
    `suggested` a horizontal line at the suggested quantity labelled `suggested_label` (a template
    with {qty}, in the reader's language; `band_label` and `so_far_label`, the tooltips, likewise).
    Classes `curve`, `band`, `p50`, `suggested` let a page's stylesheet colour them.
    """
    pairs = [(x, y) for x, y in zip(xs, ys, strict=True) if _drawable(y)]
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    if band is not None and not all(_drawable(v) for v in band):
        band = None
    if not xs and (cutoff is None or band is None):
        return ""
    labels = {
        name: f"{name} {fmt_qty(v)}" for name, v in zip(("P10", "P50", "P90"), band or (), strict=False)
    }
    pad_l, pad_t, pad_b = 44.0, 20.0, 24.0
    pad_r = max([len(t) for t in labels.values()] + [0]) * CHAR_W + 14 if band else 16.0
    all_x = list(xs) + ([cutoff] if cutoff is not None else [])
    xlo, xhi = min(all_x), max(all_x)
    if xhi <= xlo:
        xlo, xhi = xlo - 3600.0, xhi + 3600.0
    y_top = max([*ys, *(band or ()), suggested or 0.0, 1.0])
    yticks = nice_ticks(0.0, y_top, integer=True)
    ylo, yhi = yticks[0], yticks[-1]

    def px(v: float) -> float:
        return pad_l + (v - xlo) / (xhi - xlo) * (width - pad_l - pad_r)

    def py(v: float) -> float:
        return height - pad_b - (v - ylo) / (yhi - ylo) * (height - pad_t - pad_b)

    body: list[str] = []
    for t in yticks:
        body.append(
            _line(pad_l, py(t), width - pad_r, py(t), GRID)
            + _text(pad_l - 6, py(t) + 4, esc(fmt_qty(t)), MUTED, "end")
        )
    for i in range(3):
        t = xlo + (xhi - xlo) * i / 2
        anchor = ("start", "middle", "end")[i]
        body.append(_text(px(t), height - 8, esc(x_fmt(t)), MUTED, anchor))
    last = (xs[-1], ys[-1]) if xs else (xlo, 0.0)
    if cutoff is not None:
        cx = px(cutoff)
        body.append(
            _line(cx, pad_t - 6, cx, height - pad_b, MUTED, ' stroke-dasharray="2 3"')
            + _text(cx - 4, pad_t - 8, esc(cutoff_label), MUTED, "end")
        )
        if band is not None:
            p10, p50, p90 = band
            lx, ly = px(last[0]), py(last[1])
            body.append(
                f'<polygon class="band" points="{_n(lx)},{_n(ly)} {_n(cx)},{_n(py(p90))} '
                f'{_n(cx)},{_n(py(p10))}" '
                f'fill="{BAND}" fill-opacity="0.18"><title>'
                f"{esc(band_label.format(p10=fmt_qty(p10), p90=fmt_qty(p90)))}</title></polygon>"
                + _line(cx, py(p90), cx, py(p10), BAND, ' stroke-width="2"')
                + _line(lx, ly, cx, py(p50), BAND, ' class="p50" stroke-width="2" stroke-dasharray="6 4"')
                + f'<circle cx="{_n(cx)}" cy="{_n(py(p50))}" r="3.5" fill="{BAND}"/>'
            )
            label_ys = _spread([py(p90), py(p50), py(p10)], min_gap=13.0)
            for name, ly_ in zip(("P90", "P50", "P10"), label_ys, strict=True):
                body.append(_text(cx + 6, ly_ + 4, esc(labels[name])))
    if xs:
        pts = [f"{_n(px(xs[0]))},{_n(py(ys[0]))}"]
        for i in range(1, len(xs)):
            pts.append(f"{_n(px(xs[i]))},{_n(py(ys[i - 1]))}")
            pts.append(f"{_n(px(xs[i]))},{_n(py(ys[i]))}")
        body.append(
            f'<polyline class="curve" points="{" ".join(pts)}" fill="none" stroke="{LINE}" stroke-width="2">'
            f"<title>{esc(so_far_label.format(qty=fmt_qty(ys[-1])))}</title></polyline>"
        )
    if now is not None and xlo <= now <= xhi:
        body.append(_line(px(now), pad_t, px(now), height - pad_b, MUTED, ' stroke-dasharray="1 3"'))
    if suggested is not None and _drawable(suggested):
        sy = py(suggested)
        label = esc(suggested_label.format(qty=fmt_qty(suggested)))
        body.append(_line(pad_l, sy, width - pad_r, sy, SUGGESTED,
                          ' class="suggested" stroke-width="1.5" stroke-dasharray="2 3"')
                    + _text(pad_l + 4, sy - 4, label, SUGGESTED))
    return _svg(width, height, title, body)


def _spread(ys: list[float], min_gap: float) -> list[float]:
    """Push label positions (top to bottom) apart so that no two are closer than `min_gap`."""
    out = list(ys)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + min_gap)
    return out

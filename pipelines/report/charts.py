"""Hand-made inline SVG charts for the run report: plain markup, no fonts, scripts or links.

Each function returns one `<svg>` element (or "" when there is nothing to draw) that scales to
its container's width through its viewBox. Every text is escaped here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#7F7F7F", "#332288")
INK, MUTED, GRID = "#1f2933", "#616e7c", "#e4e7eb"
BAND, LINE = "#0072B2", "#1f2933"
CHAR_W = 6.8  # average glyph width at 12px, used only for layout
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


def fmt_pct(v: float) -> str:
    return f"{100 * v:.1f}%"


def _n(x: float) -> str:
    return f"{x:.1f}".removesuffix(".0")


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering [lo, hi] (the last tick is >= hi)."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
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
        f'<svg class="chart" viewBox="0 0 {_n(width)} {_n(height)}" width="100%" role="img" '
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


def _legend(names: Sequence[str], width: float, y0: float) -> tuple[list[str], float]:
    """Colour keys laid out left to right, wrapping; returns the elements and the height used."""
    out, x, y = [], 0.0, y0
    for i, name in enumerate(names):
        w = 18 + len(name) * CHAR_W + 16
        if x > 0 and x + w > width:
            x, y = 0.0, y + 18
        out.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="11" height="11" rx="2" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>' + _text(x + 16, y + 10, esc(name))
        )
        x += w
    return out, (y - y0) + 22


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    fmt: Callable[[float], str] = fmt_number,
    ref: tuple[float, str] | None = None,
    width: int = 640,
) -> str:
    """Horizontal grouped bars: one group per category, one bar per series; `ref` draws a marked line."""
    values = [v for _, vals in series for v in vals if v is not None and math.isfinite(v)]
    if not categories or not values:
        return ""
    label_w = min(max(len(c) for c in categories) * CHAR_W + 14, width * 0.4)
    value_w = max(len(fmt(v)) for v in values) * CHAR_W + 10
    x0, x1 = label_w, width - value_w
    lo = min(0.0, *values)
    hi = max(0.0, *values, *([ref[0]] if ref else []))
    ticks = nice_ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])

    def x(v: float) -> float:
        return x0 + (v - lo) / (hi - lo) * (x1 - x0)

    body: list[str] = []
    top = 4.0
    if len(series) > 1:
        legend, used = _legend([name for name, _ in series], width, top)
        body += legend
        top += used
    bar_h = 14.0 if len(series) > 1 else 18.0
    group_h = len(series) * bar_h + (len(series) - 1) * 2
    gap = 12.0
    plot_bottom = top + len(categories) * (group_h + gap)
    height = plot_bottom + 22
    for t in ticks:
        body.append(
            _line(x(t), top, x(t), plot_bottom, GRID)
            + _text(x(t), plot_bottom + 15, esc(fmt(t)), MUTED, "middle")
        )
    max_chars = int((label_w - 14) / CHAR_W)
    for gi, cat in enumerate(categories):
        gy = top + gi * (group_h + gap) + gap / 2
        body.append(
            _text(
                label_w - 8,
                gy + group_h / 2 + 4,
                f"<title>{esc(cat)}</title>{esc(_fit(cat, max_chars))}",
                INK,
                "end",
            )
        )
        for si, (name, vals) in enumerate(series):
            v = vals[gi] if gi < len(vals) else None
            by = gy + si * (bar_h + 2)
            if v is None or not math.isfinite(v):
                body.append(_text(x(0) + 4, by + bar_h - 4, "–", MUTED))
                continue
            left, right = sorted((x(0), x(v)))
            colour = PALETTE[si % len(PALETTE)]
            body.append(
                f'<rect x="{_n(left)}" y="{_n(by)}" width="{_n(max(right - left, 0.5))}" '
                f'height="{_n(bar_h)}" rx="2" fill="{colour}">'
                f"<title>{esc(name)} · {esc(cat)}: {esc(fmt(v))}</title></rect>"
                + _text(max(right, x(0)) + 4, by + bar_h - 4, esc(fmt(v)))
            )
    body.append(_line(x(0), top, x(0), plot_bottom, MUTED))
    if ref is not None:
        rx = x(ref[0])
        body.append(
            _line(rx, top, rx, plot_bottom, PALETTE[5], ' stroke-width="1.5" stroke-dasharray="5 3"')
            + _text(rx - 4, plot_bottom - 4, esc(ref[1]), PALETTE[5], "end")
        )
    return _svg(width, height, title, body)


def fan_chart(
    xs: Sequence[float],
    ys: Sequence[float],
    *,
    title: str,
    cutoff: float | None,
    band: tuple[float, float, float] | None,
    x_fmt: Callable[[float], str],
    width: int = 440,
    height: int = 250,
) -> str:
    """A cumulative booking curve (steps) with its forecast fan from the last point to the cutoff.

    `band` is (p10, p50, p90) of the total at `cutoff`: a shaded P10–P90 fan, a dashed P50 line and
    the three values written at the cutoff.
    """
    if not xs and (cutoff is None or band is None):
        return ""
    pad_l, pad_r, pad_t, pad_b = 48.0, 70.0 if band else 16.0, 20.0, 26.0
    all_x = list(xs) + ([cutoff] if cutoff is not None else [])
    xlo, xhi = min(all_x), max(all_x)
    if xhi <= xlo:
        xlo, xhi = xlo - 3600.0, xhi + 3600.0
    y_top = max([*ys, *(band or ()), 1.0])
    yticks = nice_ticks(0.0, y_top)
    ylo, yhi = yticks[0], yticks[-1]

    def px(v: float) -> float:
        return pad_l + (v - xlo) / (xhi - xlo) * (width - pad_l - pad_r)

    def py(v: float) -> float:
        return height - pad_b - (v - ylo) / (yhi - ylo) * (height - pad_t - pad_b)

    body: list[str] = []
    for t in yticks:
        body.append(
            _line(pad_l, py(t), width - pad_r, py(t), GRID)
            + _text(pad_l - 6, py(t) + 4, esc(fmt_number(t)), MUTED, "end")
        )
    for i in range(4):
        t = xlo + (xhi - xlo) * i / 3
        anchor = ("start", "middle", "middle", "end")[i]
        body.append(_text(px(t), height - 8, esc(x_fmt(t)), MUTED, anchor))
    last = (xs[-1], ys[-1]) if xs else (xlo, 0.0)
    if cutoff is not None:
        cx = px(cutoff)
        body.append(
            _line(cx, pad_t - 6, cx, height - pad_b, MUTED, ' stroke-dasharray="2 3"')
            + _text(cx - 4, pad_t - 8, "cutoff", MUTED, "end")
        )
        if band is not None:
            p10, p50, p90 = band
            lx, ly = px(last[0]), py(last[1])
            body.append(
                f'<polygon points="{_n(lx)},{_n(ly)} {_n(cx)},{_n(py(p90))} {_n(cx)},{_n(py(p10))}" '
                f'fill="{BAND}" fill-opacity="0.18"><title>P10–P90 at cutoff: {esc(fmt_number(p10))} – '
                f"{esc(fmt_number(p90))}</title></polygon>"
                + _line(cx, py(p90), cx, py(p10), BAND, ' stroke-width="2"')
                + _line(lx, ly, cx, py(p50), BAND, ' stroke-width="2" stroke-dasharray="6 4"')
                + f'<circle cx="{_n(cx)}" cy="{_n(py(p50))}" r="3.5" fill="{BAND}"/>'
            )
            label_ys = _spread([py(p90), py(p50), py(p10)], min_gap=13.0)
            for (name, v), ly_ in zip((("P90", p90), ("P50", p50), ("P10", p10)), label_ys, strict=True):
                body.append(_text(cx + 6, ly_ + 4, f"{name} {esc(fmt_number(v))}"))
    if xs:
        pts = [f"{_n(px(xs[0]))},{_n(py(ys[0]))}"]
        for i in range(1, len(xs)):
            pts.append(f"{_n(px(xs[i]))},{_n(py(ys[i - 1]))}")
            pts.append(f"{_n(px(xs[i]))},{_n(py(ys[i]))}")
        body.append(
            f'<polyline points="{" ".join(pts)}" fill="none" stroke="{LINE}" stroke-width="2">'
            f"<title>ordered so far: {esc(fmt_number(ys[-1]))}</title></polyline>"
        )
    return _svg(width, height, title, body)


def _spread(ys: list[float], min_gap: float) -> list[float]:
    """Push label positions (top to bottom) apart so that no two are closer than `min_gap`."""
    out = list(ys)
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1] + min_gap)
    return out

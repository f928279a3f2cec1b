"""Server-side HTML for the pages: string templates from api/templates, inline SVG charts, no CDN."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from functools import cache
from html import escape
from importlib import resources
from string import Template

import polars as pl

from api.clock import TZ, platform_now
from api.snapshot import Snapshot

SLOT_LABEL = {
    "hot": "热卖 hot",
    "regular": "常购 regular",
    "replenish": "该补货 replenish",
    "new": "新品 new",
}


@cache
def template(name: str) -> Template:
    return Template(resources.files("api").joinpath("templates", name).read_text(encoding="utf-8"))


def page(title: str, content: str, who: str = "", snapshot: str = "", body_class: str = "") -> str:
    logout = (
        '<form method="post" action="/logout"><button type="submit">Sign out</button></form>' if who else ""
    )
    return template("base.html").substitute(
        title=escape(title),
        content=content,
        who=escape(who),
        logout=logout,
        snapshot=escape(snapshot or "—"),
        body_class=escape(body_class),
    )


def login_page(error: str | None = None) -> str:
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return page("Sign in", template("login.html").substitute(error=err), body_class="login-page")


def message_page(title: str, text: str, who: str = "") -> str:
    return page(
        title,
        f'<section class="card"><h1>{escape(title)}</h1><p>{escape(text)}</p>'
        f'<p><a href="/">Back</a></p></section>',
        who=who,
    )


def _short_time(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).strftime("%m-%d %H:%M")
    except ValueError:
        return iso


def shop_page(
    snap: Snapshot, shopkeeper_id: str, who: str, marks: dict[tuple[str, str], str] | None = None
) -> str:
    """Today's picks for each of the shopkeeper's groups, with reasons and posted / skip buttons."""
    groups = snap.groups_of.get(shopkeeper_id, [])
    cities = dict(snap.groups.select("group_id", "city").iter_rows())
    parts = [
        f'<h1>今日推荐 · Today\'s picks <small class="muted">{escape(snap.default_picks_date)}</small></h1>'
    ]
    if not groups:
        parts.append(
            '<section class="card"><p>No groups for this shopkeeper in the live snapshot.</p></section>'
        )
    for gid in groups:
        data = json.loads(snap.picks_body(gid, None) or b"{}")
        items = []
        for p in data.get("picks", []):
            price = f"¥{p['price']:.2f}" if p.get("price") is not None else ""
            closes = (
                f'<span class="tag">截单 closes {escape(_short_time(p.get("closes_at")))}</span>'
                if p.get("closes_at")
                else ""
            )
            slot = str(p.get("slot") or "")
            mark = (marks or {}).get((gid, p["product_id"]))
            done = f" done-{escape(mark)}" if mark in ("posted", "skip") else ""
            status = {"posted": "已发 · posted ✓", "skip": "已跳过 · skipped"}.get(mark or "", "")
            items.append(
                f'<li class="pick{done}" data-group="{escape(gid)}" data-product="{escape(p["product_id"])}">'
                f'<div class="row1"><span class="rank">{p["rank"]}</span>'
                f'<span class="name">{escape(p.get("name") or p["product_id"])}</span>'
                f'<span class="price">{price}</span></div>'
                f'<div class="meta"><span class="tag slot-{escape(slot)}">'
                f"{escape(SLOT_LABEL.get(slot, slot))}</span>"
                f'<span class="tag">{escape(p.get("category") or "")}</span>{closes}</div>'
                f'<p class="reason">{escape(p.get("reason") or "")}</p>'
                f'<div class="actions"><button type="button" data-action="posted">已发 Posted</button>'
                f'<button type="button" data-action="skip">跳过 Skip</button></div>'
                f'<p class="status" aria-live="polite">{status}</p></li>'
            )
        body = "".join(items) or '<li class="muted">No picks for this group today.</li>'
        parts.append(
            f'<section class="card group" id="group-{escape(gid)}"><h2>群 {escape(gid)} '
            f'<small>{escape(cities.get(gid, ""))}</small></h2><ol class="picks">{body}</ol></section>'
        )
    return page("Picks", "".join(parts), who=who, snapshot=snap.run_id, body_class="shop")


def _num(value: object) -> str:
    if value is None:
        return "—"
    number = float(value)  # type: ignore[arg-type]
    return f"{number:,.0f}" if abs(number - round(number)) < 1e-9 else f"{number:,.1f}"


def _ratio(value: object) -> str:
    return "—" if value is None else f"{float(value):.2f}"  # type: ignore[arg-type]


def booking_chart(
    points: list[tuple[float, float]],
    opens: float,
    closes: float,
    now: float,
    p10: float,
    p50: float,
    p90: float,
    suggested: float | None,
    title: str,
) -> str:
    """Inline SVG: the booking curve so far, a P10-P90 fan to the cutoff, the P50 path and the suggestion."""
    w, h, left, right, top, bottom = 320, 190, 38, 12, 12, 26
    t0 = min([opens, *(t for t, _ in points)])
    t1 = max(closes, now, t0 + 1)
    peak = max([p90, p50, suggested or 0, *(q for _, q in points), 1.0]) * 1.1

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * (w - left - right)

    def y(q: float) -> float:
        return h - bottom - q / peak * (h - top - bottom)

    last_t, last_q = points[-1] if points else (now, 0.0)
    band = f"{x(last_t):.1f},{y(last_q):.1f} {x(t1):.1f},{y(p90):.1f} {x(t1):.1f},{y(p10):.1f}"
    curve = " ".join(f"{x(t):.1f},{y(q):.1f}" for t, q in points)
    out = [
        f'<svg viewBox="0 0 {w} {h}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#c9ced6"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#c9ced6"/>',
        f'<text x="{left - 4}" y="{h - bottom}" font-size="11" text-anchor="end" fill="#656d76">0</text>',
        f'<text x="{left - 4}" y="{top + 8}" font-size="11" text-anchor="end" '
        f'fill="#656d76">{_num(peak)}</text>',
        f'<polygon class="band" points="{band}" fill="var(--band, #f4a261)" '
        'fill-opacity="0.35" stroke="none"/>',
        f'<line class="p50" x1="{x(last_t):.1f}" y1="{y(last_q):.1f}" x2="{x(t1):.1f}" y2="{y(p50):.1f}" '
        f'stroke="var(--p50, #e76f51)" stroke-width="2" stroke-dasharray="5 3"/>',
    ]
    if suggested is not None:
        out.append(
            f'<line class="suggested" x1="{left}" y1="{y(suggested):.1f}" x2="{w - right}" '
            f'y2="{y(suggested):.1f}" stroke="#2e8b57" stroke-width="1.5" stroke-dasharray="2 3"/>'
        )
        out.append(
            f'<text x="{left + 4}" y="{y(suggested) - 4:.1f}" font-size="11" text-anchor="start" '
            f'fill="#2e8b57">建议备货 {_num(suggested)}</text>'
        )
    if curve:
        out.append(
            f'<polyline class="curve" points="{curve}" fill="none" stroke="var(--curve, #264653)" '
            f'stroke-width="2.2"/>'
        )
    out.append(
        f'<line x1="{x(now):.1f}" y1="{top}" x2="{x(now):.1f}" y2="{h - bottom}" stroke="#9aa1aa" '
        f'stroke-dasharray="1 3"/>'
    )
    out.append(
        f'<text x="{x(t1):.1f}" y="{y(p90) - 3:.1f}" font-size="11" text-anchor="end" '
        f'fill="#9a3412">P90 {_num(p90)}</text>'
    )
    out.append(
        f'<text x="{x(t1):.1f}" y="{y(p10) + 11:.1f}" font-size="11" text-anchor="end" '
        f'fill="#9a3412">P10 {_num(p10)}</text>'
    )
    for t, anchor in ((t0, "start"), (t1, "end")):
        label = datetime.fromtimestamp(t, TZ).strftime("%m-%d %H:%M")
        out.append(
            f'<text x="{x(t):.1f}" y="{h - 8}" font-size="11" text-anchor="{anchor}" '
            f'fill="#656d76">{label}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _as_of_time(as_of: object) -> float:
    """A demand row's as_of as unix time: a datetime as is, a date as the end of that day (platform zone)."""
    if isinstance(as_of, datetime):
        return as_of.timestamp()
    if isinstance(as_of, date):
        return datetime.combine(as_of, time(23, 59), tzinfo=TZ).timestamp()
    return platform_now().timestamp()


def _curve_points(snap: Snapshot, campaign_id: str, warehouse_id: str | None) -> list[tuple[float, float]]:
    curves = snap.booking_curves
    if curves is None or curves.height == 0:
        return []
    rows = curves.filter(
        (pl.col("campaign_id") == campaign_id) & (pl.col("warehouse_id") == warehouse_id)
    ).sort("at")
    return [(at.timestamp(), float(q)) for at, q in rows.select("at", "cum_qty").iter_rows()]


def supplier_page(snap: Snapshot, supplier_id: str, who: str, max_charts: int) -> str:
    """Pooled orders so far, booking-curve charts with the P10-P90 band and suggested qty, downloads."""
    frame = snap.demand_by_supplier.get(supplier_id)
    names = dict(snap.products.select("product_id", "name").iter_rows())
    camps = {r["campaign_id"]: r for r in snap.campaigns.iter_rows(named=True)}
    rows = frame.sort("ordered_qty", descending=True).iter_rows(named=True) if frame is not None else iter(())
    rows = list(rows)
    total = {k: sum(float(r[k] or 0) for r in rows) for k in ("ordered_qty", "forecast_p50", "suggested_qty")}
    n_campaigns = len({r["campaign_id"] for r in rows if r["campaign_id"]})
    tiles = "".join(
        f'<div class="tile"><b>{v}</b><span>{escape(label)}</span></div>'
        for v, label in (
            (n_campaigns, "campaigns · 团购活动"),
            (_num(total["ordered_qty"]), "pooled so far · 已拼单"),
            (_num(total["forecast_p50"]), "forecast P50 at cutoff · 预计"),
            (_num(total["suggested_qty"]), "suggested to prepare · 建议备货"),
        )
    )
    base = f"/v1/suppliers/{escape(supplier_id)}/demand?format="
    downloads = "".join(
        f'<a class="btn" href="{base}{fmt}" download>⬇ {label}</a>'
        for fmt, label in (("csv", "CSV (Excel)"), ("parquet", "Parquet"), ("json", "JSON"))
    )
    charts = []
    for r in [r for r in rows if r["campaign_id"] in camps][:max_charts]:
        c = camps[r["campaign_id"]]
        opens, closes = c["opens_at"].timestamp(), c["closes_at"].timestamp()
        points = _curve_points(snap, r["campaign_id"], r["warehouse_id"])
        now = min(points[-1][0] if points else _as_of_time(r["as_of"]), closes)
        if not points:
            points = [(opens, 0.0), (max(now, opens), float(r["ordered_qty"] or 0))]
        name = names.get(r["product_id"], r["product_id"])
        title = f"{name} · {r['warehouse_id']}"
        svg = booking_chart(
            points,
            opens,
            closes,
            now,
            float(r["forecast_p10"] or 0),
            float(r["forecast_p50"] or 0),
            float(r["forecast_p90"] or 0),
            None if r["suggested_qty"] is None else float(r["suggested_qty"]),
            title,
        )
        charts.append(
            f'<figure class="card chart"><figcaption>{escape(name)} <small class="muted">'
            f"{escape(r['campaign_id'])} · {escape(str(r['warehouse_id']))}</small></figcaption>{svg}"
            '<div class="legend"><span><i class="k-booked"></i>booked</span>'
            '<span><i class="k-band"></i>P10–P90</span>'
            '<span><i class="k-p50"></i>P50</span>'
            '<span><i class="k-suggested"></i>suggested</span></div></figure>'
        )
    head = (
        "<tr><th>product</th><th>campaign</th><th>warehouse</th><th>delivery</th><th>pooled</th>"
        "<th>groups</th><th>P10</th><th>P50</th><th>P90</th><th>suggested</th><th>critical ratio</th>"
        "<th>method</th></tr>"
    )
    body = (
        "".join(
            f"<tr><td>{escape(names.get(r['product_id'], r['product_id']))}</td>"
            f"<td>{escape(str(r['campaign_id'] or '—'))}"
            f"</td><td>{escape(str(r['warehouse_id']))}</td><td>{escape(str(r['delivery_on']))}</td>"
            f"<td>{_num(r['ordered_qty'])}</td><td>{_num(r['groups_ordering'])}</td><td>{_num(r['forecast_p10'])}</td>"
            f"<td>{_num(r['forecast_p50'])}</td><td>{_num(r['forecast_p90'])}</td><td><b>{_num(r['suggested_qty'])}</b></td>"
            f"<td>{_ratio(r.get('critical_ratio'))}</td><td>{escape(str(r.get('method') or '—'))}</td></tr>"
            + (
                f'<tr class="note"><td colspan="12">{escape(r["suggestion_note"])}</td></tr>'
                if r.get("suggestion_note")
                else ""
            )
            for r in rows
        )
        or '<tr><td colspan="12">No demand rows for this supplier.</td></tr>'
    )
    content = (
        f'<h1>需求预测 · Demand for {escape(supplier_id)} <small class="muted">as of '
        f'{escape(snap.date)}</small></h1><div class="tiles">{tiles}</div>'
        f'<div class="downloads">{downloads}</div><div class="charts">{"".join(charts)}</div>'
        f'<section class="card"><h2>Pooled orders and forecast</h2><div class="table-wrap"><table>'
        f"<thead>{head}</thead><tbody>{body}</tbody></table></div></section>"
    )
    return page("Demand", content, who=who, snapshot=snap.run_id, body_class="supplier")


def admin_page(snap: Snapshot, who: str) -> str:
    shops = "".join(
        f'<li><a href="/shop?shopkeeper={escape(s)}">{escape(s)}</a> '
        f'<span class="muted">{len(g)} groups</span></li>'
        for s, g in list(snap.groups_of.items())[:200]
    )
    sups = "".join(
        f'<li><a href="/supplier?supplier={escape(s)}">{escape(s)}</a></li>'
        for s in sorted(snap.suppliers)[:200]
    )
    content = (
        f'<h1>Admin</h1><section class="card"><h2>Shopkeepers</h2><ul>{shops}</ul></section>'
        f'<section class="card"><h2>Suppliers</h2><ul>{sups}</ul></section>'
    )
    return page("Admin", content, who=who, snapshot=snap.run_id)

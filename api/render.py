"""Server-side HTML for the pages: string templates from api/templates, inline SVG charts, no CDN.

Every text a person reads comes from the locale's catalog (`api.i18n.Messages`, passed in as `m`):
page text through `_ = m.gettext` (the English text is the message id), codes such as categories,
slots and forecast methods through `m.term` (the downloads keep the codes)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from functools import cache
from html import escape
from importlib import resources
from string import Template
from urllib.parse import quote, urlencode

import polars as pl

from api.clock import TZ, platform_now
from api.errors import clip
from api.i18n import LANGUAGE_TAGS, Messages
from api.served import ServedPicks
from api.snapshot import LOW_MIN_P50, LOW_SHARE, Snapshot
from common.charts import fan_chart
from common.exclusions import ExclusionEvent

OTHER_LANGUAGE = {"zh_CN": ("en", "English"), "en": ("zh-CN", "中文")}  # the language switch


@cache
def template(name: str) -> Template:
    return Template(resources.files("api").joinpath("templates", name).read_text(encoding="utf-8"))


CJK_PAIR = re.compile(r"(?<=[\u3400-\u9fff]) (?=[\u3400-\u9fff])")


def cjk_spacing(text: str) -> str:
    """Chinese typesetting: a space between a Latin word and a Chinese one ("SUP2 的需求预测"), none
    between two Chinese ones ("晨清食品有限公司的需求预测", not "晨清食品有限公司 的需求预测")."""
    return CJK_PAIR.sub("", text)


def page(
    m: Messages,
    title: str,
    content: str,
    who: str = "",
    snapshot: str = "",
    body_class: str = "",
    here: str = "/",
    notice: str = "",
) -> str:
    """The frame of every page; `here` (path and query, without lang) is where the language switch goes;
    `notice` (HTML) goes above the content."""
    _ = m.gettext
    sign_out = escape(_("Sign out"))
    logout = f'<form method="post" action="/logout"><button type="submit">{sign_out}</button></form>'
    logout = logout if who else ""
    tag, name = OTHER_LANGUAGE[m.locale]
    switch_href = f"{here}{'&' if '?' in here else '?'}lang={tag}"
    switch = f'<a class="lang" href="{escape(switch_href)}" hreflang="{tag}" lang="{tag}">{name}</a>'
    # what app.js shows after a tap, in the page's language (the strict CSP allows no inline script);
    # a refused tap is said by the kind of error (app.js maps the API's error code to a data-err-* key),
    # never by the API's English detail, which is for scripts and support
    body_attrs = " ".join(
        f'data-{key}="{escape(text)}"'
        for key, text in (
            ("msg-posted", _("Posted ✓")),
            ("msg-skip", _("Skipped")),
            ("msg-network", _("Network error, tap again")),
            ("msg-not-interested", _("Not interested: off this group's list")),
            ("err-refresh", _("This pick has changed; please reload the page.")),
            ("err-stale", _("This list is not today's any more; please reload the page.")),
            ("err-signin", _("Your sign-in is no longer valid; please sign in again.")),
            ("err-forbidden", _("This account cannot mark picks for this group.")),
            ("err-conflict",
             _("This tap clashed with an earlier one; please reload the page and try again.")),
            ("err-busy", _("Too many taps at once; please wait a moment and try again.")),
            ("err-unavailable", _("The service is updating; please try again in a minute.")),
            ("err-other", _("Not saved; please tap again.")),
        )
    )
    return template("base.html").substitute(
        lang=LANGUAGE_TAGS[m.locale],
        title=escape(title),
        tagline=escape(_("Group-buy assistant")),
        content=notice + content,
        who=escape(who),
        switch=switch,
        logout=logout,
        snapshot_label=escape(_("Snapshot")),
        snapshot=escape(snapshot or "—"),
        body_class=escape(body_class),
        body_attrs=body_attrs,
    )


def login_page(m: Messages, error: str | None = None) -> str:
    _ = m.gettext
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    form = template("login.html").substitute(
        heading=escape(_("Sign in")),
        intro=escape(
            _(
                "Paste the key you were given once. It is kept in a secure cookie on this device, "
                "never in a link."
            )
        ),
        error=err,
        key_label=escape(_("API key")),
        submit=escape(_("Sign in")),
    )
    return page(m, _("Sign in"), form, body_class="login-page", here="/login")


def message_page(m: Messages, title: str, text: str, who: str = "", here: str = "/",
                 snapshot: str = "") -> str:
    """A page that only says something (not yours, not found, not ready); `snapshot`: the live one's
    run id for the footer, where one is loaded."""
    back = escape(m.gettext("Back"))
    return page(
        m,
        title,
        f'<section class="card"><h1>{escape(title)}</h1><p>{escape(text)}</p>'
        f'<p><a href="/">{back}</a></p></section>',
        who=who,
        here=here,
        snapshot=snapshot,
    )


def ignored_notice(m: Messages, names: list[str], day: str) -> str:
    """A notice that the link carried parameters this page does not take (`/supplier?as_of=...`): the API
    refuses them (422), a page shows itself anyway but says what it ignored and which day it shows, so
    nobody reads today's data believing it is the day they asked for. "" without any."""
    if not names:
        return ""
    shown = ", ".join(clip(name) for name in names[:5]) + (" …" if len(names) > 5 else "")
    text = m.gettext("Not used by this page, so ignored: {params}. It shows the data for {day}.").format(
        params=shown, day=day
    )
    return f'<div class="banner" role="status">{escape(text)}</div>'


def _short_time(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).strftime("%m-%d %H:%M")
    except ValueError:
        return iso


def _closes_at(iso: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(iso) if iso else None
    except ValueError:
        return None


def stale_banner(m: Messages, day: str, now: datetime, closes: list[datetime | None]) -> str:
    """A banner when the list is not for today, or when every cutoff on it has passed ("" otherwise)."""
    _ = m.gettext
    today = now.date().isoformat()
    if day < today:
        text = _(
            "This list is for {day}, not today ({today}): today's list is not published yet. "
            "Marking posted / skip is off."
        ).format(day=day, today=today)
    elif day > today:
        text = _(
            "This list is for {day}, not today ({today}). Marking posted / skip opens on that day."
        ).format(day=day, today=today)
    elif closes and all(c is not None and c <= now for c in closes):
        text = _("Every cutoff on this list has passed: nothing on it can be ordered now.")
    else:
        return ""
    return f'<div class="banner" role="status">{escape(text)}</div>'


def group_title(snap: Snapshot, m: Messages, group_id: str) -> str:
    """What the shopkeeper calls the group, else "Group G1" in the page's language."""
    return snap.group_title(group_id) or m.gettext("Group {group}").format(group=group_id)


def group_switcher(
    snap: Snapshot, groups: list[str], chosen: str, m: Messages, shopkeeper: str | None
) -> str:
    """A select of the shopkeeper's groups (a GET form: the choice is in the URL, ?group=); app.js
    submits it on change, the button does without script. Empty for a single group."""
    if len(groups) < 2:
        return ""
    _ = m.gettext
    options = "".join(
        f'<option value="{escape(g)}"{" selected" if g == chosen else ""}>{escape(group_title(snap, m, g))}'
        "</option>"
        for g in groups
    )
    keep = f'<input type="hidden" name="shopkeeper" value="{escape(shopkeeper)}">' if shopkeeper else ""
    label = escape(_("Group ({n} in all)").format(n=len(groups)))
    show = escape(_("Show"))
    return (
        f'<form class="card switcher" method="get" action="/shop">{keep}'
        f'<label for="group-select">{label}</label><div class="switch-row">'
        f'<select id="group-select" name="group" data-autosubmit>{options}</select>'
        f'<button type="submit">{show}</button></div></form>'
    )


def shop_page(
    snap: Snapshot,
    shopkeeper_id: str,
    who: str,
    marks: dict[tuple[str, str], str] | None,
    m: Messages,
    here: str = "/shop",
    group_id: str | None = None,
    served: ServedPicks | None = None,
    admin_view: bool = False,
    notice: str = "",
) -> str:
    """Today's picks for one of the shopkeeper's groups (`group_id`, default the first), a switcher to
    the others, reasons and posted / skip / not-interested buttons; a banner and no buttons when the
    list is not for today, no buttons on a pick whose cutoff passed. `served` filters the list as the
    API does (not interested, exclusions); without it the list is shown as published. `notice` (HTML, see
    `ignored_notice`) goes above it."""
    _ = m.gettext
    now = platform_now()
    day = snap.default_picks_date
    not_today = day != now.date().isoformat()
    groups = snap.groups_of.get(shopkeeper_id, [])
    gid = group_id if group_id in groups else (groups[0] if groups else None)
    heading = escape(_("Today's picks"))
    parts = [f'<h1>{heading} <small class="muted">{escape(day)}</small></h1>']
    if gid is None:
        none = escape(_("No groups for this shopkeeper in the live snapshot."))
        parts.append(f'<section class="card"><p>{none}</p></section>')
        content = "".join(parts)
        return page(m, _("Picks"), content, who=who, snapshot=snap.run_id, body_class="shop", here=here,
                    notice=notice)
    raw = served.body(snap, gid, None, m.locale) if served else snap.picks_body(gid, None, m.locale)
    picks = json.loads(raw or b"{}").get("picks", [])
    closes = [_closes_at(p.get("closes_at")) for p in picks]
    parts.append(stale_banner(m, day, now, closes))
    parts.append(group_switcher(snap, groups, gid, m, shopkeeper_id if admin_view else None))
    status_text = {"posted": _("Posted ✓"), "skip": _("Skipped")}
    posted, skip, closed_at, closes_at = _("Posted"), _("Skip"), _("Closed {time}"), _("Closes {time}")
    not_interested = _("Not interested")
    items = []
    for p in picks:
        price = f"¥{p['price']:.2f}" if p.get("price") is not None else ""
        listed = p.get("list_price")
        if price and listed is not None and listed > p["price"] + 0.005:  # the deal: the list price struck
            price = f'<s class="list">¥{listed:.2f}</s> {price}'
        cutoff = _closes_at(p.get("closes_at"))
        closed = cutoff is not None and cutoff <= now
        when = _short_time(p.get("closes_at"))
        closes_tag = (
            f'<span class="tag{" closed" if closed else ""}">'
            f"{escape((closed_at if closed else closes_at).format(time=when))}</span>"
            if p.get("closes_at")
            else ""
        )
        slot = str(p.get("slot") or "")
        mark = (marks or {}).get((gid, p["product_id"]))
        done = f" done-{escape(mark)}" if mark in ("posted", "skip") else ""
        off = " disabled" if not_today or closed else ""
        items.append(
            f'<li class="pick{done}{" closed" if closed else ""}" data-group="{escape(gid)}" '
            f'data-product="{escape(p["product_id"])}">'
            f'<div class="row1"><span class="rank">{p["rank"]}</span>'
            f'<span class="name">{escape(p.get("name") or p["product_id"])}</span>'
            f'<span class="price">{price}</span></div>'
            f'<div class="meta"><span class="tag slot-{escape(slot)}">'
            f"{escape(m.term('slot', slot))}</span>"
            f'<span class="tag">{escape(p.get("category_name") or m.term("category", p.get("category")))}'
            f"</span>{closes_tag}</div>"
            f'<p class="reason">{escape(p.get("reason") or "")}</p>'
            f'<div class="actions"><button type="button" data-action="posted"{off}>{escape(posted)}'
            f'</button><button type="button" data-action="skip"{off}>{escape(skip)}</button>'
            f'<button type="button" class="quiet" data-action="not_interested">{escape(not_interested)}'
            "</button></div>"
            f'<p class="status" aria-live="polite">{escape(status_text.get(mark or "", ""))}</p></li>'
        )
    no_picks = _("No picks for this group today.")
    body = "".join(items) or f'<li class="muted">{escape(no_picks)}</li>'
    city = m.term("city", snap.groups_city(gid))
    title = escape(group_title(snap, m, gid))
    sub = escape(" · ".join(x for x in (city, gid if snap.group_title(gid) else "") if x))
    parts.append(
        f'<section class="card group" id="group-{escape(gid)}">'
        f"<h2>{title} <small>{sub}</small></h2>"
        f'<ol class="picks">{body}</ol></section>'
    )
    return page(m, _("Picks"), "".join(parts), who=who, snapshot=snap.run_id, body_class="shop", here=here,
                notice=notice)


def _num(value: object) -> str:
    if value is None:
        return "—"
    # rounded to the tenth shown first, so 0.004 and 0 both read "0" (not "0.0" beside "0") and 2.96 "3"
    number = round(float(value), 1)  # type: ignore[arg-type]
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
    suggested_label: str = "suggested {qty}",
    cutoff_label: str = "cutoff",
    band_label: str = "P10–P90 at cutoff: {p10} – {p90}",
    so_far_label: str = "ordered so far: {qty}",
    hour_label: str = "{md} {hour}h",
) -> str:
    """Inline SVG: the booking curve so far (from 0 at the opening), a P10-P90 fan to the cutoff, the
    P50 path and the suggestion, by the report's chart (common.charts.fan_chart): one renderer."""
    curve = sorted([(opens, 0.0), *points]) if not points or points[0][0] > opens else list(points)
    return fan_chart(
        [t for t, _ in curve], [q for _, q in curve], title=title, cutoff=closes, band=(p10, p50, p90),
        x_fmt=lambda t: _hour_tick(t, hour_label), width=320, height=200,
        now=now, suggested=suggested, suggested_label=suggested_label, cutoff_label=cutoff_label,
        band_label=band_label, so_far_label=so_far_label,
    )


def _hour_tick(t: float, label: str) -> str:
    """An axis tick at unix time t in the platform's zone: 11-30 09h, 11-30 09时."""
    at = datetime.fromtimestamp(t, TZ)
    return label.format(md=at.strftime("%m-%d"), hour=at.strftime("%H"))


def _as_of_time(as_of: datetime | date | None) -> float:
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


def suggestion_note(m: Messages, row: dict) -> str | None:
    """The page's words for why a row suggests 0 although its P50 is at least 1, or well under its
    P50 (api.snapshot.with_suggestion_note's rule; the published `suggestion_note` says the same in
    English, for the downloads); None when it does not."""
    _ = m.gettext
    p50, p10, qty = row.get("forecast_p50"), row.get("forecast_p10"), row.get("suggested_qty")
    if qty is None or p50 is None or p50 < 1:
        return None
    method = m.term("method", row.get("method")) or "unknown"  # the method's name in the page's language
    ratio = row.get("critical_ratio")
    if qty != 0:
        if ratio is None or p50 < LOW_MIN_P50 or qty >= LOW_SHARE * p50:
            return None
        fill = row.get("expected_fill_rate")
        fill_text = "" if fill is None else _("; expected fill rate {fill}%").format(fill=round(fill * 100))
        return _(
            "Suggests {qty} against a P50 of {p50}: critical ratio {ratio} (margin / price) means preparing "
            "the forecast's {pct}% quantile (P10 {p10}): with this margin an unsold unit costs more than a "
            "missed sale earns{fill}; method {method}"
        ).format(qty=qty, p50=f"{p50:.1f}", ratio=f"{ratio:.2f}", pct=round(ratio * 100),
                 p10=f"{p10 or 0:.1f}", fill=fill_text, method=method)
    if row.get("max_qty") == 0:
        return _("Suggests 0 because the campaign's max_qty is 0 (P50 {p50}; method {method})").format(
            p50=f"{p50:.1f}", method=method
        )
    if ratio is not None:
        return _(
            "Suggests 0 although P50 is {p50}: critical ratio {ratio} (margin / price) means preparing the "
            "forecast's {pct}% quantile, which is under one unit (P10 {p10}); method {method}"
        ).format(p50=f"{p50:.1f}", ratio=f"{ratio:.2f}", pct=round(ratio * 100), p10=f"{p10 or 0:.1f}",
                 method=method)
    return _(
        "Suggests 0 although P50 is {p50}: below the service level's quantile the forecast is under one "
        "unit (P10 {p10}); no critical ratio in this snapshot; method {method}"
    ).format(p50=f"{p50:.1f}", p10=f"{p10 or 0:.1f}", method=method)


def warehouse_label(snap: Snapshot, m: Messages, warehouse_id: object) -> str:
    """A warehouse by the city it serves ("杭州仓" / "Hangzhou warehouse"); its code when the city is not
    known; "all warehouses" for none."""
    if warehouse_id is None:
        return m.gettext("All warehouses")
    city = snap.warehouse_city.get(str(warehouse_id))
    return m.gettext("{city} warehouse").format(city=m.term("city", city)) if city else str(warehouse_id)


def supplier_page(
    snap: Snapshot, supplier_id: str, who: str, max_charts: int, m: Messages, here: str = "/supplier",
    notice: str = "",
) -> str:
    """Pooled orders so far, booking-curve charts with the P10-P90 band and suggested qty, downloads."""
    _ = m.gettext
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
            (n_campaigns, _("Campaigns")),
            (_num(total["ordered_qty"]), _("Pooled so far")),
            (_num(total["forecast_p50"]), _("Forecast P50 at cutoff")),
            (_num(total["suggested_qty"]), _("Suggested to prepare")),
        )
    )
    # the id is a path segment: percent-encoded, so a space, '#', '?' or '%' in it stays part of the id
    base = escape(f"/v1/suppliers/{quote(supplier_id, safe='')}/demand?format=")
    downloads = "".join(
        f'<a class="btn" href="{base}{fmt}" download>⬇ {label}</a>'
        for fmt, label in (("csv", "CSV (Excel)"), ("parquet", "Parquet"), ("json", "JSON"))
    )
    # Excel and WPS read an id such as 000456 in a CSV as the number 456: said where it would happen
    zeros = sorted({str(r[c]) for r in rows for c in ("product_id", "campaign_id", "warehouse_id")
                    if r.get(c) and len(str(r[c])) > 1 and str(r[c])[0] == "0" and str(r[c]).isdigit()})
    if zeros:
        downloads += '<p class="muted">{}</p>'.format(escape(_(
            "Ids such as {example} start with 0: Excel and WPS drop the leading zeros when they open the "
            "CSV. Import it with Data > From Text and set the id columns to Text, or use the Parquet or "
            "JSON download."
        ).format(example=zeros[0])))
    keys = (("booked", _("Booked")), ("band", _("P10–P90 range")), ("p50", _("P50 forecast")),
            ("suggested", _("Suggested")))
    legend = (
        '<div class="legend">'
        + "".join(f'<span><i class="k-{k}"></i>{escape(label)}</span>' for k, label in keys)
        + "</div>"
    )
    charts = []
    # the charts go to the rows with most pooled so far, then the largest forecast and suggestion: before
    # a window has orders, what the supplier must prepare most for, not the first rows by id
    chartable = sorted((r for r in rows if r["campaign_id"] in camps), key=lambda r: (
        -float(r["ordered_qty"] or 0), -float(r["forecast_p50"] or 0), -float(r["suggested_qty"] or 0)))
    for r in chartable[:max_charts]:
        c = camps[r["campaign_id"]]
        opens, closes = c["opens_at"].timestamp(), c["closes_at"].timestamp()
        points = _curve_points(snap, r["campaign_id"], r["warehouse_id"])
        now = min(points[-1][0] if points else _as_of_time(r["as_of"]), closes)
        if not points:
            points = [(opens, 0.0), (max(now, opens), float(r["ordered_qty"] or 0))]
        name = names.get(r["product_id"], r["product_id"])
        where = warehouse_label(snap, m, r["warehouse_id"])
        title = f"{name} · {where}"
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
            _("Suggested {qty}"),
            _("cutoff"),
            _("P10–P90 at cutoff: {p10} – {p90}"),
            _("Ordered so far: {qty}"),
            _("{md} {hour}h"),
        )
        charts.append(
            f'<figure class="card chart"><figcaption>{escape(name)} <small class="muted">'
            f"{escape(r['campaign_id'])} · {escape(where)}</small></figcaption>{svg}"
            f"{legend}</figure>"
        )
    # (css class, header); on a phone (app.css) each row becomes a card that leads with the product, P50,
    # the suggestion and the pooled orders, every cell labelled by its data-label
    columns = (
        ("product", _("Product")), ("campaign", _("Campaign")), ("warehouse", _("Warehouse")),
        ("delivery", _("Delivery")), ("pooled", _("Pooled")), ("groups", _("Groups")), ("p10", "P10"),
        ("p50", "P50"), ("p90", "P90"), ("suggested", _("Suggested")), ("ratio", _("Critical ratio")),
        ("method", _("Method")),
    )
    head = "<tr>" + "".join(f'<th class="{k}">{escape(c)}</th>' for k, c in columns) + "</tr>"
    label = dict(columns)

    def cell(key: str, text: str, title: str = "") -> str:
        extra = f' title="{escape(title)}"' if title else ""
        return f'<td class="{key}" data-label="{escape(label[key])}"{extra}>{text}</td>'

    rows_html = []
    for r in rows:
        wh = r["warehouse_id"]
        rows_html.append(
            "<tr>"
            + cell("product", escape(names.get(r["product_id"], r["product_id"])))
            + cell("campaign", escape(str(r["campaign_id"] or "—")))
            + cell("warehouse", escape(warehouse_label(snap, m, wh)), "" if wh is None else str(wh))
            + cell("delivery", escape(str(r["delivery_on"])))
            + cell("pooled", _num(r["ordered_qty"]))
            + cell("groups", _num(r["groups_ordering"]))
            + cell("p10", _num(r["forecast_p10"]))
            + cell("p50", _num(r["forecast_p50"]))
            + cell("p90", _num(r["forecast_p90"]))
            + cell("suggested", f"<b>{_num(r['suggested_qty'])}</b>")
            + cell("ratio", _ratio(r.get("critical_ratio")))
            + cell("method", escape(m.term("method", r.get("method")) or "—"), str(r.get("method") or ""))
            + "</tr>"
        )
        note = (suggestion_note(m, r) or r["suggestion_note"]) if r.get("suggestion_note") else None
        if note:
            rows_html.append(f'<tr class="note"><td colspan="12">{escape(note)}</td></tr>')
    no_rows = escape(_("No demand rows for this supplier."))
    body = "".join(rows_html) or f'<tr class="empty"><td colspan="12">{no_rows}</td></tr>'
    supplier_name = snap.supplier_names.get(supplier_id)
    heading = escape(cjk_spacing(_("Demand for {supplier}").format(supplier=supplier_name or supplier_id)))
    code = f' <small class="muted">{escape(supplier_id)}</small>' if supplier_name else ""
    as_of = escape(_("as of {date}").format(date=snap.date))
    table_title = escape(_("Pooled orders and forecast"))
    charts_note = "" if len(chartable) <= len(charts) else '<p class="muted">{}</p>'.format(escape(_(
        "Booking charts for {shown} of {total} campaign rows: those with the most pooled so far, then the "
        "largest P50; every row is in the table below and in the downloads."
    ).format(shown=len(charts), total=len(chartable))))
    content = (
        f'<h1>{heading}{code} <small class="muted">{as_of}</small></h1><div class="tiles">{tiles}</div>'
        f'<div class="downloads">{downloads}</div><div class="charts">{"".join(charts)}</div>{charts_note}'
        f'<section class="card"><h2>{table_title}</h2><div class="table-wrap">'
        f'<table class="demand"><thead>{head}</thead><tbody>{body}</tbody></table></div></section>'
    )
    return page(m, _("Demand"), content, who=who, snapshot=snap.run_id, body_class="supplier", here=here,
                notice=notice)


ADMIN_LIST_LIMIT = 200  # shopkeepers / suppliers /admin lists at once; `?q=` (an id's start) finds the rest


def admin_page(
    snap: Snapshot, who: str, m: Messages, here: str = "/admin", excluded: list[ExclusionEvent] | None = None,
    q: str = "", notice: str = "", limit: int = ADMIN_LIST_LIMIT,
) -> str:
    """Shopkeepers and suppliers to open their pages, by id: those whose id starts with `q` (case ignored),
    the first `limit` of them, and "showing 200 of N" when there are more, so none is left out unsaid;
    the products excluded platform-wide."""
    _ = m.gettext
    prefix = q.casefold()

    def n_groups(n: int) -> str:  # "1 group", "3 groups"; Chinese has one form
        return (_("{n} group") if n == 1 else _("{n} groups")).format(n=n)

    def matching(ids: object) -> list[str]:
        return sorted(i for i in ids if i.casefold().startswith(prefix))  # type: ignore[attr-defined]

    def listed(items: list[str]) -> str:
        if not items:
            return f'<li class="muted">{escape(_("None"))}</li>'
        return "".join(items)

    def more(total: int) -> str:
        if total <= limit:
            return ""
        text = _("Showing {shown} of {total}: type the start of an id above to find the others.")
        return f'<p class="muted">{escape(text.format(shown=limit, total=total))}</p>'

    shop_ids, sup_ids = matching(snap.groups_of), matching(snap.suppliers)
    shops = listed([
        f'<li><a href="{escape("/shop?" + urlencode({"shopkeeper": s}))}">{escape(s)}</a> '
        f'<span class="muted">{escape(n_groups(len(snap.groups_of[s])))}</span></li>'
        for s in shop_ids[:limit]
    ])
    sups = listed([
        f'<li><a href="{escape("/supplier?" + urlencode({"supplier": s}))}">'
        f'{escape(snap.supplier_names.get(s, s))}</a>'
        f'{f" <span class=muted>{escape(s)}</span>" if s in snap.supplier_names else ""}</li>'
        for s in sup_ids[:limit]
    ])
    title, shopkeepers, suppliers = _("Administration"), _("Shopkeepers"), _("Suppliers")
    excluded_title, nothing = _("Excluded products"), _("None")
    gone = "".join(
        f"<li>{escape(snap.product_names.get(e.product_id, e.product_id))} "
        f'<span class="muted">{escape(e.product_id)} · {escape(e.reason)} · {escape(e.at[:16])}</span></li>'
        for e in excluded or []
    ) or f'<li class="muted">{escape(nothing)}</li>'
    find_label, find_button = _("Find shopkeepers and suppliers by the start of their id"), _("Find")
    find = (
        '<form class="card switcher" method="get" action="/admin">'
        f'<label for="admin-q">{escape(find_label)}</label>'
        f'<div class="switch-row"><input id="admin-q" type="search" name="q" value="{escape(q)}" '
        f'autocomplete="off"><button type="submit">{escape(find_button)}</button></div></form>'
    )
    content = (
        f'<h1>{escape(title)}</h1><section class="card"><h2>{escape(excluded_title)}</h2>'
        f"<ul>{gone}</ul></section>{find}"
        f'<section class="card"><h2>{escape(shopkeepers)}</h2>'
        f"<ul>{shops}</ul>{more(len(shop_ids))}</section>"
        f'<section class="card"><h2>{escape(suppliers)}</h2><ul>{sups}</ul>{more(len(sup_ids))}</section>'
    )
    return page(m, title, content, who=who, snapshot=snap.run_id, here=here, notice=notice)

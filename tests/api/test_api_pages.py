"""Pages in headless Chromium: sign in once (HttpOnly cookie, key never in a URL), picks, demand, charts."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, sync_playwright

import api.render
from common.home import Home
from tests.api.conftest import LiveServer

CHROMIUM = os.environ.get("CIRCLEBUY_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",  # a shopkeeper's phone: Accept-Language zh-CN
}
# the snapshot's picks are for 2026-11-22: the pages see that morning, so the list is today's
LIST_DAY_MORNING = datetime(2026, 11, 22, 10, tzinfo=api.render.TZ)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True, timeout=120_000)
        yield b
        b.close()


def sign_in(page: Page, server: LiveServer, key: str, seen_urls: list[str]) -> None:
    page.on("request", lambda req: seen_urls.append(req.url))
    page.goto(server.url + "/")
    assert page.url.endswith("/login")
    page.fill("#key", key)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def keep_screenshot(path: Path) -> None:
    """Copy a screenshot to $CIRCLEBUY_SCREENSHOTS when set, for a person to look at."""
    target = os.environ.get("CIRCLEBUY_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


@pytest.mark.browser
def test_shopkeeper_page(
    browser: Browser, live_server: LiveServer, keys: dict[str, str], home: Home, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(api.render, "platform_now", lambda: LIST_DAY_MORNING)
    context = browser.new_context(**PHONE)
    context.set_default_timeout(60_000)  # the machine is shared; be patient, not flaky
    page = context.new_page()
    urls: list[str] = []
    sign_in(page, live_server, keys["S1"], urls)
    assert page.url.endswith("/shop")
    text = page.inner_text("main")
    for expected in (
        "西湖宝妈团",  # one group at a time, by the name its shopkeeper gave it; the first by default
        "有机鸡蛋 30枚",
        "五常大米 5kg",
        "杭州有38个群近7天下过单",
        "群里大约每6天回购一次，上次是6天前",
        "¥29.90",
    ):
        assert expected in text, expected
    assert "抽纸 家庭装" not in text  # G2's picks wait for G2's page
    assert page.locator("#group-select option").all_inner_texts() == ["西湖宝妈团", "滨江吃货群"]
    cookie = next(c for c in context.cookies() if c["name"] == "circlebuy_key")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # scripts cannot read the key
    # the page fits a phone: nothing wider than the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    first = page.locator('li.pick[data-group="G1"][data-product="P1"]')
    first.locator("button[data-action=posted]").click()
    page.wait_for_selector('li.pick.done-posted[data-product="P1"]')
    assert first.locator(".status").inner_text() == "已发 ✓"
    landed = "".join(p.read_text(encoding="utf-8") for p in (home.landing / "feedback").glob("*.csv"))
    assert ",G1,P1,posted," in landed
    page.reload()  # the mark is remembered: a reload shows what was already done today
    assert page.locator('li.pick.done-posted[data-group="G1"][data-product="P1"]').count() == 1
    assert page.locator("li.pick.done-posted").count() == 1
    page.select_option("#group-select", "G2")  # app.js submits the switcher: the choice is in the URL
    page.wait_for_url("**/shop?group=G2")
    text = page.inner_text("main")
    for expected in ("滨江吃货群", "抽纸 家庭装", "Hand cream", "群里有2天下过单，上次是45天前"):
        assert expected in text, expected
    assert "有机鸡蛋 30枚" not in text and "群 G3" not in text  # G1's picks; another shopkeeper's group
    gone = page.locator('li.pick[data-group="G2"][data-product="P3"]')
    gone.locator("button[data-action=not_interested]").click()  # off this group's list at once
    page.wait_for_selector('li.pick.done-not_interested[data-product="P3"]')
    page.reload()
    assert page.locator('li.pick[data-product="P3"]').count() == 0
    assert page.locator('li.pick[data-group="G2"]').count() == 1
    shot = tmp_path / "shopkeeper.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 30_000
    keep_screenshot(shot)
    assert all(keys["S1"] not in u for u in urls)
    context.close()


@pytest.mark.browser
def test_supplier_page(
    browser: Browser, live_server: LiveServer, keys: dict[str, str], tmp_path: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 1100, "height": 900}, accept_downloads=True, locale="en-US"
    )
    context.set_default_timeout(60_000)
    page = context.new_page()
    urls: list[str] = []
    sign_in(page, live_server, keys["SUP1"], urls)
    assert page.url.endswith("/supplier")
    text = page.inner_text("main")
    for expected in (
        "Demand for 浙江绿源农业有限公司",  # the browser asks for English (Accept-Language en-US)
        "杭州 warehouse",  # a warehouse by the city of its groups
        "有机鸡蛋 30枚",
        "五常大米 5kg",
        "Pooled so far",
        "CSV (Excel)",
        "Parquet",
    ):
        assert expected in text, expected
    assert "婴儿湿巾" not in text  # SUP2's product
    assert page.locator("figure.chart svg polygon.band").count() == 3  # C1/W1, C1/W2, C2/W1
    assert page.locator("figure.chart svg polyline.curve").count() == 3
    assert page.locator("figure.chart svg line.suggested").count() == 3
    assert "Suggested 200" in page.inner_text("figure.chart >> nth=0")
    with page.expect_download() as info:
        page.click("a[href$='format=csv']")
    csv_path = tmp_path / "download.csv"
    info.value.save_as(csv_path)
    assert info.value.suggested_filename == "demand_SUP1_2026-11-22.csv"
    assert csv_path.read_bytes().startswith(b"\xef\xbb\xbf") and "有机鸡蛋 30枚" in csv_path.read_text(
        "utf-8-sig"
    )
    shot = tmp_path / "supplier.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 30_000
    keep_screenshot(shot)
    page.goto(live_server.url + "/shop")  # a supplier has no shop page
    assert "Not yours" in page.inner_text("main")
    page.click("text=Sign out")
    page.wait_for_url("**/login")
    assert not [c for c in context.cookies() if c["name"] == "circlebuy_key"]
    assert all(keys["SUP1"] not in u for u in urls)
    context.close()


def test_pages_redirect_without_cookie_and_reject_bad_key(client: TestClient) -> None:
    for path in ("/", "/shop", "/supplier", "/admin"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login"
    r = client.post("/login", data={"key": "cb_bad_key"}, follow_redirects=False)
    assert r.status_code == 401 and "这个密钥无效" in r.text and "set-cookie" not in r.headers


def test_admin_pages(client: TestClient, keys: dict[str, str]) -> None:
    client.post("/login", data={"key": keys["admin"]})
    assert "S1" in client.get("/admin").text
    assert "有机鸡蛋 30枚" in client.get("/supplier?supplier=SUP1").text
    assert "群 G3" in client.get("/shop?shopkeeper=S2").text
    for bare in ("/shop", "/supplier", "/shop?shopkeeper="):  # no id: the list, not "nothing by that id"
        r = client.get(bare, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/admin", bare
    assert "Shopkeepers" in client.get("/shop?lang=en").text  # the language asked for goes along
    en = client.get("/admin?lang=en").text
    assert "1 group<" in en and "2 groups<" in en and "1 groups" not in en  # S2 has G3, S1 has G1 and G2
    assert "1个群" in client.get("/admin?lang=zh-CN").text


def test_the_supplier_charts_tooltips_speak_the_pages_language(client: TestClient, keys: dict[str, str]):
    client.post("/login", data={"key": keys["admin"]})
    zh = client.get("/supplier?supplier=SUP1").text
    titles = re.findall(r"<title>([^<]*)</title>", zh)
    assert any(t.startswith("截单时 P10–P90：") for t in titles)
    assert any(t.startswith("已下单：") for t in titles)
    assert not [t for t in titles if "cutoff" in t or "so far" in t]
    en = client.get("/supplier?supplier=SUP1&lang=en").text
    assert "<title>Ordered so far: " in en and "<title>P10–P90 at cutoff: " in en


def test_pages_answer_tenancy_as_the_api_does(client: TestClient, keys: dict[str, str]) -> None:
    """One copy of the tenancy rule (api.auth): an admin asking for an id the snapshot does not hold
    gets 404 on the pages as on the API (it got an empty 200 page before the renovation); a key asking
    for someone else's page gets 403."""
    client.post("/login", data={"key": keys["admin"]})
    for path in ("/supplier?supplier=NOBODY", "/shop?shopkeeper=NOBODY", "/shop?group=NOGROUP"):
        r = client.get(path)
        assert r.status_code == 404 and "当前数据里没有这个编号" in r.text, path
        assert "run-1" in r.text, path  # the footer names the live snapshot, not "—"
    assert client.get("/v1/suppliers/NOBODY/demand", headers={"Authorization": f"Bearer {keys['admin']}"}
                      ).status_code == 404
    client.post("/login", data={"key": keys["S1"]})
    assert client.get("/shop?shopkeeper=S2").status_code == 403
    assert client.get("/supplier").status_code == 403


EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}


def test_cross_site_posts_cannot_sign_in_or_out(client: TestClient, keys: dict[str, str]) -> None:
    """Login CSRF: another site's page auto-posting a key (or a sign-out) is refused with 403."""
    for headers in (EVIL, {"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Origin": "null"}):
        r = client.post("/login", data={"key": keys["S2"]}, headers=headers, follow_redirects=False)
        assert r.status_code == 403 and r.json()["error"] == "cross_site", headers
        assert "set-cookie" not in r.headers
    own = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    r = client.post("/login", data={"key": keys["S1"]}, headers=own, follow_redirects=False)
    assert r.status_code == 303 and "circlebuy_key=" in r.headers["set-cookie"]
    r = client.post("/logout", headers=EVIL, follow_redirects=False)
    assert r.status_code == 403 and "set-cookie" not in r.headers
    assert client.get("/shop", follow_redirects=False).status_code == 200  # still signed in
    # the API with the sign-in cookie is a browser request too; with a Bearer key it is not
    r = client.post("/v1/groups/G1/feedback", json={"product_id": "P1", "action": "skip"}, headers=EVIL)
    assert r.status_code == 403 and r.json()["error"] == "cross_site"
    r = client.post(
        "/v1/groups/G1/feedback",
        json={"product_id": "P1", "action": "skip"},
        headers=EVIL | {"Authorization": f"Bearer {keys['S1']}"},
    )
    assert r.status_code == 202
    r = client.post("/logout", headers=own, follow_redirects=False)
    assert r.status_code == 303 and "circlebuy_key=" in r.headers["set-cookie"]


def test_pages_carry_browser_hardening_headers(client: TestClient) -> None:
    for path in ("/login", "/static/app.js"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "default-src 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"


def test_cookies_are_secure_unless_plain_http_is_chosen(home: Home, keys: dict[str, str]) -> None:
    from api.app import create_app
    from api.settings import Settings

    with TestClient(create_app(home, Settings()), base_url="https://testserver") as secure:
        r = secure.post("/login", data={"key": keys["S1"]}, follow_redirects=False)
        cookie = r.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
        assert "secure" in secure.post("/logout", follow_redirects=False).headers["set-cookie"].lower()
    assert Settings.from_env({"CIRCLEBUY_COOKIE_SECURE": "0"}).cookie_secure is False
    assert Settings.from_env({}).cookie_secure is True


PHONE_375 = {**PHONE, "viewport": {"width": 375, "height": 812}}


@pytest.mark.browser
def test_supplier_table_on_a_phone_shows_p50_and_the_suggestion_without_scrolling_sideways(
    browser: Browser, live_server: LiveServer, keys: dict[str, str], tmp_path: Path
) -> None:
    context = browser.new_context(**PHONE_375)
    context.set_default_timeout(60_000)
    page = context.new_page()
    sign_in(page, live_server, keys["SUP1"], [])
    assert page.url.endswith("/supplier")
    assert "浙江绿源农业有限公司的需求预测" in page.inner_text("main h1")
    width = PHONE_375["viewport"]["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll at all
    rows = page.locator("table.demand tbody tr:not(.note)")
    assert rows.count() == 4  # SUP1's four demand rows
    for i in range(rows.count()):
        for cell in ("td.p50", "td.suggested"):
            box = rows.nth(i).locator(cell).bounding_box()
            assert box is not None and box["width"] > 0, (i, cell)
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (i, cell, box)
    first = rows.nth(0)
    label = "(el) => getComputedStyle(el, '::before').content"  # each value under its column's name
    assert first.locator("td.p50").inner_text() == "180"
    assert first.locator("td.p50").evaluate(label) == '"P50"'
    assert first.locator("td.suggested").inner_text() == "200"
    assert first.locator("td.suggested").evaluate(label) == '"建议备货"'
    assert "杭州仓" in first.locator("td.warehouse").inner_text()
    shot = tmp_path / "supplier-phone.png"
    page.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    context.close()


def cjk_fonts() -> list[str]:
    """Font families fontconfig offers for Chinese (what Chromium falls back to for CJK text)."""
    if shutil.which("fc-list") is None:
        return []
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


@pytest.mark.browser
def test_chinese_glyphs_render_and_are_not_tofu(
    browser: Browser, live_server: LiveServer, keys: dict[str, str], tmp_path: Path
) -> None:
    """The shop page's Chinese is drawn with a CJK font, not with the boxes of missing glyphs (tofu).

    Where no font covers Chinese (fonts-noto-cjk missing: `make fonts` installs it) the test skips and
    says so; with one, every check below runs."""
    families = cjk_fonts()
    if not families:
        pytest.skip("no font for Chinese on this machine (fc-list :lang=zh is empty): install the Debian "
                    "package fonts-noto-cjk (`make fonts`) to check that Chinese renders")
    context = browser.new_context(**PHONE)
    context.set_default_timeout(60_000)
    page = context.new_page()
    sign_in(page, live_server, keys["S1"], [])
    heading = page.locator("section.group h2")
    assert "西湖宝妈团" in heading.inner_text()
    # which font Chromium drew the group's name with (DevTools protocol: the platform fonts of a node)
    cdp = context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "section.group h2"})["nodeId"]
    used = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cjk_used = [f for f in used if f["familyName"] in families or "CJK" in f["familyName"]]
    assert cjk_used and sum(f["glyphCount"] for f in cjk_used) >= len("西湖宝妈团"), used
    # tofu draws every missing glyph as the same box: two different Chinese strings of one length
    # would look alike, and like code points no font has (private use). Real glyphs differ.
    samples = {"a": "团购助手", "b": "今日推荐", "tofu_a": "\U000f0001\U000f0002\U000f0003\U000f0004",
               "tofu_b": "\U000f0005\U000f0006\U000f0007\U000f0008"}
    page.evaluate(
        """(samples) => {
            for (const [id, text] of Object.entries(samples)) {
                const span = document.createElement("span");
                span.id = "glyphs-" + id;
                span.textContent = text;
                span.style.fontSize = "32px";
                span.style.display = "inline-block";
                document.querySelector("main").appendChild(span);
            }
        }""",
        samples,
    )
    shots = {k: page.locator(f"#glyphs-{k}").screenshot() for k in samples}
    assert shots["a"] != shots["b"], "two different Chinese strings render alike: tofu"
    assert shots["a"] not in (shots["tofu_a"], shots["tofu_b"]), "Chinese renders like missing glyphs"
    assert shots["b"] not in (shots["tofu_a"], shots["tofu_b"]), "Chinese renders like missing glyphs"
    shot = tmp_path / "glyphs.png"
    page.screenshot(path=str(shot), full_page=True)
    keep_screenshot(shot)
    context.close()

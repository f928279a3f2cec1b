"""What a person in a browser reads when something goes wrong or is left out: a refused tap in the page's
words (not the API's English detail), error pages in their language, parameters a page ignores said so,
the admin's lists that say what they leave out, downloads named by the supplier's real id."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import polars as pl
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

import api.render
from api.app import create_app
from api.keys import create_key
from common.home import Home
from tests.api.conftest import FAST, LiveServer, bearer
from tests.api.test_api_pages import LIST_DAY_MORNING, PHONE, browser, sign_in  # noqa: F401  (browser: fixture)
from tests.api.world import large_world, small_world, write_snapshot

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _attr(text: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', text)
    assert found, name
    return found.group(1)


# --- 1. a refused tap on /shop ---------------------------------------------------------------------------


def test_the_shop_page_carries_each_refusal_in_its_language(client: TestClient, keys: dict[str, str]):
    """app.js words a refused tap by the API's error code from these attributes; the strings come from the
    catalogs like every page text, so the Chinese page never shows the API's English detail."""
    client.post("/login", data={"key": keys["S1"]})
    zh = client.get("/shop").text
    assert _attr(zh, "data-err-refresh") == "这条推荐已更新，请刷新页面"
    assert _attr(zh, "data-err-stale") == "这份清单已经不是今天的了，请刷新页面"
    assert _attr(zh, "data-err-signin") == "登录已失效，请重新登录"
    assert _attr(zh, "data-err-conflict") and _attr(zh, "data-err-busy") and _attr(zh, "data-err-other")
    assert "失败：" not in zh
    en = client.get("/shop?lang=en").text
    assert _attr(en, "data-err-refresh") == "This pick has changed; please reload the page."
    script = Path(api.render.__file__).with_name("static").joinpath("app.js").read_text(encoding="utf-8")
    assert "body.error" in script and "not_in_picks" in script and "stale_list" in script
    assert not re.search(r"textContent\s*=[^;]*detail", script)  # the detail goes to title / console only


@pytest.mark.browser
def test_a_tap_on_a_pick_that_left_the_list_says_reload_in_chinese(
    browser: Browser, live_server: LiveServer, keys: dict[str, str], monkeypatch  # noqa: F811
) -> None:
    monkeypatch.setattr(api.render, "platform_now", lambda: LIST_DAY_MORNING)
    context = browser.new_context(**PHONE)
    context.set_default_timeout(60_000)
    page = context.new_page()
    sign_in(page, live_server, keys["S1"], [])
    card = page.locator('li.pick[data-group="G1"][data-product="P1"]').element_handle()
    card.evaluate("el => { el.dataset.product = 'P5'; }")  # the list changed since the page was drawn
    card.query_selector("button[data-action=posted]").click()
    status = card.query_selector(".status")
    page.wait_for_function("el => el.textContent !== '…' && el.textContent !== ''", arg=status)
    assert status.inner_text() == "这条推荐已更新，请刷新页面"
    title = status.get_attribute("title") or ""
    assert "not_in_picks" in title and "is not on the pick list" in title  # kept for support
    context.close()


# --- 2. /admin lists all, or says what it leaves out --------------------------------------------------------


@pytest.fixture
def crowded(tmp_path: Path) -> Iterator[TestClient]:
    """An admin signed in over 250 shopkeepers and 230 suppliers: more than /admin lists at once."""
    home = Home(tmp_path / "crowded").ensure()
    world = large_world(groups=600, shopkeepers=250, products=260, suppliers=230)
    write_snapshot(home, world, run_id="run-c")
    with TestClient(create_app(home, FAST)) as c:
        c.post("/login", data={"key": create_key(home, "admin", "ops")})
        yield c


def _listed(text: str, page: str, param: str) -> list[str]:
    return re.findall(rf'href="/{page}\?{param}=([^"]+)"', text)


def test_admin_lists_by_id_and_says_how_many_it_leaves_out(crowded: TestClient) -> None:
    zh = crowded.get("/admin").text
    shops, sups = _listed(zh, "shop", "shopkeeper"), _listed(zh, "supplier", "supplier")
    assert len(shops) == 200 and shops == sorted(shops) and shops[0] == "S00000"
    assert len(sups) == 200 and sups == sorted(sups)
    assert "共 250 个，只显示了 200 个" in zh and "共 230 个，只显示了 200 个" in zh
    assert 'name="q"' in zh  # the way to the rest
    en = crowded.get("/admin?lang=en").text
    assert "Showing 200 of 250" in en and "Showing 200 of 230" in en
    rest = crowded.get("/admin?q=s002").text  # an id's start, case ignored: S00200..S00249
    assert _listed(rest, "shop", "shopkeeper") == [f"S{i:05d}" for i in range(200, 250)]
    assert _listed(rest, "supplier", "supplier") == []
    assert "只显示了" not in rest and 'value="s002"' in rest
    rest = crowded.get("/admin?q=SUP2").text
    assert _listed(rest, "supplier", "supplier") == [f"SUP{i:03d}" for i in range(200, 230)]
    none = crowded.get("/admin?q=nobody")
    assert none.status_code == 200 and "<li" in none.text and "S00000" not in none.text


def test_admin_answers_a_parameter_it_does_not_take_as_the_other_pages_do(crowded: TestClient) -> None:
    r = crowded.get("/admin?page=2")
    assert r.status_code == 200 and "本页不支持链接里的参数 page" in r.text


# --- 3. downloads and links for a supplier id that is not plain ASCII -------------------------------------


def _renamed(world: dict[str, pl.DataFrame], old: str, new: str) -> dict[str, pl.DataFrame]:
    return {
        name: frame.with_columns(pl.col("supplier_id").replace(old, new)) if "supplier_id" in frame.columns
        else frame
        for name, frame in world.items()
    }


@pytest.mark.parametrize("supplier", ["供应商A 01", "a#b?c%d&e"])
def test_a_download_is_named_by_the_real_supplier_id_and_its_link_reaches_it(tmp_path: Path, supplier: str):
    home = Home(tmp_path / "home").ensure()
    write_snapshot(home, _renamed(small_world(), "SUP1", supplier), run_id="run-u")
    key = create_key(home, "supplier", supplier)
    with TestClient(create_app(home, FAST)) as c:
        c.post("/login", data={"key": key})
        text = c.get("/supplier").text
        links = re.findall(r'<a class="btn" href="([^"]+)"', text)
        assert links and all(link.startswith(f"/v1/suppliers/{quote(supplier, safe='')}/demand?format=")
                             for link in links), links
        r = c.get(links[0].replace("&amp;", "&"), headers=bearer(key))  # the link as a browser follows it
        assert r.status_code == 200, r.text
        disposition = r.headers["content-disposition"]
        ascii_name = re.search(r'filename="([^"]+)"', disposition).group(1)
        assert ascii_name.isascii() and ascii_name.endswith("_2026-11-22.csv")
        encoded = re.search(r"filename\*=UTF-8''(\S+)", disposition).group(1)
        assert re.fullmatch(r"[A-Za-z0-9%._~-]+", encoded)  # RFC 5987 attr-chars only
        assert unquote(encoded) == f"demand_{supplier}_2026-11-22.csv"


# --- 4. errors outside the API are pages for a browser ----------------------------------------------------


def test_a_browser_gets_an_error_page_in_its_language_the_api_keeps_json(
    client: TestClient, keys: dict[str, str]
) -> None:
    r = client.get("/Shop", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "这个地址没有页面" in r.text and '"error"' not in r.text
    assert r.headers["content-language"] == "zh-CN"
    r = client.get("/logout", headers=HTML)
    assert r.status_code == 405 and "allow" in r.headers and "这个地址不能这样打开" in r.text
    r = client.get("/Shop?lang=en", headers=HTML)
    assert r.status_code == 404 and "There is no page at this address." in r.text
    r = client.get("/Shop", headers={**HTML, "Accept-Language": "en-US,en;q=0.9"})
    assert "There is no page at this address." in r.text
    # the API's errors stay as they were, whatever the client accepts; so does a script off /v1/
    for path, key, status, code in (
        ("/v1/nothing", keys["S1"], 404, "not_found"),
        ("/v1/groups/G1/picks", None, 401, "missing_key"),
        ("/v1/groups/G3/picks", keys["S1"], 403, "not_yours"),
    ):
        r = client.get(path, headers={**HTML, **(bearer(key) if key else {})})
        assert r.status_code == status and r.json()["error"] == code, path
    r = client.get("/Shop")
    assert r.status_code == 404 and r.json() == {"error": "not_found", "detail": "no route /Shop"}
    r = client.get("/logout")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


# --- 5. parameters a page does not take --------------------------------------------------------------------


def test_pages_say_which_parameters_they_ignored_and_which_day_they_show(
    client: TestClient, keys: dict[str, str]
) -> None:
    client.post("/login", data={"key": keys["SUP1"]})
    r = client.get("/supplier?as_of=2026-02-25")
    assert r.status_code == 200
    assert "本页不支持链接里的参数 as_of，已忽略；这里显示的是 2026-11-22 的数据。" in r.text
    assert "It shows the data for 2026-11-22" in client.get("/supplier?as_of=2026-02-25&lang=en").text
    assert "本页不支持" not in client.get("/supplier").text
    assert "本页不支持" not in client.get("/supplier?lang=en&lang=zh").text  # lang is every page's
    client.post("/login", data={"key": keys["S1"]})
    r = client.get("/shop?date=xx&group=G2&limit=3")
    assert r.status_code == 200 and "滨江吃货群" in r.text
    assert "本页不支持链接里的参数 date, limit，已忽略；这里显示的是 2026-11-22 的数据。" in r.text
    assert "本页不支持" not in client.get("/shop?group=G2").text


def test_the_supplier_page_warns_that_excel_drops_the_leading_zeros_of_such_ids(tmp_path: Path):
    """A CSV id 000456 opens in Excel / WPS as 456 (the contract's ids are text): where the supplier's
    rows hold such an id the page says how to keep it; elsewhere it says nothing."""
    home = Home(tmp_path / "home").ensure()
    world = small_world()
    world = {name: frame.with_columns(pl.col("product_id").replace("P1", "000456"))
             if "product_id" in frame.columns else frame for name, frame in world.items()}
    write_snapshot(home, world, run_id="run-z")
    key = create_key(home, "supplier", "SUP1")
    with TestClient(create_app(home, FAST)) as c:
        c.post("/login", data={"key": key})
        assert "000456 这类编号以 0 开头" in c.get("/supplier").text
        assert "drop the leading zeros" in c.get("/supplier?lang=en").text
    plain = Home(tmp_path / "plain").ensure()
    write_snapshot(plain, small_world(), run_id="run-p")
    key = create_key(plain, "supplier", "SUP1")
    with TestClient(create_app(plain, FAST)) as c:
        c.post("/login", data={"key": key})
        assert "以 0 开头" not in c.get("/supplier").text


def test_the_operators_routes_keep_their_words_for_a_browser_too(tmp_path: Path) -> None:
    """/readyz's 503 names what is missing; a browser's Accept turned it into "this page cannot be shown
    now", hiding the reason from the operator who opened it."""
    home = Home(tmp_path / "empty").ensure()  # no snapshot published yet
    with TestClient(create_app(home, FAST)) as c:
        r = c.get("/readyz", headers=HTML)
        assert r.status_code == 503 and r.headers["content-type"].startswith("application/json")
        assert "no snapshot" in r.json()["detail"]

"""Chinese by default, English on request: pick reasons rendered from code + numbers, the catalogs
complete for every reason code, term and page text, the locale negotiated, the stale-list banner."""

from __future__ import annotations

import json
import re
import string
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

import polars as pl
import pytest
from babel.messages.extract import extract_from_file
from fastapi.testclient import TestClient

import api.render
from aggregation.daily import SHORT_METHOD_WORDS
from api.app import create_app
from api.i18n import LOCALES, PLURAL_ARG, choose_locale, from_accept_language, messages
from api.keys import create_key
from api.render import stale_banner
from api.snapshot import load_snapshot
from common.contract import CATEGORIES, GROUP_KINDS
from common.errors import SnapshotError
from common.home import Home
from pipelines.generate.config import CITIES
from pipelines.importers.categories import CATEGORIES as IMPORTER_CATEGORIES
from recsys.picks import REASON_CODES, SLOTS, with_reasons
from tests.api.conftest import FAST, bearer
from tests.api.world import small_world, write_snapshot
from tests.recsys.test_picks_reasons import EXPECTED_ARGS, reason_frame

CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
DAY = date(2026, 11, 22)  # small_world's day
TZ = api.render.TZ


def picks_of(client: TestClient, key: str, query: str = "", headers: dict | None = None) -> list[dict]:
    r = client.get(f"/v1/groups/G1/picks{query}", headers=bearer(key) | (headers or {}))
    assert r.status_code == 200, r.text
    return r.json()["picks"]


# --- the catalogs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
def test_every_reason_code_has_a_translation_that_quotes_only_its_numbers(locale):
    m = messages(locale)
    for code, arg_names in REASON_CODES.items():
        assert m.has_reason(code), f"{locale}: no translation of reason {code} (or its plural forms are off)"
        message = m.catalog.get(code, context="reason")
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for form in forms:
            fields = {name for _, name, _, _ in string.Formatter().parse(form) if name}
            assert fields <= set(arg_names), f"{locale} {code}: {fields - set(arg_names)} are not its numbers"
        if code in PLURAL_ARG:
            assert PLURAL_ARG[code] in arg_names


def test_a_code_without_a_translation_fails_the_completeness_check():
    assert not messages("zh_CN").has_reason("made_up_code")
    assert messages("zh_CN").reason("made_up_code", {"n": 1}, "the English") == "the English"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_category_group_kind_and_slot_has_a_name(locale):
    m = messages(locale)
    categories = (*CATEGORIES, *IMPORTER_CATEGORIES)  # the contract's and the Online Retail importer's
    for context, codes in (("category", categories), ("group_kind", GROUP_KINDS), ("slot", SLOTS)):
        for code in codes:
            assert m.catalog.get(code, context=context) is not None, f"{locale}: no {context} {code}"
    if locale == "zh_CN":
        assert all(CJK.search(m.term("city", c)) for c in CITIES)  # the generator's cities, in Chinese
        assert all(CJK.search(m.term("category", c)) for c in categories)
        assert not any("_" in m.term("category", c) for c in categories)


def test_every_page_text_has_a_chinese_translation_and_none_is_left_over():
    used = set()
    for module in ("render.py", "routes/pages.py"):
        path = Path(str(resources.files("api").joinpath(module)))
        found = extract_from_file("python", path, keywords={"_": None, "gettext": None})
        used |= {msgid for _, msgid, _, _ in found}
    zh = messages("zh_CN").catalog
    kept = {m.id for m in zh if m.id and m.context is None}
    missing = sorted(msgid for msgid in used if not (zh.get(msgid) and zh.get(msgid).string))
    assert not missing, f"page text without a zh_CN translation: {missing}"
    assert kept <= used, f"zh_CN entries no page uses: {sorted(kept - used)}"


# the forecast methods a demand row can carry (aggregation.demand's nowcast, aggregation.daily's daily
# forecast and its short-history fallbacks) plus the test world's pre-sale curve
METHODS = (
    "bottom_up", "nowcast_gbm", "pickup_multiplicative", "daily_ensemble", "daily_gbm", "seasonal_naive",
    *(f"short_history_{m}" for m in SHORT_METHOD_WORDS), "presale_curve",
)


@pytest.mark.parametrize("locale", LOCALES)
def test_every_forecast_method_has_a_name(locale):
    m = messages(locale)
    for code in METHODS:
        name = m.term("method", code)
        assert name and name != code, f"{locale}: no method {code}"
        if locale == "zh_CN":
            assert CJK.search(name) and not re.search(r"[a-z]+_[a-z]+", name), (code, name)


def test_english_reasons_say_one_day_and_many_days():
    en = messages("en")
    assert en.reason("replenish_due", {"cycle_days": 2, "last_days": 1}) == (
        "your group re-orders it about every 2 days; last order yesterday"
    )
    assert en.reason("replenish_due", {"cycle_days": 7, "last_days": 0}) == (
        "your group re-orders it about every 7 days; last order today"
    )
    assert en.reason("regular_before", {"order_days": 1, "last_days": 31}) == (
        "your group ordered it on one day, 31 days ago"
    )
    assert en.reason("regular_before", {"order_days": 3, "last_days": 45}) == (
        "your group ordered it on 3 days; the last time 45 days ago"
    )
    assert en.reason("new_responding", {"age_days": 1, "groups": 1, "post_pct": 25}) == (
        "new yesterday; 1 group ordered it so far, 25% of posts got orders"
    )
    assert en.reason("new_responding", {"age_days": 2, "groups": 3, "post_pct": 25}) == (
        "new 2 days ago; 3 groups ordered it so far, 25% of posts got orders"
    )
    assert en.reason("new_category", {"age_days": 1, "pct": 30, "category": "baby"}) == (
        "new yesterday; 30% of your orders are in its category"
    )
    assert en.reason("new_launch", {"age_days": 0}) == "new today"
    assert en.reason("young_group_own", {"orders": 1, "group_days": 1}) == (
        "your group ordered it once since starting yesterday"
    )
    assert en.reason("young_group_own", {"orders": 4, "group_days": 1200}) == (
        "your group ordered it 4 times since starting 1,200 days ago"
    )
    # a group that re-orders daily: "every day", never "every 1 day" / "每1天"
    assert en.reason("replenish_due", {"cycle_days": 1, "last_days": 1}) == (
        "your group re-orders it about every day; last order yesterday"
    )
    assert messages("zh_CN").reason("replenish_due", {"cycle_days": 1, "last_days": 2}) == (
        "群里大约每天回购一次，上次是2天前"
    )


def _reason_forms(m, code: str, context: str = "reason") -> tuple[str, ...]:
    message = m.catalog.get(code, context=context)
    return message.string if isinstance(message.string, tuple) else (message.string,)


def test_every_english_day_count_is_worded_by_its_plural_entry():
    """No English sentence writes "{n} days" by hand: each `*_days` number goes through the unit `day`,
    or `ago` for a number of days before the picking day."""
    en = messages("en")
    assert en.has_unit("day") and not messages("zh_CN").has_unit("day")
    for code in REASON_CODES:
        for form in _reason_forms(en, code):
            for _, name, spec, _ in string.Formatter().parse(form):
                if name and name.endswith("_days") and name != PLURAL_ARG.get(code):  # not a count of times
                    assert spec in ("day", "ago", "every"), (
                        f"en {code}: {{{name}}} without its plural unit ({form})")


@pytest.mark.parametrize("locale", LOCALES)
def test_days_before_today_read_as_today_yesterday_and_n_days_ago(locale):
    """"0天前上新", "new 0 days ago" read wrong in a shopkeeper's group: each sentence quoting how long
    ago something was says it through the unit `ago`, which says today and yesterday in words."""
    m = messages(locale)
    assert m.has_unit("ago")
    words = {"zh_CN": ("今天", "昨天", "6天前"), "en": ("today", "yesterday", "6 days ago")}[locale]
    assert tuple(m.quantity("ago", n, str(n)) for n in (0, 1, 6)) == words
    for code in REASON_CODES:
        for form in _reason_forms(m, code):
            assert "}天前" not in form and ":day} ago" not in form, (code, form)  # not by hand
            for _, name, spec, _ in string.Formatter().parse(form):
                if name in ("last_days", "age_days"):
                    assert spec == "ago", f"{locale} {code}: {{{name}}} not said as days ago ({form})"
    zh = messages("zh_CN")
    new_today = zh.reason("new_category", {"age_days": 0, "pct": 30, "category": "snacks"})
    assert new_today == "今天上新，群里30%的订单是零食"
    assert zh.reason("new_launch", {"age_days": 1}) == "昨天上新"
    replenish = zh.reason("replenish_due", {"cycle_days": 7, "last_days": 1})
    assert replenish == "群里大约每7天回购一次，上次是昨天"


def test_the_online_retail_countries_read_in_chinese():
    """The importer puts each customer's country where a city goes; a Chinese sentence names it in Chinese."""
    zh = messages("zh_CN")
    countries = ("United Kingdom", "EIRE", "USA", "RSA", "Channel Islands", "Unspecified", "Germany")
    names = [zh.term("city", c) for c in countries]
    assert all(CJK.search(name) and not ENGLISH_WORD.search(name) for name in names), names
    assert zh.reason("hot_city", {"groups": 22, "city": "United Kingdom"}) == "英国有22个群近7天下过单"


def test_an_order_made_once_reads_as_natural_chinese():
    zh = messages("zh_CN")
    assert zh.reason("regular_before", {"order_days": 1, "last_days": 58}) == "群里有1天下过单，上次是58天前"
    assert zh.reason("regular_before", {"order_days": 3, "last_days": 9}) == "群里有3天下过单，上次是9天前"


def test_a_category_without_a_chinese_name_is_never_pasted_into_a_chinese_sentence():
    """The importer's categories read in Chinese; a code the catalog does not know gives the sentence
    that needs no category name (`reason_unnamed`), never the raw code; a category the platform
    itself writes in Chinese is its own name."""
    zh, en = messages("zh_CN"), messages("en")
    def hot_category(m, category: str) -> str:
        return m.reason("hot_category", {"pct": 12, "category": category})

    assert hot_category(zh, "stationery_wrap") == "群里12%的订单是文具与礼品包装"
    assert hot_category(zh, "kitchen_dining") == "群里12%的订单是厨房餐具"
    assert hot_category(zh, "mystery_box") == "群里12%的订单是这一类商品"
    assert zh.reason("new_category", {"age_days": 0, "pct": 20, "category": "mystery_box"}) == (
        "今天上新，群里20%的订单是这一类商品"
    )
    assert hot_category(en, "mystery_box") == "12% of your orders are in its category"
    assert en.reason("peers_new_group", {"pct": 80, "kind": "other", "city": "上海"}).startswith(
        "new group: 80% of general groups in")
    assert en.term("category", "stationery_wrap") == "Stationery & gift wrap"
    # a platform's own category written in Chinese is its own name: pasted, not hidden
    assert hot_category(zh, "日用") == "群里12%的订单是日用"
    assert hot_category(en, "日用") == "12% of your orders are in its category"
    # a city without an entry is still shown as written (real data's cities are already Chinese)
    assert zh.reason("hot_city", {"groups": 3, "city": "嘉兴"}) == "嘉兴有3个群近7天下过单"
    # every code that quotes a category has a sentence without it, which quotes only its numbers
    for code, arg_names in REASON_CODES.items():
        if "category" in arg_names and any("{category}" in f for f in _reason_forms(zh, code)):
            for form in _reason_forms(zh, code, "reason_unnamed"):
                fields = {name for _, name, _, _ in string.Formatter().parse(form) if name}
                assert "category" not in fields and fields <= set(arg_names), (code, form)
    with pytest.raises(ValueError, match="unit 'week'"):
        en.quantity("week", 2, "2")


# --- rendering ------------------------------------------------------------------------------------


def test_every_reason_kind_reads_as_chinese_by_default_with_its_numbers():
    m = messages()
    for code, args in EXPECTED_ARGS.items():  # one of every kind with_reasons gives
        text = m.reason(code, args)
        assert CJK.search(text) and not ENGLISH_WORD.search(text), (code, text)
        for name, value in args.items():
            if isinstance(value, int):
                assert str(value) in text, (code, name, text)
    replenish = m.reason("replenish_due", {"cycle_days": 6, "last_days": 6})
    assert replenish == "群里大约每6天回购一次，上次是6天前"
    assert m.reason("hot_city", {"groups": 38, "city": "Hangzhou"}) == "杭州有38个群近7天下过单"
    assert m.reason("hot_city", {"groups": 2, "city": "hangzhou"}) == "杭州有2个群近7天下过单"  # any case
    # a city without an entry (real data, already in Chinese) is shown as it is written
    assert m.reason("hot_city", {"groups": 38, "city": "嘉兴"}) == "嘉兴有38个群近7天下过单"
    assert m.reason("hot_category", {"pct": 12, "category": "snacks"}) == "群里12%的订单是零食"
    assert m.reason("peers_new_group", {"pct": 42, "kind": "hot_items", "city": "Ningbo"}) == (
        "新群：宁波42%的爆品群近4周买过"
    )
    assert m.reason("hot_platform", {"groups": 12345}) == "平台上有12,345个群近4周下过单"


def test_english_catalog_says_what_recsys_publishes_in_the_reason_column():
    en = messages("en")
    out = with_reasons(reason_frame())
    for code, _args, reason in out.select("reason_code", "reason_args", "reason").iter_rows():
        assert en.reason(code, EXPECTED_ARGS[code]) == reason, code
    assert en.reason("regular_recent", {"orders": 1}) == "your members ordered it once in the last 30 days"
    assert en.reason("hot_city", {"groups": 1, "city": "Hangzhou"}) == (
        "1 group in Hangzhou ordered it in the last 7 days"
    )


def test_a_missing_number_falls_back_to_the_published_sentence():
    m = messages()
    assert m.reason("replenish_due", {"cycle_days": 6}, "fallback") == "fallback"
    assert m.reason("hot_city", {"groups": 3, "city": None}, "fallback") == "fallback"
    assert m.reason(None, None, "legacy text") == "legacy text"


# --- negotiation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en", "en"),
        ("en-US,en;q=0.9", "en"),
        ("fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5", "en"),
        ("en;q=0.5, zh-CN;q=0.8", "zh_CN"),
        ("zh-TW,zh;q=0.9", "zh_CN"),
        ("zh-Hans-CN", "zh_CN"),
        ("en;q=0, fr", "zh_CN"),  # q=0 means "not English"
        ("fr", "zh_CN"),
        ("*", "zh_CN"),
        (";;,q=x,,", "zh_CN"),
        (None, "zh_CN"),
    ],
)
def test_accept_language_is_negotiated_by_q_value(header, expected):
    assert choose_locale(None, header) == expected


def test_lang_parameter_wins_and_an_unknown_one_is_ignored():
    assert choose_locale("en", "zh-CN") == "en"
    assert choose_locale("zh-CN", "en") == "zh_CN"
    assert choose_locale("zh", None) == "zh_CN"
    assert choose_locale("fr", None) == "zh_CN"
    assert choose_locale("klingon!", "en") == "en"  # not a language we speak: the header decides
    assert from_accept_language("en-GB") == "en"


# --- the picks route ------------------------------------------------------------------------------


def test_picks_are_chinese_by_default_and_carry_code_and_numbers(client: TestClient, keys: dict[str, str]):
    r = client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"]))
    assert r.headers["content-language"] == "zh-CN" and "Accept-Language" in r.headers["vary"]
    picks = r.json()["picks"]
    for p in picks:
        assert CJK.search(p["reason"]) and not ENGLISH_WORD.search(p["reason"]), p["reason"]
        assert p["reason_code"] in REASON_CODES and isinstance(p["reason_args"], dict)
        assert CJK.search(p["category_name"])
    assert picks[2]["reason"] == "群里大约每6天回购一次，上次是6天前"
    assert picks[2]["reason_args"] == {"cycle_days": 6, "last_days": 6}


def test_accept_language_en_gives_english_and_lang_wins_over_it(client: TestClient, keys: dict[str, str]):
    en = picks_of(client, keys["S1"], headers={"Accept-Language": "en-US,en;q=0.9"})
    assert en[2]["reason"] == "your group re-orders it about every 6 days; last order 6 days ago"
    assert en[0]["reason"] == "38 groups in 杭州 ordered it in the last 7 days"
    assert en[0]["category_name"] == "Fresh"
    assert [p["reason_args"] for p in en] == [p["reason_args"] for p in picks_of(client, keys["S1"])]
    zh = picks_of(client, keys["S1"], "?lang=zh-CN", {"Accept-Language": "en"})
    assert zh[2]["reason"] == "群里大约每6天回购一次，上次是6天前"
    asked = bearer(keys["S1"]) | {"Accept-Language": "zh"}
    by_param = client.get("/v1/groups/G1/picks?lang=en", headers=asked)
    assert by_param.headers["content-language"] == "en" and by_param.json()["picks"] == en
    dated = picks_of(client, keys["S1"], "?date=2026-11-22&lang=en")
    assert dated == en


def test_unknown_lang_falls_back_to_chinese(client: TestClient, keys: dict[str, str]):
    assert picks_of(client, keys["S1"], "?lang=fr") == picks_of(client, keys["S1"])
    assert picks_of(client, keys["S1"], headers={"Accept-Language": "de-DE"}) == picks_of(client, keys["S1"])


def _write(tmp_path: Path, picks: pl.DataFrame) -> Path:
    home = Home(tmp_path / "h").ensure()
    return write_snapshot(home, {**small_world(), "picks": picks}, run_id="r", publish=False)


def test_a_snapshot_published_before_reason_codes_serves_its_reasons_as_they_are(tmp_path: Path):
    legacy = small_world()["picks"].drop("reason_code", "reason_args").with_columns(
        reason=pl.format("{} 的成员最近常买这类商品", pl.col("group_id"))
    )
    snap = load_snapshot(_write(tmp_path, legacy))
    for locale in LOCALES:
        first = json.loads(snap.picks_body("G1", None, locale))["picks"][0]
        assert first["reason"] == "G1 的成员最近常买这类商品"
        assert first["reason_code"] is None and first["reason_args"] is None


def test_a_code_this_service_does_not_know_serves_the_published_english(tmp_path: Path):
    picks = small_world()["picks"].with_columns(reason_code=pl.lit("from_the_future"))
    snap = load_snapshot(_write(tmp_path, picks))
    first = json.loads(snap.picks_body("G1", None))["picks"][0]
    assert first["reason"] == "38 groups in 杭州 ordered it in the last 7 days"
    assert first["reason_code"] == "from_the_future"


def test_reason_args_that_are_not_a_json_object_are_refused(tmp_path: Path):
    picks = small_world()["picks"].with_columns(reason_args=pl.lit("[1, 2"))
    with pytest.raises(SnapshotError, match=r"picks.parquet: reason_args must be a JSON object"):
        load_snapshot(_write(tmp_path, picks))


# --- pages ----------------------------------------------------------------------------------------


def test_pages_are_chinese_by_default_and_english_on_request(client: TestClient):
    zh = client.get("/login")
    assert zh.headers["content-language"] == "zh-CN" and '<html lang="zh-CN">' in zh.text
    assert "登录" in zh.text and "Sign in" not in zh.text
    en = client.get("/login", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in en.text and "Sign in" in en.text and "登录" not in en.text
    assert "Sign in" in client.get("/login?lang=en", headers={"Accept-Language": "zh-CN"}).text


def test_the_language_switch_is_remembered(client: TestClient, keys: dict[str, str]):
    client.post("/login", data={"key": keys["S1"]})
    page = client.get("/shop")
    assert "退出登录" in page.text and 'href="/shop?lang=en"' in page.text
    english = client.get("/shop?lang=en")
    assert "Sign out" in english.text and "circlebuy_lang=en" in english.headers["set-cookie"]
    again = client.get("/shop")  # no ?lang= now: the cookie keeps English
    assert "Sign out" in again.text and "your members ordered it 3 times in the last 30 days" in again.text
    assert "退出登录" in client.get("/shop?lang=zh-CN").text


def test_login_errors_speak_the_page_language(client: TestClient):
    r = client.post("/login", data={"key": "cb_bad_key"})
    assert r.status_code == 401 and "这个密钥无效" in r.text
    assert "请检查是否完整粘贴" in r.text and "keys create" not in r.text  # a shopkeeper runs no CLI
    r = client.post("/login", data={"key": "cb_bad_key"}, headers={"Accept-Language": "en"})
    assert r.status_code == 401 and "not known" in r.text and "`" not in r.text.split("<main", 1)[-1]


def test_supplier_page_labels_and_chart_legends_are_localised(client: TestClient, keys: dict[str, str]):
    client.post("/login", data={"key": keys["SUP1"]})
    zh = client.get("/supplier").text
    for text in ("浙江绿源农业有限公司的需求预测", "已拼单", "建议备货 200", "P10–P90 区间",
                 '<th class="warehouse">仓库</th>', "杭州仓", "退出登录"):
        assert text in zh, text
    en = client.get("/supplier?lang=en").text
    for text in ("Demand for 浙江绿源农业有限公司", "Pooled so far", "Suggested 200", "P10–P90 range",
                 '<th class="warehouse">Warehouse</th>', "杭州 warehouse"):
        assert text in en, text


def test_shopkeeper_page_in_chinese_names_categories_slots_and_cities(client, keys, monkeypatch):
    monkeypatch.setattr(api.render, "platform_now", lambda: datetime(2026, 11, 22, 10, tzinfo=TZ))
    client.post("/login", data={"key": keys["S1"]})
    text = client.get("/shop").text  # the first group, G1, by the name its shopkeeper gave it
    for expected in ("今日推荐", "西湖宝妈团", "<small>杭州 · G1</small>", "生鲜", "热卖", "该补货",
                     "杭州有38个群近7天下过单", "选择群（共2个）", "不感兴趣"):
        assert expected in text, expected
    assert 'class="banner"' not in text and " disabled" not in text
    assert "群里12%的订单是日用百货" in client.get("/shop?group=G2").text  # G2's pick, on G2's page


# --- the stale-list banner ------------------------------------------------------------------------


def _shop(home: Home, now: datetime, monkeypatch) -> str:
    monkeypatch.setattr(api.render, "platform_now", lambda: now)
    key = create_key(home, "shopkeeper", "S1")
    with TestClient(create_app(home, FAST)) as c:
        c.post("/login", data={"key": key})
        return c.get("/shop").text


def test_a_list_that_is_not_for_today_says_so_and_turns_the_buttons_off(home: Home, monkeypatch):
    later = datetime(2026, 11, 25, 9, tzinfo=TZ)
    text = _shop(home, later, monkeypatch)
    assert 'class="banner"' in text and "这是2026-11-22的推荐，不是今天（2026-11-25）的" in text
    assert text.count('data-action="posted" disabled') == text.count('data-action="posted"') == 3


def test_a_pick_whose_cutoff_passed_is_marked_closed_and_cannot_be_marked(tmp_path: Path, monkeypatch):
    world = small_world()
    morning = datetime(DAY.year, DAY.month, DAY.day, 9)
    world["campaigns"] = world["campaigns"].with_columns(  # C1 (P1) closed at 09:00 today
        closes_at=pl.when(pl.col("campaign_id") == "C1")
        .then(pl.lit(morning).dt.replace_time_zone("Asia/Shanghai"))
        .otherwise(pl.col("closes_at"))
    )
    home = Home(tmp_path / "h").ensure()
    write_snapshot(home, world, run_id="r")
    text = _shop(home, datetime(DAY.year, DAY.month, DAY.day, 10, tzinfo=TZ), monkeypatch)
    assert 'class="banner"' not in text  # the list is today's, and some cutoffs are still ahead
    p1 = re.search(r'<li class="pick closed" data-group="G1" data-product="P1">.*?</li>', text)
    assert p1 and "已截单 11-22 09:00" in p1.group(0) and 'data-action="posted" disabled' in p1.group(0)
    p2 = re.search(r'<li class="pick" data-group="G1" data-product="P2">.*?</li>', text)
    assert p2 and " disabled" not in p2.group(0)


def test_the_banner_when_every_cutoff_has_passed():
    now = datetime(2026, 11, 22, 21, tzinfo=TZ)
    past = [now - timedelta(hours=1), now - timedelta(hours=2)]
    zh, en = messages("zh_CN"), messages("en")
    assert "截单时间都已过" in stale_banner(zh, "2026-11-22", now, past)
    assert "Every cutoff on this list has passed" in stale_banner(en, "2026-11-22", now, past)
    assert stale_banner(zh, "2026-11-22", now, [*past, now + timedelta(hours=1)]) == ""
    assert stale_banner(zh, "2026-11-22", now, [*past, None]) == ""  # a pick without a cutoff
    assert stale_banner(zh, "2026-11-22", now, []) == ""
    assert "Marking posted / skip opens on that day" in stale_banner(en, "2026-11-23", now, past)


def test_the_supplier_page_names_the_forecast_method_downloads_keep_its_code(tmp_path: Path):
    """Trial 2: the Chinese page showed `bottom_up` in the method column and "；方法 bottom_up" in the
    note under the row."""
    import csv
    import io

    world = small_world()
    world["demand"] = world["demand"].with_columns(
        pl.when(pl.col("product_id") == "P2").then(pl.lit("bottom_up")).otherwise("method").alias("method"),
        pl.when(pl.col("product_id") == "P2").then(0).otherwise("suggested_qty").alias("suggested_qty"),
        pl.when(pl.col("product_id") == "P2").then(0.05).otherwise(0.8).alias("critical_ratio"),
    )
    home = Home(tmp_path / "h").ensure()
    write_snapshot(home, world, run_id="r-method")
    key = create_key(home, "supplier", "SUP1")
    with TestClient(create_app(home, FAST)) as client:
        client.post("/login", data={"key": key})
        zh = client.get("/supplier").text
        for name in ("自下而上：按推荐估算（未开团）", "预售订单曲线", "上周同日"):
            assert f">{name}</td>" in zh, name
        assert "；方法 自下而上：按推荐估算（未开团）" in zh  # the note under the row
        assert ">bottom_up<" not in zh and "方法 bottom_up" not in zh and ">presale_curve<" not in zh
        assert 'title="bottom_up"' in zh  # the code is still there for whoever asks support
        en = client.get("/supplier?lang=en").text
        assert ">Bottom-up: from the picks (not open yet)</td>" in en and ">bottom_up<" not in en
        assert "; method Bottom-up: from the picks (not open yet)" in en
        r = client.get("/v1/suppliers/SUP1/demand?format=csv", headers=bearer(key))
        rows = {row["product_id"]: row for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))}
        assert rows["P2"]["method"] == "bottom_up" and "method bottom_up" in rows["P2"]["suggestion_note"]
        body = client.get("/v1/suppliers/SUP1/demand?format=json", headers=bearer(key)).json()
        assert {row["method"] for row in body["rows"]} == {"bottom_up", "presale_curve", "seasonal_naive"}


def test_supplier_charts_go_to_the_largest_forecasts_and_say_how_many_are_drawn(tmp_path: Path) -> None:
    """Before any window had orders, the charts went to the first rows by pooled quantity, all 0: a
    campaign with P50 0.3 was drawn and the one with the largest P50 was not, and the page never said
    that charts were missing. Its axis read "11-30 09h" in Chinese."""
    from dataclasses import replace

    from api.keys import create_key
    from common.home import Home
    from tests.api.conftest import FAST
    from tests.api.world import small_world, write_snapshot

    world = small_world()
    world["demand"] = world["demand"].with_columns(
        pl.when(pl.col("supplier_id") == "SUP1").then(0).otherwise("ordered_qty").alias("ordered_qty"),
        pl.when(pl.col("campaign_id") == "C2").then(500.0).otherwise("forecast_p50").alias("forecast_p50"),
    )
    home = Home(tmp_path / "home").ensure()
    write_snapshot(home, world, run_id="run-1")
    key = create_key(home, "supplier", "SUP1")
    with TestClient(create_app(home, replace(FAST, chart_campaigns=1))) as client:
        client.post("/login", data={"key": key})
        zh = client.get("/supplier").text
        en = client.get("/supplier?lang=en").text
    figures = re.findall(r'<figure class="card chart"><figcaption>.*?</figcaption>', zh)
    assert len(figures) == 1 and "C2" in figures[0]
    assert "共3行团购，这里画出1行的订单曲线" in zh
    assert "Booking charts for 1 of 3 campaign rows" in en
    ticks = re.findall(r"<text[^>]*>(\d\d-\d\d \d\d\S)</text>", zh)
    assert ticks and all(t.endswith("时") for t in ticks), ticks
    assert all(t.endswith("h") for t in re.findall(r"<text[^>]*>(\d\d-\d\d \d\d\S)</text>", en))


def test_a_forecast_cell_reads_one_way_for_the_same_shown_value():
    """The supplier's table shows tenths: a P10 of 0.004 and one of 0 both read "0", not "0.0" beside
    "0"; 2.96 reads "3", 2.94 "2.9"."""
    from api.render import _num

    assert [_num(v) for v in (0, 0.004, 0.04, 0.06, 2.96, 2.94, 1234.0, None)] == [
        "0", "0", "0", "0.1", "3", "2.9", "1,234", "—"]

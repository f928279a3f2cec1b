"""The synthetic world's calendar: lunar tables, events in _truth/, and what each event does to demand.

Worlds are small (300 groups) and built in memory with `build_world`, one per season, shared by
the module; the truth files come from one tiny `run_generate`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from common.contract import CATEGORIES
from common.errors import UsageError
from pipelines.generate import build_world, make_calendar, resolve_window, run_generate
from pipelines.generate.calendar import CNY, EVENTS, MID_AUTUMN, occurrences
from pipelines.generate.config import WorldConfig

FRESH, SNACKS, HOUSEHOLD, HEALTH = (CATEGORIES.index(c) for c in ("fresh", "snacks", "household", "health"))
PHASE = {(e.name, p.name): p for e in EVENTS for p in e.phases}


@dataclass
class Sold:
    """Paid quantity per day and category, posts per day, and paid quantity per product and day."""

    cfg: WorldConfig
    qty: np.ndarray  # (days, categories)
    posts: np.ndarray  # (days,)
    by_product: np.ndarray  # (products, days)
    festival: np.ndarray  # per product: EVENTS index or -1
    camp_first: np.ndarray  # per campaign: first day index
    camp_last: np.ndarray
    camp_product: np.ndarray
    camp_discount: np.ndarray  # campaign price / product list price

    def day(self, d: date) -> int:
        return (d - self.cfg.start).days

    def per_day(self, first: date, last: date, cats: list[int] | None = None) -> float:
        a, b = self.day(first), self.day(last) + 1
        q = self.qty[a:b] if cats is None else self.qty[a:b, cats]
        return float(q.sum() / (b - a))


def sold(cfg: WorldConfig) -> Sold:
    ent, camps, sim, clock = build_world(cfg)
    o = sim.orders
    paid = o["status"] == 0
    day = clock.day_of(o["ordered_at"])[paid]
    prod = camps.product[o["campaign"][paid]]
    q = o["quantity"][paid].astype(np.int64)
    qty = np.zeros((cfg.days, len(CATEGORIES)))
    np.add.at(qty, (day, ent.products.category[prod]), q)
    by_product = np.zeros((len(ent.products), cfg.days))
    np.add.at(by_product, (prod, day), q)
    return Sold(cfg=cfg, qty=qty, posts=np.bincount(clock.day_of(sim.posts["posted_at"]), minlength=cfg.days),
                by_product=by_product, festival=ent.products.festival.copy(), camp_first=camps.first_day,
                camp_last=camps.last_day, camp_product=camps.product,
                camp_discount=camps.price / ent.products.price[camps.product])


@pytest.fixture(scope="module")
def spring() -> Sold:
    """Early January to early March 2026: CNY (2026-02-17) and the Lantern Festival (2026-03-03)."""
    return sold(WorldConfig(groups=300, end=date(2026, 3, 8), days=62, seed=3))


@pytest.fixture(scope="module")
def autumn() -> Sold:
    """September to late November 2026: Mid-Autumn (2026-09-25) and Double 11."""
    return sold(WorldConfig(groups=300, end=date(2026, 11, 25), days=86, seed=4))


def test_lunar_tables_give_the_known_dates():
    assert CNY[2010] == date(2010, 2, 14) and CNY[2011] == date(2011, 2, 3)
    assert CNY[2024] == date(2024, 2, 10) and CNY[2025] == date(2025, 1, 29)
    assert CNY[2026] == date(2026, 2, 17) and CNY[2027] == date(2027, 2, 6)
    assert MID_AUTUMN[2024] == date(2024, 9, 17) and MID_AUTUMN[2025] == date(2025, 10, 6)
    assert MID_AUTUMN[2026] == date(2026, 9, 25) and MID_AUTUMN[2010] == date(2010, 9, 22)
    assert sorted(CNY) == sorted(MID_AUTUMN) == list(range(2009, 2036))
    for y in CNY:  # the festivals' ranges, and the eighth month's full moon ~7 lunar months after CNY
        assert date(y, 1, 21) <= CNY[y] <= date(y, 2, 20), y
        assert date(y, 9, 7) <= MID_AUTUMN[y] <= date(y, 10, 8), y
        assert 220 <= (MID_AUTUMN[y] - CNY[y]).days <= 252, y
    # a lunar year has 12 or 13 months of 29 or 30 days
    gaps = {(CNY[y + 1] - CNY[y]).days for y in range(2009, 2035)}
    assert gaps <= {353, 354, 355, 383, 384, 385}, gaps


def test_occurrences_cover_the_span_and_years_outside_the_tables_are_usage_errors():
    names = [(o.event.name, o.day) for o in occurrences(date(2026, 1, 1), date(2026, 12, 31))]
    assert names == [("cny", date(2026, 2, 17)), ("lantern", date(2026, 3, 3)), ("618", date(2026, 6, 18)),
                     ("mid_autumn", date(2026, 9, 25)), ("double11", date(2026, 11, 11))]
    # phases reach outside the event's date: the stock-up before CNY 2027 starts on 2027-01-23
    assert [o.event.name for o in occurrences(date(2027, 1, 23), date(2027, 1, 23))] == ["cny"]
    assert occurrences(date(2026, 7, 1), date(2026, 8, 20)) == []
    with pytest.raises(UsageError, match="no-calendar"):
        occurrences(date(2036, 1, 10), date(2036, 2, 20))
    assert [o.event.name for o in occurrences(date(2036, 5, 1), date(2036, 6, 30))] == ["618"]


def test_stocking_up_before_cny_lifts_fresh_and_snacks_by_about_their_factor(spring):
    cny = CNY[2026]
    normal = spring.per_day(cny - timedelta(days=28), cny - timedelta(days=15), [FRESH, SNACKS])
    stock_up = spring.per_day(cny - timedelta(days=14), cny - timedelta(days=1), [FRESH, SNACKS])
    m = PHASE["cny", "stock_up"].category_mult
    lo, hi = min(m[FRESH], m[SNACKS]), max(m[FRESH], m[SNACKS])
    assert lo - 0.4 <= stock_up / normal <= hi + 0.6, stock_up / normal
    # gifts in household and health go up somewhat, less than food
    gifts = (spring.per_day(cny - timedelta(days=14), cny - timedelta(days=1), [HOUSEHOLD, HEALTH])
             / spring.per_day(cny - timedelta(days=28), cny - timedelta(days=15), [HOUSEHOLD, HEALTH]))
    assert 1.05 < gifts < stock_up / normal, gifts


def test_the_holiday_lull_after_cny_has_less_volume_and_fewer_posts(spring):
    cny = CNY[2026]
    lull = PHASE["cny", "lull"]
    first, last = cny + timedelta(days=lull.first), cny + timedelta(days=lull.last)
    before = (cny - timedelta(days=28), cny - timedelta(days=15))
    ratio = spring.per_day(first, last) / spring.per_day(*before)
    expected = float(np.mean(lull.category_mult))
    assert expected - 0.15 < ratio < expected + 0.2, ratio
    a, b = spring.day(before[0]), spring.day(before[1]) + 1
    post_ratio = spring.posts[spring.day(first):spring.day(last) + 1].mean() / spring.posts[a:b].mean()
    assert lull.post_mult - 0.15 < post_ratio < lull.post_mult + 0.15, post_ratio


def festival_sales(s: Sold, name: str, year: int) -> tuple[np.ndarray, int, int]:
    """Paid quantity per day of the event's festival products, and the sale phase's day indices."""
    event = EVENTS[[e.name for e in EVENTS].index(name)]
    phase = PHASE[name, "sale"]
    day = event.date_in(year)
    mine = s.festival == [e.name for e in EVENTS].index(name)
    assert 2 <= mine.sum() <= 0.05 * len(mine)  # a small share of the catalogue
    first, last = day + timedelta(days=phase.first), day + timedelta(days=phase.last)
    return s.by_product[mine].sum(0), s.day(first), s.day(last)


@pytest.mark.parametrize(("world", "name", "year"),
                         [("spring", "lantern", 2026), ("autumn", "mid_autumn", 2026)])
def test_festival_products_sell_only_in_the_days_before_their_festival(request, world, name, year):
    s: Sold = request.getfixturevalue(world)
    per_day, a, b = festival_sales(s, name, year)
    assert per_day[:a].sum() == 0 and per_day[b + 1:].sum() == 0
    assert (per_day[a:b + 1] > 0).mean() >= 0.8  # they sell hard every day of the phase
    k = [e.name for e in EVENTS].index(name)
    camp = s.festival[s.camp_product] == k
    assert camp.any() and (s.camp_first[camp] >= a).all() and (s.camp_last[camp] <= b).all()
    # "what sold last week" changes: in the sale phase's last week a festival product is among the
    # top sellers of the world; in the two weeks before, none sold at all
    last_week = s.by_product[:, b - 6:b + 1].sum(1)
    top = np.argsort(-last_week)[:10]
    assert (s.festival[top] == k).any()


def test_mid_autumn_lifts_snacks_and_double11_cuts_prices_then_dips(autumn):
    ma = MID_AUTUMN[2026]
    snacks_sale = autumn.per_day(ma - timedelta(days=14), ma - timedelta(days=1), [SNACKS])
    snacks_before = autumn.per_day(date(2026, 9, 1), date(2026, 9, 10), [SNACKS])
    assert snacks_sale / snacks_before > PHASE["mid_autumn", "sale"].category_mult[SNACKS]
    d11 = date(2026, 11, 11)
    normal = autumn.per_day(date(2026, 10, 9), date(2026, 10, 31))
    promo = autumn.per_day(date(2026, 11, 1), d11)
    after = autumn.per_day(d11 + timedelta(days=1), d11 + timedelta(days=8))
    m = PHASE["double11", "promo"].category_mult
    assert promo / normal > min(m) and promo / normal < max(m) + 0.8, promo / normal
    assert after / normal < 0.9, after / normal
    # campaigns starting in the promotion cost price_factor x what they cost otherwise
    a, b = autumn.day(date(2026, 11, 1)), autumn.day(d11)
    inside = (autumn.camp_first >= a) & (autumn.camp_first <= b)
    ratio = np.median(autumn.camp_discount[inside]) / np.median(autumn.camp_discount[~inside])
    assert ratio == pytest.approx(PHASE["double11", "promo"].price_factor, abs=0.02)


def test_a_world_without_calendar_has_no_festival_products_and_is_flat():
    cfg = WorldConfig(groups=200, end=date(2026, 3, 8), days=62, seed=3, calendar=False)
    s = sold(cfg)
    assert (s.festival < 0).all()
    cal = make_calendar(cfg)
    assert cal.occurrences == [] and (cal.factors.category_mult == 1).all()
    cny = CNY[2026]
    ratio = (s.per_day(cny - timedelta(days=14), cny - timedelta(days=1), [FRESH, SNACKS])
             / s.per_day(cny - timedelta(days=28), cny - timedelta(days=15), [FRESH, SNACKS]))
    assert 0.75 < ratio < 1.3, ratio


def test_truth_lists_the_events_with_phases_and_festival_product_ids(tmp_path):
    out = tmp_path / "raw"
    run_generate(out, groups=30, start=date(2026, 2, 1), end=date(2026, 3, 5), seed=2, progress=False)
    truth = out / "_truth"
    doc = json.loads((truth / "calendar.json").read_text())
    assert doc["window"] == {"start": "2026-02-01", "end": "2026-03-05", "burn_in_start": "2025-12-30"}
    events = {e["name"]: e for e in doc["events"]}
    assert set(events) == {"cny", "lantern"}
    cny = events["cny"]
    assert cny["date"] == "2026-02-17" and cny["label"] == "春节"
    assert [(p["name"], p["first"], p["last"]) for p in cny["phases"]] == [
        ("stock_up", "2026-02-03", "2026-02-16"), ("lull", "2026-02-17", "2026-02-28")]
    assert cny["phases"][0]["category_mult"]["fresh"] == PHASE["cny", "stock_up"].category_mult[FRESH]
    assert "festival" not in cny
    lantern = events["lantern"]
    assert lantern["date"] == "2026-03-03" and lantern["festival"]["item"] == "tangyuan"
    ids = lantern["festival"]["product_ids"]
    products = pl.read_parquet(out / "products.parquet")
    assert ids and set(ids) <= set(products["product_id"])
    fest = products.filter(pl.col("product_id").is_in(ids))
    assert set(fest["subcategory"]) == {"tangyuan"} and set(fest["category"]) <= {"fresh", "snacks"}
    appeal = pl.read_parquet(truth / "product_appeal.parquet")
    assert sorted(appeal.filter(pl.col("festival") == "lantern")["product_id"]) == sorted(ids)
    orders = pl.read_parquet(out / "orders.parquet").filter(pl.col("product_id").is_in(ids))
    assert orders.height > 0
    assert orders["ordered_at"].dt.date().is_between(date(2026, 2, 24), date(2026, 3, 2)).all()
    days = pl.read_parquet(truth / "calendar_days.parquet")
    assert days.height == (33 + 33) * len(CATEGORIES)  # burn-in: min(35, days)
    row = days.filter((pl.col("date") == date(2026, 2, 20)) & (pl.col("category") == "fresh"))
    assert row["demand_mult"].item() == PHASE["cny", "lull"].category_mult[FRESH]
    assert row["post_mult"].item() == PHASE["cny", "lull"].post_mult


def test_calendar_off_writes_no_event_truth(tmp_path):
    run_generate(tmp_path, groups=10, start=date(2026, 2, 1), days=20, seed=2, calendar=False, progress=False)
    assert not (tmp_path / "_truth" / "calendar.json").exists()
    assert pl.read_parquet(tmp_path / "_truth" / "product_appeal.parquet")["festival"].null_count() > 0
    assert pl.read_parquet(tmp_path / "_truth" / "product_appeal.parquet")["festival"].is_null().all()
    world = json.loads((tmp_path / "_truth" / "world.json").read_text())
    assert world["config"]["calendar"] is False and world["config"]["end"] == "2026-02-20"


def test_start_end_and_days_derive_each_other_or_fail_clearly():
    assert resolve_window(date(2026, 2, 1), date(2026, 3, 2), None) == (date(2026, 3, 2), 30)
    assert resolve_window(date(2026, 2, 1), date(2026, 3, 2), 30) == (date(2026, 3, 2), 30)
    assert resolve_window(date(2026, 2, 1), None, 10) == (date(2026, 2, 10), 10)
    assert resolve_window(date(2026, 2, 1), None, None) == (date(2026, 4, 1), 60)
    assert resolve_window(None, date(2026, 3, 2), 7) == (date(2026, 3, 2), 7)
    with pytest.raises(UsageError, match="disagree"):
        resolve_window(date(2026, 2, 1), date(2026, 3, 2), 10)
    with pytest.raises(UsageError, match="after --end"):
        resolve_window(date(2026, 3, 2), date(2026, 2, 1), None)


def test_cli_generate_takes_start_no_calendar_and_products(tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "pipelines.cli", "generate", "--out", str(tmp_path), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    bad = cli("--start", "2026-02-01", "--end", "2026-02-10", "--days", "3")
    assert bad.returncode == 2 and "disagree" in bad.stderr
    ok = cli("--start", "2026-02-01", "--days", "3", "--groups", "5", "--products", "40", "--no-calendar")
    assert ok.returncode == 0, ok.stderr
    world = json.loads((tmp_path / "_truth" / "world.json").read_text())["config"]
    assert (world["start"], world["end"], world["days"]) == ("2026-02-01", "2026-02-03", 3)
    assert world["calendar"] is False and world["n_products"] == 40
    assert pl.read_parquet(tmp_path / "products.parquet").height == 40
    assert not (tmp_path / "_truth" / "calendar.json").exists()

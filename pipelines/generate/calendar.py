"""The synthetic world's calendar: annual events that move demand as they do on Chinese platforms.

A typed table of events (`EVENTS`), each with phases relative to its date (inclusive day offsets)
that scale the demand of each category, the number of shopkeeper posts and the campaign prices,
and optionally a set of festival-only products on sale only in its `sale` phase. The lunar
festivals (Chinese New Year, Mid-Autumn) come from hard-coded tables for 2009-2035.

Multipliers of overlapping phases multiply. A category multiplier scales the category's expected
demand on the day (paid quantity): more (or fewer) order lines after posts, by word of mouth and
from the herd; re-orders due in a lull happen with that probability, and in a surge they are
bigger baskets. A price factor multiplies the price of campaigns starting on the day (demand then
also answers the cut through each group's price sensitivity, on top of the multiplier).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from common.contract import CATEGORIES
from common.errors import UsageError
from common.festivals import (  # noqa: F401  (the lunar tables are the platform's: re-exported here)
    CNY,
    FIRST_YEAR,
    LAST_YEAR,
    LUNAR,
    MID_AUTUMN,
    day_in,
)
from pipelines.generate.entities import Products


def cats(default: float = 1.0, **by_name: float) -> tuple[float, ...]:
    """Per-category multipliers in CATEGORIES order (fresh, snacks, household, baby, beauty, health)."""
    assert set(by_name) <= set(CATEGORIES), by_name
    return tuple(float(by_name.get(c, default)) for c in CATEGORIES)


@dataclass(frozen=True)
class Phase:
    """Days `first`..`last` (inclusive offsets from the event's date) and what they do."""

    name: str
    first: int
    last: int
    category_mult: tuple[float, ...]  # per category, CATEGORIES order
    post_mult: float = 1.0  # shopkeeper posts per group-day
    price_factor: float = 1.0  # campaign prices of runs starting in the phase


@dataclass(frozen=True)
class FestivalProducts:
    """Festival-only products: a share of the catalogue in `categories`, on sale only in the event's
    `sale` phase, with their appeal multiplied by `appeal`; `item` names them (subcategory)."""

    item: str
    categories: tuple[str, ...]
    share: float  # of the catalogue
    appeal: float
    on_sale_prob: float = 0.9  # chance of a campaign on a day of the sale phase


@dataclass(frozen=True)
class Event:
    name: str
    label: str  # in Chinese
    when: str  # "MM-DD" every year, or a lunar table ("cny", "mid_autumn"), either with "+N" days
    phases: tuple[Phase, ...]
    festival: FestivalProducts | None = None

    def date_in(self, year: int) -> date:
        day = day_in(self.when, year)
        if day is None:
            raise UsageError(f"the calendar knows the lunar festivals of {FIRST_YEAR}-{LAST_YEAR} only")
        return day

    @property
    def lunar(self) -> bool:
        return self.when.partition("+")[0] in LUNAR


EVENTS: tuple[Event, ...] = (
    Event("cny", "春节", "cny", (
        # two weeks of stocking up on food, drink and gifts, then the holiday lull (travel, shops shut)
        Phase("stock_up", -14, -1, cats(fresh=2.5, snacks=2.6, household=1.3, baby=1.05, beauty=1.15,
                                        health=1.4), post_mult=1.25),
        Phase("lull", 0, 11, cats(0.5, fresh=0.45, snacks=0.55, baby=0.6), post_mult=0.55),
    )),
    Event("lantern", "元宵节", "cny+14", (
        Phase("sale", -7, -1, cats(fresh=1.1, snacks=1.15)),
    ), FestivalProducts("tangyuan", ("fresh", "snacks"), share=0.012, appeal=3.0)),
    Event("618", "618", "06-18", (
        Phase("promo", -17, 0, cats(1.5, fresh=1.2, household=1.6, baby=1.7, beauty=1.9, health=1.7),
              post_mult=1.3, price_factor=0.85),
        Phase("after", 1, 8, cats(0.7, fresh=0.85), post_mult=0.85),
    )),
    Event("mid_autumn", "中秋节", "mid_autumn", (
        Phase("sale", -14, -1, cats(fresh=1.1, snacks=1.3, household=1.05, beauty=1.15, health=1.25),
              post_mult=1.1),
    ), FestivalProducts("mooncake", ("snacks",), share=0.02, appeal=3.0)),
    Event("double11", "双11", "11-11", (
        Phase("promo", -10, 0, cats(1.6, fresh=1.25, household=1.8, baby=1.9, beauty=2.3, health=2.0),
              post_mult=1.3, price_factor=0.82),
        Phase("after", 1, 8, cats(0.65, fresh=0.8), post_mult=0.85),
    )),
)
EVENT_INDEX = {e.name: k for k, e in enumerate(EVENTS)}
FESTIVALS = tuple(k for k, e in enumerate(EVENTS) if e.festival is not None)


@dataclass(frozen=True)
class Occurrence:
    """One event in one year, with the absolute dates of its phases."""

    event: Event
    day: date

    def phase_dates(self, phase: Phase) -> tuple[date, date]:
        return self.day + timedelta(days=phase.first), self.day + timedelta(days=phase.last)

    def first_day(self) -> date:
        return min(self.phase_dates(p)[0] for p in self.event.phases)

    def last_day(self) -> date:
        return max(self.phase_dates(p)[1] for p in self.event.phases)


def occurrences(first: date, last: date) -> list[Occurrence]:
    """Every event with a phase that overlaps `first`..`last`, in date order."""
    out = []
    for year in range(first.year - 1, last.year + 2):
        for event in EVENTS:
            if event.lunar and not FIRST_YEAR <= year <= LAST_YEAR:
                # a lunar event's phases fall in January-March or August-October of its year
                seasons = ((date(year, 1, 1), date(year, 3, 31)), (date(year, 8, 1), date(year, 10, 31)))
                if any(a <= last and b >= first for a, b in seasons):
                    raise UsageError(
                        f"the calendar knows the lunar festivals of {FIRST_YEAR}-{LAST_YEAR} only; a world "
                        f"from {first} to {last} (burn-in included) needs --no-calendar")
                continue
            occ = Occurrence(event, event.date_in(year))
            if occ.first_day() <= last and occ.last_day() >= first:
                out.append(occ)
    return sorted(out, key=lambda o: (o.day, EVENT_INDEX[o.event.name]))


@dataclass
class DayFactors:
    """Per-day factors on offsets `lo`..`lo + n - 1` relative to the window's first day."""

    lo: int
    category_mult: np.ndarray  # (days, categories)
    post_mult: np.ndarray  # (days,)
    price_factor: np.ndarray  # (days,)
    festival_on: np.ndarray  # (days, festival events) bool: in the event's sale phase

    def row(self, day: int | np.ndarray) -> int | np.ndarray:
        return day - self.lo


def day_factors(start: date, lo: int, hi: int, occs: list[Occurrence]) -> DayFactors:
    """Factors for day offsets lo..hi (inclusive) from `start`, from the occurrences given."""
    n = hi - lo + 1
    cm = np.ones((n, len(CATEGORIES)))
    pm, pf = np.ones(n), np.ones(n)
    fest = np.zeros((n, len(FESTIVALS)), dtype=bool)
    for occ in occs:
        for phase in occ.event.phases:
            a, b = ((d - start).days - lo for d in occ.phase_dates(phase))
            a, b = max(a, 0), min(b, n - 1)
            if a > b:
                continue
            cm[a:b + 1] *= np.array(phase.category_mult)
            pm[a:b + 1] *= phase.post_mult
            pf[a:b + 1] *= phase.price_factor
            if occ.event.festival is not None and phase.name == "sale":
                fest[a:b + 1, FESTIVALS.index(EVENT_INDEX[occ.event.name])] = True
    return DayFactors(lo=lo, category_mult=cm, post_mult=pm, price_factor=pf, festival_on=fest)


@dataclass
class WorldCalendar:
    """The calendar of one world: the events over burn-in and window, and their day factors."""

    occurrences: list[Occurrence]
    factors: DayFactors  # offsets -burn-in .. days - 1 (burn-in days stand for the dates before the window)
    festivals: tuple[int, ...]  # EVENTS indices whose festival products this world sells (sale in the window)


def world_calendar(start: date, days: int, burn_in: int, enabled: bool) -> WorldCalendar:
    first = start - timedelta(days=burn_in)
    last = start + timedelta(days=days - 1)
    occs = occurrences(first, last) if enabled else []
    factors = day_factors(start, -burn_in, days - 1, occs)
    in_window = factors.festival_on[burn_in:].any(axis=0)
    return WorldCalendar(occurrences=occs, factors=factors,
                         festivals=tuple(FESTIVALS[k] for k in np.flatnonzero(in_window)))


def mark_festival_products(products: Products, cal: WorldCalendar, rng: np.random.Generator) -> None:
    """Turn a deterministic share of the catalogue into festival-only products of each festival
    this world sells (in place): high appeal, never re-ordered, listed long ago. Chosen among daily
    (not pre-sale) products, so the draws of everything else stay as in a world without them."""
    n = len(products)
    for event_idx in cal.festivals:
        spec = EVENTS[event_idx].festival
        cat_idx = [CATEGORIES.index(c) for c in spec.categories]
        free = (products.festival < 0) & ~products.presale
        cand = np.flatnonzero(np.isin(products.category, cat_idx) & free)
        k = min(len(cand), max(2, round(spec.share * n)))
        if k == 0:
            continue
        chosen = np.sort(rng.choice(cand, k, replace=False))
        products.festival[chosen] = event_idx
        products.appeal[chosen] *= spec.appeal
        products.cycle[chosen] = np.nan
        products.on_sale_prob[chosen] = spec.on_sale_prob
        products.launch_day[chosen] = -rng.integers(30, 3 * 365, k)

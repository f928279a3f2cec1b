"""Typed configuration of the synthetic world: sizes, category economics, the clock.

Every knob of the generator lives here with its default, so `_truth/world.json` can record the
whole recipe and a test can read the same numbers the generator used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta

import numpy as np

from common.clock import TZ
from common.contract import CATEGORIES
from common.settings import DEFAULT_SEED

UTC_OFFSET_S = 8 * 3600  # Asia/Shanghai has had no daylight saving since 1991
DAY_S = 86_400

CITIES = ("Shanghai", "Hangzhou", "Suzhou", "Nanjing", "Ningbo", "Wuxi", "Hefei", "Changzhou")


@dataclass(frozen=True)
class CategoryProfile:
    """Economics of one top-level category."""

    name: str
    price_median: float  # CNY, typical shelf price
    price_sigma: float  # log-normal spread of prices within the category
    rate: float  # orders per member per exposure (post) at appeal 1, taste 1, reference price
    catalogue_share: float  # share of products in the catalogue
    consumable_share: float  # share of products bought again on a cycle
    cycle_days: float  # typical re-order cycle of its consumables
    standard_share: float  # share of standard products (标品)
    refund_rate: float  # refunds after delivery (fresh food spoils, so more)
    subcategories: tuple[str, ...]


CATEGORY_PROFILES: tuple[CategoryProfile, ...] = (
    CategoryProfile("fresh", 22.0, 0.45, 0.030, 0.30, 0.65, 7.0, 0.35, 0.030,
                    ("vegetables", "fruit", "eggs", "meat", "seafood", "dairy")),
    CategoryProfile("snacks", 28.0, 0.45, 0.018, 0.20, 0.40, 14.0, 0.75, 0.008,
                    ("nuts", "biscuits", "drinks", "candy", "dried_fruit")),
    CategoryProfile("household", 32.0, 0.40, 0.022, 0.15, 0.75, 28.0, 0.85, 0.008,
                    ("paper", "detergent", "kitchen", "cleaning", "storage")),
    CategoryProfile("baby", 85.0, 0.50, 0.010, 0.10, 0.55, 21.0, 0.80, 0.010,
                    ("diapers", "formula", "wipes", "toys", "clothing")),
    CategoryProfile("beauty", 130.0, 0.55, 0.006, 0.12, 0.30, 45.0, 0.70, 0.012,
                    ("skincare", "makeup", "haircare", "fragrance")),
    CategoryProfile("health", 150.0, 0.55, 0.005, 0.13, 0.45, 35.0, 0.70, 0.010,
                    ("vitamins", "supplements", "herbal_tea", "devices")),
)
assert tuple(p.name for p in CATEGORY_PROFILES) == CATEGORIES

# Monday .. Sunday: weekends buy more (pay-day and Friday evenings aside)
WEEKDAY_FACTOR = (0.92, 0.95, 0.98, 1.0, 1.08, 1.15, 1.10)
# hot_items, deals, training, other
KIND_SHARE = (0.35, 0.35, 0.10, 0.20)
KIND_POSTS = (5.0, 4.5, 2.0, 3.0)  # mean posts per active day
KIND_PRICE_SENS = (0.9, 1.4, 1.0, 1.0)
KIND_HERD = (1.3, 1.0, 0.7, 0.9)
TIER_SHARE = (0.03, 0.20, 0.77)  # head a, middle b, tail c


@dataclass(frozen=True)
class WorldConfig:
    """Sizes and behaviour knobs. Derived sizes scale with `groups` (S = 2,000, M = 20,000)."""

    groups: int = 2000
    days: int = 60
    end: date = field(default_factory=lambda: (datetime.now(TZ) - timedelta(days=1)).date())
    seed: int = DEFAULT_SEED
    dirty: bool = False
    fmt: str = "parquet"
    group_size_median: float = 88.0
    group_size_sigma: float = 0.62
    second_group_share: float = 0.08  # memberships of members who are already in another group
    group_active_share: float = 0.88  # mean share of days a shopkeeper posts into a group
    order_scale: float = 1.0  # multiplies every order rate (calibration)
    herd_mean: float = 0.30  # mean offspring orders per order (self-excitation)
    word_of_mouth: float = 0.12  # orders without a post, relative to a group-day's post orders
    reorder_prob: float = 0.40  # chance a consumable order schedules a re-order
    burn_in_days: int = 35  # days simulated once before the window to fill the re-order queue
    cancel_rate: float = 0.03
    max_qty_share: float = 0.15  # campaigns with a cap
    presale_share: float = 0.10  # products sold in multi-day pre-sales
    null_warehouse_share: float = 0.03  # campaigns valid for every warehouse
    dirty_per_rule: int = 5  # bad rows planted per (table, rule)
    calendar: bool = True  # annual events (CNY, Lantern, 618, Mid-Autumn, Double 11): see calendar.py
    products: int | None = None  # catalogue size; None = derived from `groups` (n_products)

    @property
    def start(self) -> date:
        return self.end - timedelta(days=self.days - 1)

    @property
    def n_cities(self) -> int:
        return int(np.clip(round(self.groups / 2500) + 3, 3, len(CITIES)))

    @property
    def burn_in_start(self) -> date:
        """The first day the burn-in stands for (it replays the window's first days)."""
        return self.start - timedelta(days=min(self.burn_in_days, self.days))

    @property
    def on_sale_per_day(self) -> int:
        """Distinct products on sale per day: ~500 at S, ~2,000 at M (about half the catalogue)."""
        if self.products is not None:
            return max(1, round(0.52 * self.products))
        return max(30, round(500 * (self.groups / 2000) ** 0.6))

    @property
    def n_products(self) -> int:
        if self.products is not None:
            return self.products
        return round(self.on_sale_per_day / 0.52)

    @property
    def n_suppliers(self) -> int:
        return max(6, self.n_products // 12)

    def to_json(self) -> dict:
        d = asdict(self)
        d["end"] = self.end.isoformat()
        d.update(start=self.start.isoformat(), n_cities=self.n_cities,
                 on_sale_per_day=self.on_sale_per_day, n_products=self.n_products,
                 n_suppliers=self.n_suppliers,
                 categories=[asdict(p) for p in CATEGORY_PROFILES],
                 weekday_factor=WEEKDAY_FACTOR, kind_posts=KIND_POSTS, tier_share=TIER_SHARE)
        return d


@dataclass(frozen=True)
class Clock:
    """Day indices (0 = first day of the window; negative = before it) to epoch seconds."""

    start: date

    @property
    def epoch0(self) -> int:
        """Epoch seconds of 00:00 Asia/Shanghai on the first day."""
        return (self.start - date(1970, 1, 1)).days * DAY_S - UTC_OFFSET_S

    def at(self, day: np.ndarray | int, hour: np.ndarray | float) -> np.ndarray:
        """Epoch seconds of `hour` (fractional) on day index `day`, whole seconds."""
        return self.epoch0 + np.asarray(day, dtype=np.int64) * DAY_S + np.round(
            np.asarray(hour, dtype=np.float64) * 3600).astype(np.int64)

    def day_of(self, seconds: np.ndarray) -> np.ndarray:
        return (np.asarray(seconds) - self.epoch0) // DAY_S

    def date_days(self, day: np.ndarray) -> np.ndarray:
        """Day index to days since 1970-01-01 (the Date representation)."""
        return np.asarray(day, dtype=np.int64) + (self.start - date(1970, 1, 1)).days

"""The cast of the world: suppliers, products, shopkeepers, groups and their members.

All arrays are numpy, indexed by a dense integer id (the string ids are made only when writing).
Days are indices relative to the window's first day (negative = before the window).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.generate.config import (
    CATEGORY_PROFILES,
    KIND_HERD,
    KIND_POSTS,
    KIND_PRICE_SENS,
    KIND_SHARE,
    TIER_SHARE,
    WorldConfig,
)

NEVER = np.iinfo(np.int32).max  # left_day of a member who has not left
NAME_STREAM = 0x6E616D65  # the random stream of group names ("name"): naming never moves other draws
# what shopkeepers call their groups: city + district + who it is for ("杭州西湖宝妈团"); in the order
# of config.CITIES, six districts each
CITY_NAMES = ("上海", "杭州", "苏州", "南京", "宁波", "无锡", "合肥", "常州")
DISTRICTS = (
    ("浦东", "徐汇", "静安", "闵行", "长宁", "杨浦"),
    ("西湖", "滨江", "萧山", "余杭", "拱墅", "上城"),
    ("姑苏", "园区", "吴中", "相城", "新区", "吴江"),
    ("鼓楼", "玄武", "江宁", "建邺", "秦淮", "仙林"),
    ("鄞州", "海曙", "江北", "北仑", "镇海", "慈溪"),
    ("梁溪", "滨湖", "新吴", "惠山", "锡山", "江阴"),
    ("蜀山", "包河", "庐阳", "瑶海", "政务区", "高新"),
    ("天宁", "钟楼", "新北", "武进", "金坛", "溧阳"),
)
AUDIENCES = (  # per group kind, in the order of contract.GROUP_KINDS
    ("爆品团", "好物团", "优选群"),  # hot_items
    ("特价群", "省钱团", "捡漏群"),  # deals
    ("团长学习群", "分享群"),  # training
    ("宝妈团", "邻里团", "吃货群", "社区团购群", "生活群"),  # other
)
SYLLABLES = ("an", "bao", "chen", "da", "fu", "gu", "hai", "jia", "kang", "le", "mei", "nong",
             "pin", "qing", "rui", "shan", "tian", "wei", "xin", "yue", "zhi", "lan", "ming", "yu")
# the character each syllable is written with in a brand name (安宝, 品瑞): brands a Chinese shopkeeper reads
HANZI = ("安", "宝", "晨", "达", "福", "谷", "海", "佳", "康", "乐", "美", "农",
         "品", "清", "瑞", "山", "田", "味", "鑫", "悦", "智", "兰", "明", "雨")
assert len(HANZI) == len(SYLLABLES)


@dataclass
class Suppliers:
    category: np.ndarray  # main category of each supplier
    brand: np.ndarray  # brand name per supplier (object array of str)


@dataclass
class Products:
    supplier: np.ndarray
    category: np.ndarray
    subcategory: np.ndarray  # index into the category's subcategory tuple
    brand: np.ndarray  # object array, None for unbranded (farm produce)
    price: np.ndarray
    cost: np.ndarray
    is_standard: np.ndarray
    launch_day: np.ndarray
    appeal: np.ndarray
    cycle: np.ndarray  # re-order cycle in days, nan for non-consumables
    presale: np.ndarray  # sold in multi-day pre-sales
    on_sale_prob: np.ndarray  # chance the product is on sale on a given day
    festival: np.ndarray  # index into calendar.EVENTS of the event it is sold for only, -1 = all year

    def __len__(self) -> int:
        return len(self.category)


@dataclass
class Shopkeepers:
    tier: np.ndarray  # 0 = a (head), 1 = b (middle), 2 = c (tail)
    join_day: np.ndarray
    invited_by: np.ndarray  # -1 = none


@dataclass
class Groups:
    shopkeeper: np.ndarray
    city: np.ndarray  # city index == warehouse index
    kind: np.ndarray
    created_day: np.ndarray
    size: np.ndarray
    taste: np.ndarray  # (groups, categories) latent affinity multiplier
    price_sensitivity: np.ndarray
    herd: np.ndarray  # mean offspring orders per order
    activity: np.ndarray  # share of days the shopkeeper posts
    posts_mean: np.ndarray
    name: np.ndarray  # what the shopkeeper calls it (object array of str)

    def __len__(self) -> int:
        return len(self.city)


@dataclass
class Memberships:
    """One row per (member, group), sorted by group; `start[g]:start[g+1]` are g's rows."""

    member: np.ndarray
    group: np.ndarray
    join_day: np.ndarray
    left_day: np.ndarray  # NEVER when still a member
    start: np.ndarray
    n_members: int


@dataclass
class Entities:
    suppliers: Suppliers
    products: Products
    shopkeepers: Shopkeepers
    groups: Groups
    memberships: Memberships


def brand_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Two-character brand names (品瑞), unique by construction of a suffix (品瑞2)."""
    a = rng.integers(0, len(SYLLABLES), n)
    b = rng.integers(0, len(SYLLABLES), n)
    names = [f"{HANZI[x]}{HANZI[y]}" for x, y in zip(a, b, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for name in names:  # one per supplier: a few hundred at most
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}{seen[name]}")
    return np.array(out, dtype=object)


def make_suppliers(cfg: WorldConfig, rng: np.random.Generator) -> Suppliers:
    n = cfg.n_suppliers
    shares = np.array([p.catalogue_share for p in CATEGORY_PROFILES])
    category = np.concatenate([np.arange(len(shares)), rng.choice(len(shares), n - len(shares), p=shares)])
    return Suppliers(category=np.sort(category), brand=brand_names(rng, n))


def make_products(cfg: WorldConfig, suppliers: Suppliers, rng: np.random.Generator) -> Products:
    n = cfg.n_products
    prof = CATEGORY_PROFILES
    shares = np.array([p.catalogue_share for p in prof])
    category = rng.choice(len(prof), n, p=shares)
    n_sub = np.array([len(p.subcategories) for p in prof])
    subcategory = (rng.random(n) * n_sub[category]).astype(np.int64)
    # a product's supplier is one of the suppliers of its category (suppliers are sorted by category)
    sup_start = np.searchsorted(suppliers.category, np.arange(len(prof)))
    sup_count = np.bincount(suppliers.category, minlength=len(prof))
    supplier = sup_start[category] + (rng.random(n) * sup_count[category]).astype(np.int64)
    is_standard = rng.random(n) < np.array([p.standard_share for p in prof])[category]
    brand = suppliers.brand[supplier].copy()
    brand[(category == 0) & ~is_standard & (rng.random(n) < 0.7)] = None  # farm produce
    median = np.array([p.price_median for p in prof])[category]
    sigma = np.array([p.price_sigma for p in prof])[category]
    raw = median * np.exp(sigma * rng.standard_normal(n))
    price = np.maximum(np.round(raw) - 0.1, 1.9).round(2)
    cost = (price * rng.uniform(0.55, 0.8, n)).round(2)
    launched_in_window = rng.random(n) < 0.25
    launch_day = np.where(launched_in_window, rng.integers(0, cfg.days, n), rng.integers(-365, 0, n))
    appeal = np.exp(0.6 * rng.standard_normal(n))
    appeal = appeal / appeal.mean() * np.where(is_standard, 1.1, 0.85)
    consumable = rng.random(n) < np.array([p.consumable_share for p in prof])[category]
    cycle_base = np.array([p.cycle_days for p in prof])[category]
    cycle = np.where(consumable, np.maximum(3, np.round(cycle_base * np.exp(0.25 * rng.standard_normal(n)))),
                     np.nan)
    presale = rng.random(n) < cfg.presale_share * np.where(is_standard, 0.4, 2.2)
    on_sale_prob = np.where(is_standard, rng.uniform(0.5, 0.85, n), rng.uniform(0.2, 0.55, n))
    on_sale_prob = np.clip(on_sale_prob + 0.1 * consumable, 0, 0.95)
    return Products(supplier=supplier, category=category, subcategory=subcategory, brand=brand,
                    price=price, cost=cost, is_standard=is_standard, launch_day=launch_day,
                    appeal=appeal, cycle=cycle, presale=presale, on_sale_prob=on_sale_prob,
                    festival=np.full(n, -1, dtype=np.int64))


def tier_group_counts(groups: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Groups per shopkeeper for tiers a, b, c: quotas of shopkeepers per tier, one group per tail
    shopkeeper, 2-6 per middle one, and the head ones share the rest (heavy tailed)."""
    n_sk = max(1, round(groups / 1.96))
    n_a = max(1, round(TIER_SHARE[0] * n_sk))
    n_b = round(TIER_SHARE[1] * n_sk)
    n_c = max(n_sk - n_a - n_b, 0)
    b = rng.integers(2, 7, n_b)
    rest = groups - n_c - int(b.sum())
    if rest < 3 * n_a:  # a tiny world: one head shopkeeper, everyone else in the tail
        return [np.array([max(groups - max(groups - 1, 0), 1)]), np.empty(0, np.int64),
                np.ones(max(groups - 1, 0), np.int64)]
    w = np.exp(0.5 * rng.standard_normal(n_a))
    a = np.maximum(3, np.floor(rest * w / w.sum())).astype(np.int64)
    a[np.argmax(a)] += rest - int(a.sum())
    return [a, b, np.ones(n_c, np.int64)]


def make_shopkeepers_and_groups(cfg: WorldConfig, rng: np.random.Generator) -> tuple[Shopkeepers, Groups]:
    """Tiered shopkeepers (head ones run many large groups) and the groups they run."""
    n_groups_sk = tier_group_counts(cfg.groups, rng)
    tier = np.repeat(np.arange(3), [len(x) for x in n_groups_sk])
    n_groups_sk = np.concatenate(n_groups_sk)
    order = rng.permutation(len(tier))
    tier, n_groups_sk = tier[order], n_groups_sk[order]
    n_sk = len(tier)
    shopkeeper = np.repeat(np.arange(n_sk), n_groups_sk)
    g = cfg.groups

    city_weight = 1.0 / np.arange(1, cfg.n_cities + 1) ** 0.8
    home = rng.choice(cfg.n_cities, n_sk, p=city_weight / city_weight.sum())
    city = np.where(rng.random(g) < 0.9, home[shopkeeper], rng.integers(0, cfg.n_cities, g))
    kind = rng.choice(4, g, p=KIND_SHARE)
    created_day = np.where(rng.random(g) < 0.88, rng.integers(-720, 0, g),
                           rng.integers(0, max(1, cfg.days - 3), g))
    gtier = tier[shopkeeper]
    size = np.exp(np.log(cfg.group_size_median) + cfg.group_size_sigma * rng.standard_normal(g))
    size = np.clip(np.round(size * np.where(gtier == 0, 1.35, np.where(gtier == 1, 1.1, 0.9))), 30, 500)
    n_cat = len(CATEGORY_PROFILES)
    city_taste = np.exp(0.2 * rng.standard_normal((cfg.n_cities, n_cat)))
    taste = np.exp(0.6 * rng.standard_normal((g, n_cat))) * city_taste[city]
    price_sensitivity = np.exp(0.35 * rng.standard_normal(g)) * np.array(KIND_PRICE_SENS)[kind]
    herd = cfg.herd_mean * np.array(KIND_HERD)[kind] * rng.uniform(0.6, 1.4, g)
    activity = np.clip(cfg.group_active_share + np.where(gtier == 2, -0.15, 0.05)
                       + 0.08 * rng.standard_normal(g), 0.3, 1.0)
    posts_mean = np.array(KIND_POSTS)[kind] * np.where(gtier == 0, 1.2, 1.0)

    first_group_day = np.full(n_sk, np.iinfo(np.int64).max)
    np.minimum.at(first_group_day, shopkeeper, created_day)
    join_day = first_group_day - rng.integers(0, 90, n_sk)
    # ids follow join order, so a referrer always has a smaller id than whom they invited
    by_join = np.lexsort((np.arange(n_sk), join_day))
    rank = np.empty(n_sk, dtype=np.int64)
    rank[by_join] = np.arange(n_sk)
    tier, join_day, shopkeeper = tier[by_join], join_day[by_join], rank[shopkeeper]
    r = np.arange(n_sk)
    # preferential: early (and head) shopkeepers invite more; ~12% joined on their own
    referrer = np.floor(r * rng.random(n_sk) ** 2).astype(np.int64)
    invited_by = np.where((r > 0) & (rng.random(n_sk) < 0.88), referrer, -1)
    shopkeepers = Shopkeepers(tier=tier, join_day=join_day, invited_by=invited_by)
    groups = Groups(shopkeeper=shopkeeper, city=city, kind=kind, created_day=created_day,
                    size=size.astype(np.int64), taste=taste, price_sensitivity=price_sensitivity,
                    herd=herd, activity=activity, posts_mean=posts_mean,
                    name=group_names(shopkeeper, city, kind, np.random.default_rng([cfg.seed, NAME_STREAM])))
    return shopkeepers, groups


def group_names(shopkeeper: np.ndarray, city: np.ndarray, kind: np.ndarray, rng: np.random.Generator
                ) -> np.ndarray:
    """Chinese-looking group names, city + district + audience ("杭州西湖宝妈团"); a shopkeeper's second
    group of the same name is "…2群", so the names of one shopkeeper's groups never repeat. Drawn from
    their own random stream: adding names changed no other table of a seed's world."""
    n = len(city)
    district = (rng.random(n) * len(DISTRICTS[0])).astype(np.int64)
    audience_draw = rng.random(n)
    seen: dict[tuple[int, str], int] = {}
    names = np.empty(n, dtype=object)
    for g in range(n):  # one short string per group: a few hundred thousand at most (L world)
        options = AUDIENCES[kind[g]]
        audience = options[int(audience_draw[g] * len(options))]
        base = CITY_NAMES[city[g]] + DISTRICTS[city[g]][district[g]] + audience
        key = (int(shopkeeper[g]), base)
        seen[key] = seen.get(key, 0) + 1
        names[g] = base if seen[key] == 1 else f"{base}{seen[key]}群"
    return names


def make_memberships(cfg: WorldConfig, groups: Groups, rng: np.random.Generator) -> Memberships:
    """Members of each group; a few share a member with another group of the same city."""
    size = groups.size
    total = int(size.sum())
    group = np.repeat(np.arange(len(size)), size)
    second = rng.random(total) < cfg.second_group_share
    member = np.full(total, -1, dtype=np.int64)
    n_primary = int((~second).sum())
    member[~second] = np.arange(n_primary)
    # a secondary slot takes a random primary member of the same city
    city = groups.city[group]
    prim_idx = np.flatnonzero(~second)
    prim_city = city[prim_idx]
    order = np.argsort(prim_city, kind="stable")
    prim_sorted = prim_idx[order]
    c_start = np.searchsorted(prim_city[order], np.arange(cfg.n_cities))
    c_count = np.bincount(prim_city, minlength=cfg.n_cities)
    sec_idx = np.flatnonzero(second)
    sc = city[sec_idx]
    ok = c_count[sc] > 0
    pick = c_start[sc] + (rng.random(len(sec_idx)) * np.maximum(c_count[sc], 1)).astype(np.int64)
    member[sec_idx[ok]] = member[prim_sorted[pick[ok]]]
    # a pair seen twice (the member was already in this group) becomes a fresh member
    key = group * (n_primary + total) + np.where(member < 0, 0, member)
    _, first = np.unique(key, return_index=True)
    dup = np.ones(total, dtype=bool)
    dup[first] = False
    fresh = (member < 0) | dup
    member[fresh] = n_primary + np.arange(int(fresh.sum()))
    n_members = n_primary + int(fresh.sum())
    # members are numbered in a random order, so ids say nothing about groups
    relabel = rng.permutation(n_members)
    member = relabel[member]
    # within a group, rows are shuffled: behaviour samples low positions more (heavy buyers)
    within = rng.random(total)
    order = np.lexsort((within, group))
    member, group = member[order], group[order]
    created = groups.created_day[group]
    lo = np.maximum(created, -720)
    late = (rng.random(total) < 0.12) | (created >= 0)
    born = np.maximum(created, 0)
    join_late = born + (rng.random(total) * (cfg.days - born)).astype(np.int64)
    join_before = lo + (rng.random(total) * np.maximum(-lo, 1)).astype(np.int64)
    join_day = np.where(late, join_late, join_before)
    join_day = np.where(created >= 0, np.maximum(join_day, created), join_day)
    leaves = rng.random(total) < 0.04
    left_day = np.where(leaves, join_day + 1 + (rng.random(total) * np.maximum(cfg.days - join_day, 1))
                        .astype(np.int64), NEVER)
    left_day = np.where(left_day >= cfg.days, NEVER, left_day)
    start = np.concatenate([[0], np.cumsum(size)])
    return Memberships(member=member, group=group, join_day=join_day.astype(np.int64),
                       left_day=left_day.astype(np.int64), start=start, n_members=n_members)


def make_entities(cfg: WorldConfig, rng: np.random.Generator) -> Entities:
    suppliers = make_suppliers(cfg, rng)
    products = make_products(cfg, suppliers, rng)
    shopkeepers, groups = make_shopkeepers_and_groups(cfg, rng)
    memberships = make_memberships(cfg, groups, rng)
    return Entities(suppliers, products, shopkeepers, groups, memberships)

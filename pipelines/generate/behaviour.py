"""How the world behaves, one day at a time (every step inside a day is vectorised).

Per day: shopkeepers post a handful of products on sale into each active group (by the group's
taste and the products' appeal); members order by the group's taste, price sensitivity, the
product's appeal and the weekday, along a booking curve (a burst after the post, a rise before
the cutoff); early orders trigger more orders in the same group (herd); some orders come by word
of mouth without a post; consumables are re-ordered on their cycle; capped campaigns sell out;
a few percent are cancelled or refunded. The calendar (calendar.py) scales each day: category
demand, the number of posts, and the mix of categories shopkeepers post.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipelines.generate.calendar import WorldCalendar
from pipelines.generate.campaigns import Campaigns
from pipelines.generate.config import CATEGORY_PROFILES, DAY_S, WEEKDAY_FACTOR, Clock, WorldConfig
from pipelines.generate.entities import Entities

BASE_RATE = 0.22  # calibrates order lines per post (S world: ~1M lines over 60 days)
UNCAPPED = np.int64(1) << 40
HERD_GENERATIONS = 3
PAID, CANCELLED, REFUNDED = 0, 1, 2
SRC_POST, SRC_HERD, SRC_WORD, SRC_REORDER = 0, 1, 2, 3


@dataclass
class Events:
    """Accumulated per-day arrays; concatenated into one array per column at the end."""

    cols: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **arrays: np.ndarray) -> None:
        for name, values in arrays.items():
            self.cols.setdefault(name, []).append(values)

    def stack(self, dtypes: dict[str, type]) -> dict[str, np.ndarray]:
        """One array per column (freeing the per-day pieces as it goes)."""
        out = {}
        for n, t in dtypes.items():
            parts = self.cols.pop(n, [])
            out[n] = np.concatenate(parts).astype(t, copy=False) if parts else np.empty(0, t)
        return out


@dataclass
class Simulation:
    posts: dict[str, np.ndarray]  # group, campaign, posted_at (product and price follow from campaign)
    orders: dict[str, np.ndarray]  # member, group, campaign, quantity, ordered_at, status, status_at, source
    feedback: dict[str, np.ndarray]  # group, product, action, at


@dataclass
class Availability:
    """What is on sale (and not sold out) per warehouse × category on one day."""

    campaign: np.ndarray  # sorted by (warehouse, category)
    cum_weight: np.ndarray
    key_lo: np.ndarray
    key_hi: np.ndarray
    lookup: np.ndarray  # (products, warehouses) -> campaign or -1

    def sample(self, key: np.ndarray, u: np.ndarray) -> np.ndarray:
        """One campaign per query key, by weight; -1 where nothing is on sale."""
        if not len(self.campaign):  # nothing on sale anywhere today (a world with a handful of products)
            return np.full(len(key), -1, dtype=np.int64)
        lo, hi = self.key_lo[key], self.key_hi[key]
        ok = hi > lo
        cw = self.cum_weight
        base = np.where(lo > 0, cw[np.maximum(lo - 1, 0)], 0.0)
        total = np.where(ok, cw[np.maximum(hi - 1, 0)] - base, 0.0)
        idx = np.searchsorted(cw, base + u * total, side="right")
        idx = np.clip(idx, lo, np.maximum(hi - 1, lo))
        return np.where(ok, self.campaign[np.minimum(idx, len(self.campaign) - 1)], -1)


def expected_posts(mu: np.ndarray) -> np.ndarray:
    """E[clip(Poisson(mu), 1, 8)]: posts of an active group-day."""
    p = np.exp(-mu)
    out = p.copy()  # k = 0 counts as 1
    cdf = p.copy()
    for k in range(1, 8):
        p = p * mu / k
        out += k * p
        cdf += p
    return out + 8 * (1 - cdf)


class World:
    """Precomputed per-entity factors the daily step needs."""

    def __init__(self, cfg: WorldConfig, ent: Entities, camps: Campaigns, clock: Clock,
                 cal: WorldCalendar) -> None:
        self.cfg, self.ent, self.camps, self.clock = cfg, ent, camps, clock
        self.cal = cal.factors
        self.cal_shift = 0  # burn-in days stand for the dates before the window
        prof = CATEGORY_PROFILES
        g, p = ent.groups, ent.products
        self.n_cat, self.n_wh = len(prof), cfg.n_cities
        self.rate = np.array([x.rate for x in prof])
        self.ref_price = np.array([x.price_median for x in prof])
        self.refund = np.array([x.refund_rate for x in prof])
        self.qty_extra = np.array([0.45, 0.3, 0.45, 0.3, 0.15, 0.15])
        post_pref = g.taste ** 0.8
        self.post_share = post_pref / post_pref.sum(1, keepdims=True)
        self.post_cdf = np.cumsum(self.post_share, axis=1)
        self.buy = g.taste * self.rate[None, :]
        self.word_cdf = np.cumsum(self.buy / self.buy.sum(1, keepdims=True), axis=1)
        scale = cfg.word_of_mouth * cfg.order_scale * BASE_RATE
        self.word_mu = scale * g.size * self.buy.sum(1) * g.posts_mean / 3
        self.posts_per_active = expected_posts(g.posts_mean)
        self.set_day(0)
        self.cat = p.category
        camp_cat = p.category[camps.product]
        self.camp_price_factor = camps.price / self.ref_price[camp_cat]
        self.cap_left = np.where(camps.capped, -1, UNCAPPED).astype(np.int64)
        self.weekday0 = cfg.start.weekday()
        self.end_ts = int(clock.at(cfg.days - 1, 24.0)) - 1
        self.queue: dict[int, list[tuple[np.ndarray, ...]]] = {}
        self.horizon = cfg.days  # re-orders due later than this are not kept

    def set_day(self, day: int) -> None:
        """The calendar's factors for `day`: category multipliers `m`, posts, and what follows."""
        r = self.cal.row(day + self.cal_shift)
        self.m, pm = self.cal.category_mult[r], float(self.cal.post_mult[r])
        self.flat = bool((self.m == 1).all() and pm == 1)
        if self.flat:
            self.active_f = self.posts_f = 1.0
            self.day_post_cdf, self.post_boost = self.post_cdf, None
            self.day_word_cdf, self.day_word_mu = self.word_cdf, self.word_mu
            return
        # fewer posts: fewer groups posted into and fewer posts each; more posts: more each
        self.active_f = self.posts_f = np.sqrt(pm) if pm < 1 else 1.0
        if pm > 1:
            self.posts_f = pm
        g = self.ent.groups
        pm_g = self.active_f * expected_posts(g.posts_mean * self.posts_f) / self.posts_per_active
        # shopkeepers post what sells now: the category mix follows m; each post then converts so
        # that a category's demand is m times its usual (posts x conversion)
        q = self.post_share * self.m[None, :]
        qs = q.sum(1)
        self.day_post_cdf = np.cumsum(q / qs[:, None], axis=1)
        self.post_boost = qs / pm_g
        b = self.buy * self.m[None, :]
        bs = b.sum(1)
        self.day_word_cdf = np.cumsum(b / bs[:, None], axis=1)
        self.day_word_mu = self.word_mu * bs / self.buy.sum(1)

    def appeal_on(self, product: np.ndarray, day: int) -> np.ndarray:
        """Appeal with a novelty bump for recently launched products."""
        p = self.ent.products
        age = day - p.launch_day[product]
        return p.appeal[product] * (1 + 0.8 * np.exp(-np.maximum(age, 0) / 14.0))

    def availability(self, day: int) -> Availability:
        c = self.camps
        act = c.by_day[day]
        act = act[self.cap_left[act] != 0]
        wh = c.warehouse[act]
        every = wh < 0
        a_c = np.concatenate([act[~every], np.repeat(act[every], self.n_wh)])
        a_w = np.concatenate([wh[~every], np.tile(np.arange(self.n_wh), int(every.sum()))])
        a_p = c.product[a_c]
        key = a_w * self.n_cat + self.cat[a_p]
        order = np.argsort(key, kind="stable")
        a_c, a_p, a_w, key = a_c[order], a_p[order], a_w[order], key[order]
        keys = np.arange(self.n_wh * self.n_cat)
        lookup = np.full((len(self.ent.products), self.n_wh), -1, dtype=np.int64)
        lookup[a_p, a_w] = a_c
        return Availability(campaign=a_c, cum_weight=np.cumsum(self.appeal_on(a_p, day)),
                            key_lo=np.searchsorted(key, keys, "left"),
                            key_hi=np.searchsorted(key, keys, "right"), lookup=lookup)


def pick_category(cdf: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.minimum((cdf[rows] < u[:, None]).sum(1), cdf.shape[1] - 1)


def booking_times(rng: np.random.Generator, start: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Booking curve after a post: a burst, a flat middle and a rise before the cutoff."""
    n = len(start)
    mode = rng.random(n)
    burst = start + rng.exponential(35 * 60, n)
    flat = start + rng.random(n) * (close - start)
    rise = close - rng.exponential(70 * 60, n)
    t = np.where(mode < 0.55, burst, np.where(mode < 0.8, flat, rise))
    t = np.where((t > close) | (t < start), flat, t)  # a late post's burst runs into the cutoff
    return np.clip(np.round(t), start, close).astype(np.int64)


def day_window(w: World, day: int, campaign: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A time on `day` inside the campaign's window (07:00-23:00), or -1 if none."""
    lo = np.maximum(w.camps.opens_at[campaign], w.clock.at(day, 7.0))
    hi = np.minimum(w.camps.closes_at[campaign], w.clock.at(day, 23.0))
    t = lo + np.round(rng.random(len(campaign)) * (hi - lo)).astype(np.int64)
    return np.where(hi >= lo, t, -1)


def make_posts(w: World, day: int, av: Availability, rng: np.random.Generator):
    """Posts of the day: (group, campaign, posted_at)."""
    g = w.ent.groups
    live = np.flatnonzero((g.created_day <= day) & (rng.random(len(g)) < g.activity * w.active_f))
    k = np.clip(rng.poisson(g.posts_mean[live] * w.posts_f), 1, 8)
    grp = np.repeat(live, k)
    cat = pick_category(w.day_post_cdf, grp, rng.random(len(grp)))
    camp = av.sample(g.city[grp] * w.n_cat + cat, rng.random(len(grp)))
    ok = camp >= 0
    grp, camp = grp[ok], camp[ok]
    _, first = np.unique(grp * len(w.camps) + camp, return_index=True)
    grp, camp = grp[first], camp[first]
    n = len(grp)
    mode = rng.random(n)
    hour = np.where(mode < 0.6, rng.uniform(8.5, 12, n), np.where(mode < 0.75, rng.uniform(12, 18, n),
                                                                   rng.uniform(18.5, 21.5, n)))
    t = w.clock.at(day, hour)
    opens = w.camps.opens_at[camp]
    t = np.where(t < opens, opens + rng.integers(60, 1200, n), t)
    t = np.minimum(t, w.camps.closes_at[camp] - 1800)
    return grp, camp, t


def post_rates(w: World, day: int, grp: np.ndarray, camp: np.ndarray) -> np.ndarray:
    """Expected first-hand orders per post."""
    g, c = w.ent.groups, w.camps
    prod = c.product[camp]
    cat = w.cat[prod]
    wd = WEEKDAY_FACTOR[(w.weekday0 + day) % 7]
    lam = (w.cfg.order_scale * BASE_RATE * wd * g.size[grp] * w.rate[cat] * g.taste[grp, cat]
           * w.appeal_on(prod, day) * w.camp_price_factor[camp] ** (-g.price_sensitivity[grp]))
    return lam if w.post_boost is None else lam * w.post_boost[grp]


def set_caps(w: World, day: int, grp: np.ndarray, camp: np.ndarray, lam: np.ndarray,
             rng: np.random.Generator) -> None:
    """Caps of campaigns opening today: around the demand the supplier expects, so some sell out."""
    c = w.camps
    new = c.by_day[day]
    new = new[(c.first_day[new] == day) & c.capped[new]]
    if not len(new):
        return
    expected = np.bincount(camp, weights=lam / (1 - w.ent.groups.herd[grp]), minlength=len(c))[new]
    span = c.last_day[new] - c.first_day[new] + 1
    cap = np.maximum(2, np.round((expected * span + 1) * rng.uniform(0.5, 1.4, len(new)))).astype(np.int64)
    c.max_qty[new] = cap
    w.cap_left[new] = cap


def herd(w: World, grp: np.ndarray, camp: np.ndarray, t: np.ndarray, rng: np.random.Generator):
    """Offspring orders: each order draws Poisson(herd) more in its group, a little later."""
    out_g, out_c, out_t = [], [], []
    for _ in range(HERD_GENERATIONS):
        m = rng.poisson(w.ent.groups.herd[grp])
        grp, camp, t = np.repeat(grp, m), np.repeat(camp, m), np.repeat(t, m)
        t = t + np.round(rng.exponential(50 * 60, len(t))).astype(np.int64)
        ok = t <= w.camps.closes_at[camp]
        grp, camp, t = grp[ok], camp[ok], t[ok]
        out_g.append(grp), out_c.append(camp), out_t.append(t)
    return np.concatenate(out_g), np.concatenate(out_c), np.concatenate(out_t)


def word_of_mouth(w: World, day: int, av: Availability, rng: np.random.Generator):
    g = w.ent.groups
    alive = np.flatnonzero(g.created_day <= day)
    wd = WEEKDAY_FACTOR[(w.weekday0 + day) % 7]
    grp = np.repeat(alive, rng.poisson(w.day_word_mu[alive] * wd))
    cat = pick_category(w.day_word_cdf, grp, rng.random(len(grp)))
    camp = av.sample(g.city[grp] * w.n_cat + cat, rng.random(len(grp)))
    grp, camp = grp[camp >= 0], camp[camp >= 0]
    t = day_window(w, day, camp, rng)
    return grp[t >= 0], camp[t >= 0], t[t >= 0]


def due_reorders(w: World, day: int, av: Availability, post_keys: np.ndarray, post_t: np.ndarray,
                 rng: np.random.Generator):
    """Re-orders due today where the product is on sale; the rest wait a day (patience)."""
    parts = w.queue.pop(day, [])
    if not parts:
        e = np.empty(0, np.int64)
        return e, e, e, e
    row, prod, patience = (np.concatenate(x) for x in zip(*parts, strict=True))
    grp = w.ent.memberships.group[row]
    camp = av.lookup[prod, w.ent.groups.city[grp]]
    ms = w.ent.memberships
    camp[(ms.left_day[row] <= day) | (ms.join_day[row] > day)] = -1  # not (or no longer) a member
    wait = (camp < 0) & (patience > 0)
    if wait.any():
        w.queue.setdefault(day + 1, []).append((row[wait], prod[wait], patience[wait] - 1))
    ok = camp >= 0
    if not w.flat:  # in a lull only a share m of the due re-orders happen (the rest are forgone)
        m = w.m[w.cat[prod]]
        ok &= (m >= 1) | (rng.random(len(prod)) < m)
    row, grp, prod, camp = row[ok], grp[ok], prod[ok], camp[ok]
    # after today's post of the product into the group if there is one, else any time in the window
    pk = grp * len(w.ent.products) + prod
    pos = np.searchsorted(post_keys, pk)
    delay = np.round(rng.exponential(60 * 60, len(pk))).astype(np.int64)
    if len(post_keys):
        at = np.minimum(pos, len(post_keys) - 1)
        posted, after = (pos < len(post_keys)) & (post_keys[at] == pk), post_t[at] + delay
    else:  # no post today (a tiny world): every re-order falls somewhere in the window
        posted, after = np.zeros(len(pk), dtype=bool), delay
    t = np.where(posted & (after <= w.camps.closes_at[camp]), after, day_window(w, day, camp, rng))
    ok = t >= 0
    return row[ok], grp[ok], camp[ok], t[ok]


def pick_members(w: World, grp: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A membership row of the group active at the time (heavy buyers sit at low positions); -1 if none."""
    ms = w.ent.memberships
    day = w.clock.day_of(t)
    row = np.full(len(grp), -1, dtype=np.int64)
    todo = np.arange(len(grp))
    for _ in range(4):
        g = grp[todo]
        idx = ms.start[g] + (w.ent.groups.size[g] * rng.random(len(todo)) ** 1.7).astype(np.int64)
        ok = (ms.join_day[idx] <= day[todo]) & (ms.left_day[idx] > day[todo])
        row[todo[ok]] = idx[ok]
        todo = todo[~ok]
        if not len(todo):
            break
    return row


def enforce_caps(w: World, camp: np.ndarray, t: np.ndarray, qty: np.ndarray) -> np.ndarray:
    """Keep orders of capped campaigns in time order while stock lasts; returns the kept mask."""
    keep = np.ones(len(camp), dtype=bool)
    capped = np.flatnonzero(w.cap_left[camp] < UNCAPPED)
    if not len(capped):
        return keep
    order = capped[np.lexsort((t[capped], camp[capped]))]
    c, q = camp[order], qty[order]
    cum = np.cumsum(q)
    first = np.r_[True, c[1:] != c[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(len(c)), 0))
    before = np.where(group_start > 0, cum[group_start - 1], 0)
    kept = (cum - before) <= w.cap_left[c]
    ids, inv = np.unique(c, return_inverse=True)
    w.cap_left[ids] -= np.bincount(inv, weights=q * kept, minlength=len(ids)).astype(np.int64)
    keep[order] = kept
    return keep


def statuses(w: World, camp: np.ndarray, t: np.ndarray, rng: np.random.Generator):
    """Paid, cancelled (before the cutoff) or refunded (after delivery, if that already happened)."""
    n = len(t)
    c = w.camps
    u = rng.random(n)
    cancel = u < w.cfg.cancel_rate
    refund = ~cancel & (u < w.cfg.cancel_rate + w.refund[w.cat[c.product[camp]]])
    cancel_at = np.minimum(t + 60 + np.round(rng.exponential(2 * 3600, n)).astype(np.int64),
                           np.maximum(c.closes_at[camp], t))
    refund_at = w.clock.at(c.delivery_day[camp], 10.0) + (rng.random(n) * 2 * DAY_S).astype(np.int64)
    refund &= refund_at <= w.end_ts
    status = np.where(cancel, CANCELLED, np.where(refund, REFUNDED, PAID)).astype(np.int8)
    status_at = np.where(cancel, cancel_at, np.where(refund, refund_at, t))
    return status, status_at


def schedule_reorders(w: World, row, prod, t, status, rng: np.random.Generator) -> None:
    cycle = w.ent.products.cycle[prod]
    p = w.cfg.reorder_prob
    if not w.flat:  # what is bought on top of the usual in a surge (stocking up) starts no new cycle
        p = p * np.minimum(1.0, 1.0 / w.m[w.cat[prod]])
    go = (status == PAID) & ~np.isnan(cycle) & (rng.random(len(prod)) < p)
    jitter = np.exp(0.15 * rng.standard_normal(int(go.sum())))
    gap = np.maximum(1, np.round(cycle[go] * jitter)).astype(np.int64)
    due = w.clock.day_of(t[go]) + gap
    keep = due < w.horizon
    r, p, due = row[go][keep], prod[go][keep], due[keep]
    if not len(due):
        return
    order = np.argsort(due, kind="stable")
    r, p, due = r[order], p[order], due[order]
    days, starts = np.unique(due, return_index=True)
    for d, lo, hi in zip(days, starts, np.r_[starts[1:], len(due)], strict=True):
        w.queue.setdefault(int(d), []).append((r[lo:hi], p[lo:hi], np.full(hi - lo, 2)))


def simulate_day(w: World, day: int, rng: np.random.Generator, posts: Events, orders: Events,
                 feedback: Events) -> None:
    w.set_day(day)
    av = w.availability(day)
    p_grp, p_camp, p_t = make_posts(w, day, av, rng)
    lam = post_rates(w, day, p_grp, p_camp)
    set_caps(w, day, p_grp, p_camp, lam, rng)
    n0 = rng.poisson(lam)
    g0, c0 = np.repeat(p_grp, n0), np.repeat(p_camp, n0)
    t0 = booking_times(rng, np.repeat(p_t, n0), w.camps.closes_at[c0])
    gw, cw, tw = word_of_mouth(w, day, av, rng)
    gh, ch, th = herd(w, np.r_[g0, gw], np.r_[c0, cw], np.r_[t0, tw], rng)
    prod_n = len(w.ent.products)
    pkey = p_grp * prod_n + w.camps.product[p_camp]
    order = np.argsort(pkey)
    mr, gr, cr, tr = due_reorders(w, day, av, pkey[order], p_t[order], rng)
    grp = np.concatenate([g0, gw, gh, gr])
    camp = np.concatenate([c0, cw, ch, cr])
    t = np.concatenate([t0, tw, th, tr])
    src = np.repeat(np.array([SRC_POST, SRC_WORD, SRC_HERD, SRC_REORDER], np.int8),
                    [len(g0), len(gw), len(gh), len(gr)])
    row = np.concatenate([pick_members(w, np.r_[g0, gw, gh], t[: len(t) - len(gr)], rng), mr])
    ok = row >= 0
    grp, camp, t, src, row = grp[ok], camp[ok], t[ok], src[ok], row[ok]
    prod = w.camps.product[camp]
    qty = 1 + np.minimum(rng.poisson(w.qty_extra[w.cat[prod]]), 8)
    if not w.flat and (w.m > 1).any():  # stocking up: re-orders in a surge are bigger baskets
        m = np.where(src == SRC_REORDER, w.m[w.cat[prod]], 1.0)
        qty = qty + rng.poisson(np.maximum(m - 1, 0) * qty)
    keep = enforce_caps(w, camp, t, qty)
    grp, camp, t, src, row, prod, qty = (a[keep] for a in (grp, camp, t, src, row, prod, qty))
    status, status_at = statuses(w, camp, t, rng)
    schedule_reorders(w, row, prod, t, status, rng)
    member = w.ent.memberships.member[row]
    by = np.argsort(p_t, kind="stable")
    posts.add(group=p_grp[by].astype(np.int32), campaign=p_camp[by].astype(np.int32), posted_at=p_t[by])
    by = np.argsort(t, kind="stable")
    orders.add(member=member[by].astype(np.int32), group=grp[by].astype(np.int32),
               campaign=camp[by].astype(np.int32), quantity=qty[by].astype(np.int8), ordered_at=t[by],
               status=status[by], status_at=status_at[by], source=src[by])
    feedback_of_day(w, day, av, p_grp, p_camp, p_t, rng, feedback)


def feedback_of_day(w: World, day: int, av: Availability, p_grp: np.ndarray, p_camp: np.ndarray,
                    p_t: np.ndarray, rng: np.random.Generator, feedback: Events) -> None:
    """What shopkeepers tell the API: "posted" for ~1% of posts (just after posting), and "skip" /
    "not_interested" for an offer on sale in the group's warehouse that they did not post."""
    n = min(max(1, len(p_grp) // 100), len(p_grp))
    pick = rng.choice(len(p_grp), n, replace=False) if n else np.empty(0, np.int64)
    action = (rng.random(n) < 0.2).astype(np.int8)  # 0 posted, 1 skip, 2 not_interested
    action[(action == 1) & (rng.random(n) < 0.3)] = 2
    grp = p_grp[pick]
    product = w.camps.product[p_camp[pick]]
    other = av.sample(w.ent.groups.city[grp] * w.n_cat + rng.integers(0, w.n_cat, n), rng.random(n))
    declined = (action > 0) & (other >= 0)
    product = np.where(declined, w.camps.product[np.maximum(other, 0)], product)
    action[(action > 0) & ~declined] = 0
    morning = w.clock.at(day, rng.uniform(7.5, 9.5, n))
    at = np.where(action == 0, p_t[pick] + rng.integers(60, 900, n), morning)
    feedback.add(group=grp, product=product, action=action, at=at)


def burn_in(w: World, rng: np.random.Generator) -> None:
    """Run the first days once and keep only the re-orders they leave pending, shifted to day 0,
    so the window starts in a steady state instead of with an empty re-order queue."""
    days = min(w.cfg.burn_in_days, w.cfg.days)
    if days <= 0:
        return
    w.horizon = w.cfg.days + days
    w.cal_shift = -days  # burn-in day d stands for the date `days` before window day d
    for day in range(days):
        simulate_day(w, day, rng, Events(), Events(), Events())
    w.horizon = w.cfg.days
    w.cal_shift = 0
    w.queue = {d - days: parts for d, parts in w.queue.items() if d >= days}
    w.cap_left[:] = np.where(w.camps.capped, -1, UNCAPPED)
    w.camps.max_qty[:] = -1


def simulate(cfg: WorldConfig, ent: Entities, camps: Campaigns, clock: Clock, rng: np.random.Generator,
             cal: WorldCalendar, progress: bool = False) -> Simulation:
    w = World(cfg, ent, camps, clock, cal)
    burn_in(w, rng)
    posts, orders, feedback = Events(), Events(), Events()
    days = range(cfg.days)
    if progress:
        from tqdm import tqdm

        days = tqdm(days, desc="simulating days", unit="day")
    for day in days:
        simulate_day(w, day, rng, posts, orders, feedback)
    # campaigns capped but never reached by the simulation (no first-day posts): small supply
    unset = camps.capped & (camps.max_qty < 0)
    camps.max_qty[unset] = 2
    i32, i64, i8 = np.int32, np.int64, np.int8
    o = orders.stack({"member": i32, "group": i32, "campaign": i32, "quantity": i8, "ordered_at": i64,
                      "status": i8, "status_at": i64, "source": i8})
    p = posts.stack({"group": i32, "campaign": i32, "posted_at": i64})
    f = feedback.stack({"group": i64, "product": i64, "action": i8, "at": i64})
    _, first = np.unique(np.stack([f["group"], f["product"], f["action"], f["at"]]), axis=1,
                         return_index=True)
    f = {k: v[np.sort(first)] for k, v in f.items()}
    return Simulation(posts=p, orders=o, feedback=f)

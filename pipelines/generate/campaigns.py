"""Pre-sale campaigns: each product on sale gets a window per warehouse and day.

Most campaigns open between 08:00 and 10:00 and close at 23:00 the same day; products flagged
`presale` run 2-4 day windows instead. Delivery is one or two days after the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.generate.calendar import FESTIVALS, WorldCalendar
from pipelines.generate.config import Clock, WorldConfig
from pipelines.generate.entities import Products


@dataclass
class Campaigns:
    product: np.ndarray
    warehouse: np.ndarray  # -1 = every warehouse
    first_day: np.ndarray
    last_day: np.ndarray
    opens_at: np.ndarray  # epoch seconds
    closes_at: np.ndarray
    delivery_day: np.ndarray
    price: np.ndarray
    capped: np.ndarray  # will carry a max_qty
    max_qty: np.ndarray  # -1 = none; filled by the behaviour simulation
    by_day: list[np.ndarray]  # campaign indices active on each day

    def __len__(self) -> int:
        return len(self.product)


def sale_runs(cfg: WorldConfig, products: Products, rng: np.random.Generator, cal: WorldCalendar
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(product, first day, length) of every sale run inside the window; festival-only products
    only on the days of their event's sale phase."""
    days = cfg.days
    daily = np.flatnonzero(~products.presale)
    on = rng.random((len(daily), days)) < products.on_sale_prob[daily, None]
    on &= np.arange(days)[None, :] >= products.launch_day[daily, None]
    window = cal.factors.festival_on[cal.factors.row(0):]
    for event_idx in cal.festivals:
        rows = products.festival[daily] == event_idx
        on[rows] &= window[None, :, FESTIVALS.index(event_idx)]
    p1, d1 = np.nonzero(on)
    pre = np.flatnonzero(products.presale)
    n_runs = days // 3 + 2
    length = rng.integers(2, 5, (len(pre), n_runs))
    gap = rng.geometric(np.clip(products.on_sale_prob[pre, None] * 0.8, 0.1, 0.9), (len(pre), n_runs)) - 1
    first = np.maximum(products.launch_day[pre], 0)[:, None] - rng.integers(0, 6, (len(pre), 1))
    starts = first + np.cumsum(length + gap, axis=1) - (length + gap)
    keep = (starts >= 0) & (starts + length - 1 <= days - 1)
    r, c = np.nonzero(keep)
    product = np.concatenate([daily[p1], pre[r]])
    first_day = np.concatenate([d1, starts[r, c]])
    run_len = np.concatenate([np.ones(len(p1), dtype=np.int64), length[r, c]])
    return product, first_day, run_len


def make_campaigns(cfg: WorldConfig, products: Products, clock: Clock, rng: np.random.Generator,
                   cal: WorldCalendar) -> Campaigns:
    """Campaigns of every sale run; a run starting in a promotion (618, Double 11) is cut in price."""
    product, first_day, run_len = sale_runs(cfg, products, rng, cal)
    n_runs, n_wh = len(product), cfg.n_cities
    # per run: one campaign valid everywhere, or one per warehouse that carries it
    everywhere = rng.random(n_runs) < cfg.null_warehouse_share
    carry = rng.random((n_runs, n_wh)) < 0.8
    carry[np.arange(n_runs), rng.integers(0, n_wh, n_runs)] = True
    carry[everywhere] = False
    r, w = np.nonzero(carry)
    r_all = np.flatnonzero(everywhere)
    run = np.concatenate([r, r_all])
    warehouse = np.concatenate([w, np.full(len(r_all), -1)])
    order = np.lexsort((warehouse, product[run], first_day[run]))
    run, warehouse = run[order], warehouse[order]
    n = len(run)
    discount = rng.uniform(0.8, 1.0, n_runs)
    promo = cal.factors.price_factor[cal.factors.row(first_day)]
    run_price = np.maximum(np.round(products.price[product] * discount * promo, 1), 0.9)
    open_hour = 8 + rng.integers(0, 121, n_runs) / 60
    last_day = first_day + run_len - 1
    delivery_day = last_day + np.where(rng.random(n_runs) < 0.7, 1, 2)
    capped = rng.random(n) < cfg.max_qty_share * np.where(products.is_standard[product[run]], 0.6, 1.8)
    fd, ld = first_day[run], last_day[run]
    # index: which campaigns are active on each day
    span = (ld - fd + 1).astype(np.int64)
    camp = np.repeat(np.arange(n), span)
    day = np.repeat(fd, span) + (np.arange(len(camp)) - np.repeat(np.cumsum(span) - span, span))
    by = np.argsort(day, kind="stable")
    bounds = np.searchsorted(day[by], np.arange(cfg.days + 1))
    by_day = [camp[by][bounds[d]:bounds[d + 1]] for d in range(cfg.days)]
    return Campaigns(
        product=product[run], warehouse=warehouse, first_day=fd, last_day=ld,
        opens_at=clock.at(fd, open_hour[run]), closes_at=clock.at(ld, 23.0),
        delivery_day=delivery_day[run], price=run_price[run], capped=capped,
        max_qty=np.full(n, -1, dtype=np.int64), by_day=by_day,
    )

"""`circlebuy generate`: a deterministic synthetic group-buy world (see README, "The synthetic world").

Writes every contract table into OUT (`<table>.parquet|csv`; with --dirty each table is a folder
`<table>/` with `part-0.<fmt>` and `part-dirty.csv`) and `_truth/` with what the pipeline must
discover: group tastes, price sensitivities, product appeal and re-order cycles, and the calendar's
events (`calendar.json`, `calendar_days.parquet`).
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from common.contract import CATEGORIES
from common.errors import UsageError
from common.home import make_folder
from common.settings import DEFAULT_SEED
from pipelines.generate.behaviour import SRC_HERD, SRC_POST, SRC_REORDER, SRC_WORD, Simulation, simulate
from pipelines.generate.calendar import EVENTS, WorldCalendar, mark_festival_products, world_calendar
from pipelines.generate.campaigns import Campaigns, make_campaigns
from pipelines.generate.config import TZ, Clock, WorldConfig
from pipelines.generate.dirty import DIRTY_FILE, MUTATIONS, Context, dirty_part
from pipelines.generate.entities import Entities, make_entities
from pipelines.generate.writer import Ids, TableSource, table_sources, write_source

__all__ = ["run_generate", "WorldConfig", "build_world", "make_calendar", "resolve_window"]

TRUTH = "_truth"


def make_calendar(cfg: WorldConfig) -> WorldCalendar:
    return world_calendar(cfg.start, cfg.days, min(cfg.burn_in_days, cfg.days), cfg.calendar)


def build_world(cfg: WorldConfig, progress: bool = False) -> tuple[Entities, Campaigns, Simulation, Clock]:
    """Everything in memory, before writing (tests and benchmarks use this directly). The calendar
    is `make_calendar(cfg)`; festival-only products carry their event in `products.festival`."""
    rng = np.random.default_rng(cfg.seed)
    clock = Clock(cfg.start)
    cal = make_calendar(cfg)
    ent = make_entities(cfg, rng)
    mark_festival_products(ent.products, cal, np.random.default_rng([cfg.seed, 3]))
    camps = make_campaigns(cfg, ent.products, clock, rng, cal)
    sim = simulate(cfg, ent, camps, clock, rng, cal, progress=progress)
    return ent, camps, sim, clock


def resolve_window(start: date | None, end: date | None, days: int | None) -> tuple[date, int]:
    """(end, days) from any of --start / --end / --days: start + end derive days, start + days derive
    end; without start, end defaults to yesterday (Asia/Shanghai) and days to 60."""
    if days is not None and days < 1:
        raise UsageError(f"--days must be >= 1; got {days}")
    if start is None:
        return end or (datetime.now(TZ) - timedelta(days=1)).date(), 60 if days is None else days
    if end is not None:
        span = (end - start).days + 1
        if span < 1:
            raise UsageError(f"--start {start} is after --end {end}")
        if days is not None and days != span:
            raise UsageError(f"--start {start}, --end {end} and --days {days} disagree: "
                             f"{start}..{end} is {span} days; give two of the three")
        return end, span
    days = 60 if days is None else days
    return start + timedelta(days=days - 1), days


def run_generate(out: Path, groups: int = 2000, days: int | None = None, end: date | None = None,
                 seed: int = DEFAULT_SEED, dirty: bool = False, fmt: str = "parquet", progress: bool = False,
                 start: date | None = None, calendar: bool = True, products: int | None = None) -> dict:
    """Generate and write the world; returns {"tables": {name: rows}, "seconds": float, "first_day",
    "last_day"} (the window's days, both included).

    The window is `days` days ending on `end` (default yesterday), or starts on `start` (see
    `resolve_window`); `calendar=False` gives a world without annual events; `products` overrides
    the catalogue size derived from `groups`."""
    t0 = time.perf_counter()
    if fmt not in ("parquet", "csv"):
        raise UsageError(f"--format: expected 'parquet' or 'csv'; got {fmt!r}")
    if groups < 1 or (days is not None and days < 1):
        raise UsageError(f"--groups and --days must be >= 1; got groups={groups}, days={days}")
    if products is not None and products < 1:
        raise UsageError(f"--products must be >= 1; got {products}")
    end, days = resolve_window(start, end, days)
    cfg = WorldConfig(groups=groups, days=days, end=end, seed=seed, dirty=dirty, fmt=fmt, calendar=calendar,
                      products=products)
    out = make_folder(Path(out), "--out")  # before the simulation: a wrong --out fails at once
    ent, camps, sim, clock = build_world(cfg, progress=progress)
    shutil.rmtree(out / TRUTH, ignore_errors=True)  # no stale truth (e.g. dirty rows) from a previous run
    ids = Ids({"supplier": len(ent.suppliers.category), "product": len(ent.products),
               "shopkeeper": len(ent.shopkeepers.tier), "group": len(ent.groups),
               "member": ent.memberships.n_members, "campaign": len(camps), "post": len(sim.posts["group"]),
               "order": len(sim.orders["group"]), "feedback": len(sim.feedback["group"]), "warehouse": 100})
    sources = table_sources(ent, camps, sim, clock, ids)
    counts = write_tables(out, sources, cfg, ids, camps, sim)
    write_truth(out / TRUTH, cfg, ent, sim, counts, ids)
    write_calendar_truth(out / TRUTH, cfg, ent, ids)
    return {"tables": counts, "seconds": round(time.perf_counter() - t0, 3),
            "first_day": end - timedelta(days=days - 1), "last_day": end}


def clear(path: Path) -> None:
    """Remove a previous version of a table (file or folder) so reruns do not mix formats."""
    for old in (path.with_suffix(".parquet"), path.with_suffix(".csv")):
        old.unlink(missing_ok=True)
    if path.is_dir():
        shutil.rmtree(path)


def write_tables(out: Path, sources: list[TableSource], cfg: WorldConfig, ids: Ids, camps: Campaigns,
                 sim: Simulation) -> dict[str, int]:
    """Write every table; rows counted are data rows in all files of the table."""
    counts: dict[str, int] = {}
    truth, dups = [], []
    ctx = Context(ids=ids, counts=ids.counts,
                  order_opens_at=lambda idx: camps.opens_at[sim.orders["campaign"][idx]])
    rng = np.random.default_rng([cfg.seed, 1])
    for src in sources:
        clear(out / src.name)
        if cfg.dirty and src.name in MUTATIONS:
            part = dirty_part(src, cfg.dirty_per_rule, ctx, rng)
            folder = out / src.name
            folder.mkdir(parents=True, exist_ok=True)
            clean = write_source(folder / f"part-0.{cfg.fmt}", src, cfg.fmt, rows=src.rows - part.moved)
            part.frame.write_csv(folder / DIRTY_FILE)
            counts[src.name] = clean + len(part.frame)
            truth.append(part.truth)
            dups.append({"table": src.name, "count": part.duplicates})
        else:
            counts[src.name] = write_source(out / f"{src.name}.{cfg.fmt}", src, cfg.fmt)
    if cfg.dirty:
        (out / TRUTH).mkdir(parents=True, exist_ok=True)
        pl.concat(truth).write_csv(out / TRUTH / "dirty_rows.csv")
        pl.DataFrame(dups, schema={"table": pl.String, "count": pl.Int64}).write_csv(
            out / TRUTH / "dirty_duplicates.csv")
    return counts


def write_truth(folder: Path, cfg: WorldConfig, ent: Entities, sim: Simulation, counts: dict[str, int],
                ids: Ids) -> None:
    """What the generator knows and the pipeline must discover."""
    folder.mkdir(parents=True, exist_ok=True)
    g, p = ent.groups, ent.products
    n_g, n_c = len(g), len(CATEGORIES)
    gid = ids.make("group", np.arange(n_g))
    pl.DataFrame({
        "group_id": gid.gather(np.repeat(np.arange(n_g), n_c)),
        "category": np.tile(np.array(CATEGORIES), n_g),
        "affinity": g.taste.reshape(-1).round(6),
    }).write_parquet(folder / "group_taste.parquet")
    pl.DataFrame([
        gid, pl.Series("price_sensitivity", g.price_sensitivity.round(6)),
        pl.Series("herd", g.herd.round(6)), pl.Series("activity", g.activity.round(6)),
        pl.Series("posts_per_day", g.posts_mean), pl.Series("size", g.size),
        pl.Series("tier", np.array(["a", "b", "c"])[ent.shopkeepers.tier[g.shopkeeper]]),
    ]).write_parquet(folder / "groups.parquet")
    pl.DataFrame([
        ids.make("product", np.arange(len(p))), pl.Series("appeal", p.appeal.round(6)),
        pl.Series("reorder_cycle_days", p.cycle, nan_to_null=True),
        pl.Series("category", np.array(CATEGORIES)[p.category]), pl.Series("presale", p.presale),
        pl.Series("on_sale_prob", p.on_sale_prob.round(6)),
        pl.Series("festival", [EVENTS[k].name if k >= 0 else None for k in p.festival], dtype=pl.String),
    ]).write_parquet(folder / "product_appeal.parquet")
    src = np.bincount(sim.orders["source"].astype(np.int64), minlength=4)
    names = {SRC_POST: "after_post", SRC_HERD: "herd", SRC_WORD: "word_of_mouth", SRC_REORDER: "reorder"}
    world = {
        "config": cfg.to_json(),
        "counts": {**counts, "members": ent.memberships.n_members},
        "order_lines_by_source": {names[k]: int(src[k]) for k in names},
        "warehouses": {f"w{k + 1:02d}": c for k, c in enumerate(cfg_cities(cfg))},
    }
    (folder / "world.json").write_text(json.dumps(world, indent=2, sort_keys=True, default=str) + "\n")


def write_calendar_truth(folder: Path, cfg: WorldConfig, ent: Entities, ids: Ids) -> None:
    """`calendar.json`: every event with a phase in the burn-in or the window (phases with their
    dates and factors, festival-only product ids); `calendar_days.parquet`: the factors of each
    day (date, category, demand_mult, post_mult, price_factor; burn-in days included). Nothing
    when the calendar is off."""
    if not cfg.calendar:
        return
    cal = make_calendar(cfg)
    fest = ent.products.festival
    events = []
    for occ in cal.occurrences:
        e = occ.event
        k = EVENTS.index(e)
        phases = []
        for ph in e.phases:
            a, b = occ.phase_dates(ph)
            phases.append({"name": ph.name, "first": a.isoformat(), "last": b.isoformat(),
                           "category_mult": dict(zip(CATEGORIES, ph.category_mult, strict=True)),
                           "post_mult": ph.post_mult, "price_factor": ph.price_factor})
        item = {"name": e.name, "label": e.label, "date": occ.day.isoformat(), "phases": phases}
        if e.festival is not None:
            item["festival"] = {"item": e.festival.item, "categories": list(e.festival.categories),
                                "appeal_mult": e.festival.appeal,
                                "product_ids": ids.make("product", np.flatnonzero(fest == k)).to_list()}
        events.append(item)
    doc = {"window": {"start": cfg.start.isoformat(), "end": cfg.end.isoformat(),
                      "burn_in_start": cfg.burn_in_start.isoformat()}, "events": events}
    (folder / "calendar.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    f = cal.factors
    n, n_c = len(f.post_mult), len(CATEGORIES)
    day0 = cfg.start + timedelta(days=f.lo)
    pl.DataFrame({
        "date": pl.date_range(day0, day0 + timedelta(days=n - 1), eager=True).gather(
            np.repeat(np.arange(n), n_c)),
        "category": np.tile(np.array(CATEGORIES), n),
        "demand_mult": f.category_mult.reshape(-1).round(6),
        "post_mult": np.repeat(f.post_mult, n_c).round(6),
        "price_factor": np.repeat(f.price_factor, n_c).round(6),
    }).write_parquet(folder / "calendar_days.parquet")


def cfg_cities(cfg: WorldConfig) -> list[str]:
    from pipelines.generate.config import CITIES

    return list(CITIES[: cfg.n_cities])

"""Turn the simulation's arrays into contract tables and write them (Parquet or CSV, in chunks).

Ids become strings only here ("g000123", "p00042", ...). Each table is a `TableSource`: a row
count and a function building any slice of rows as a typed polars frame, so large tables are
built column by column from numpy (ids gathered from per-kind tables) and written in chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from common.contract import (
    CATEGORIES,
    FEEDBACK_ACTIONS,
    GROUP_KINDS,
    ORDER_STATUSES,
    SHOPKEEPER_TIERS,
    TABLES,
)
from pipelines.generate.behaviour import Simulation
from pipelines.generate.calendar import EVENTS
from pipelines.generate.campaigns import Campaigns
from pipelines.generate.config import CATEGORY_PROFILES, CITIES, Clock
from pipelines.generate.entities import NEVER, Entities

PARQUET_COMPRESSION = "snappy"
CHUNK_ROWS = 1_000_000
TS_FORMAT = "%Y-%m-%dT%H:%M:%S%:z"
DATE_FORMAT = "%Y-%m-%d"
ID_PREFIX = {"supplier": "s", "product": "p", "shopkeeper": "k", "group": "g", "member": "m",
             "campaign": "c", "post": "t", "order": "o", "feedback": "f", "warehouse": "w"}
ID_MIN_WIDTH = {"supplier": 4, "product": 5, "shopkeeper": 5, "group": 6, "member": 7, "campaign": 7,
                "post": 8, "order": 9, "feedback": 7, "warehouse": 2}


@dataclass
class TableSource:
    name: str
    rows: int
    build: Callable[[int, int], pl.DataFrame]  # rows [lo, hi) as a typed frame in contract order


class Ids:
    """String ids of every entity kind; widths fixed by the entity counts. Built once per kind and
    gathered, which is much faster than formatting millions of numbers per column."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = dict(counts)
        self.width = {k: max(ID_MIN_WIDTH[k], len(str(max(n - 1, 0)))) for k, n in counts.items()}
        self._tables: dict[str, pl.Series] = {}

    def table(self, kind: str) -> pl.Series:
        if kind not in self._tables:
            n = pl.Series(np.arange(self.counts[kind], dtype=np.int64))
            self._tables[kind] = pl.select(
                pl.lit(ID_PREFIX[kind]) + n.cast(pl.String).str.zfill(self.width[kind])).to_series()
        return self._tables[kind]

    def make(self, kind: str, values: np.ndarray, name: str | None = None) -> pl.Series:
        """Id strings of dense integer ids; negative values become null."""
        v = np.asarray(values, dtype=np.int64)
        idx = pl.Series(v)
        missing = v < 0
        if missing.any():
            idx = idx.set(pl.Series(missing), None)
        return self.table(kind).gather(idx).alias(name or f"{kind}_id")

    def text(self, kind: str, value: int) -> str:
        return f"{ID_PREFIX[kind]}{value:0{self.width[kind]}d}"


def ts(name: str, seconds: np.ndarray) -> pl.Series:
    """Epoch seconds to a tz-aware Asia/Shanghai timestamp column."""
    return pl.Series(name, np.asarray(seconds, dtype=np.int64) * 1_000_000).cast(
        TABLES["orders"].polars_schema()["ordered_at"])


def dates(name: str, clock: Clock, day: np.ndarray, null_from: int | None = None) -> pl.Series:
    d = np.asarray(day, dtype=np.int64)
    s = pl.Series(name, clock.date_days(d).astype(np.int32)).cast(pl.Date)
    if null_from is not None:
        s = pl.select(pl.when(pl.Series(d) < null_from).then(s)).to_series().alias(name)
    return s


def pick(values: tuple[str, ...], codes: np.ndarray, name: str) -> pl.Series:
    cat = pl.Series(name, list(values), dtype=pl.String)
    return cat.gather(np.asarray(codes, dtype=np.int64))


def typed(table: str, columns: list[pl.Series]) -> pl.DataFrame:
    df = pl.DataFrame(columns)
    return df.select(TABLES[table].column_names).cast(TABLES[table].polars_schema())


# what a product of each subcategory is called in its name (农家蔬菜3号, 品瑞纸巾42号); the
# subcategory column keeps its id (vegetables, paper)
PRODUCT_WORDS: dict[str, str] = {
    "vegetables": "蔬菜", "fruit": "水果", "eggs": "鸡蛋", "meat": "鲜肉", "seafood": "海鲜", "dairy": "牛奶",
    "nuts": "坚果", "biscuits": "饼干", "drinks": "饮料", "candy": "糖果", "dried_fruit": "果干",
    "paper": "纸巾", "detergent": "洗衣液", "kitchen": "厨房用品", "cleaning": "清洁剂", "storage": "收纳盒",
    "diapers": "纸尿裤", "formula": "奶粉", "wipes": "湿巾", "toys": "玩具", "clothing": "童装",
    "skincare": "护肤品", "makeup": "彩妆", "haircare": "洗发水", "fragrance": "香水",
    "vitamins": "维生素", "supplements": "营养品", "herbal_tea": "凉茶", "devices": "健康仪器",
    "tangyuan": "汤圆", "mooncake": "月饼",
}
assert set(PRODUCT_WORDS) == ({s for p in CATEGORY_PROFILES for s in p.subcategories}
                              | {e.festival.item for e in EVENTS if e.festival is not None})


def table_sources(ent: Entities, camps: Campaigns, sim: Simulation, clock: Clock, ids: Ids
                  ) -> list[TableSource]:
    """Every contract table of the world, in load order."""
    sp, pr, sk, gr, ms = ent.suppliers, ent.products, ent.shopkeepers, ent.groups, ent.memberships
    po, od, fb = sim.posts, sim.orders, sim.feedback
    subcats = [p.subcategories for p in CATEGORY_PROFILES]
    trade = np.array(["农产品", "食品", "日用品", "母婴用品", "化妆品", "健康产品"], dtype=object)

    def suppliers(lo: int, hi: int) -> pl.DataFrame:
        i = np.arange(lo, hi)
        names = [f"{b}{t}有限公司" for b, t in zip(sp.brand[i], trade[sp.category[i]], strict=True)]
        return typed("suppliers", [ids.make("supplier", i), pl.Series("name", names, dtype=pl.String)])

    def products(lo: int, hi: int) -> pl.DataFrame:
        i = np.arange(lo, hi)
        sub = np.array([subcats[c][s] for c, s in zip(pr.category[i], pr.subcategory[i], strict=True)],
                       dtype=object)
        fest = pr.festival[i]
        if (fest >= 0).any():  # festival-only products are named after their item (tangyuan, mooncake)
            sub[fest >= 0] = [EVENTS[k].festival.item for k in fest[fest >= 0]]
        maker = np.where(pr.brand[i] == None, "农家", pr.brand[i])  # noqa: E711 (object array)
        names = [f"{m}{PRODUCT_WORDS[s]}{k % 97 + 1}号" for m, s, k in zip(maker, sub, i, strict=True)]
        return typed("products", [
            ids.make("product", i), ids.make("supplier", pr.supplier[i]),
            pl.Series("name", names, dtype=pl.String), pick(CATEGORIES, pr.category[i], "category"),
            pl.Series("subcategory", sub.tolist(), dtype=pl.String),
            pl.Series("brand", pr.brand[i].tolist(), dtype=pl.String),
            pl.Series("price", pr.price[i]), pl.Series("cost", pr.cost[i]),
            pl.Series("is_standard", pr.is_standard[i]), dates("launched_on", clock, pr.launch_day[i]),
        ])

    def shopkeepers(lo: int, hi: int) -> pl.DataFrame:
        i = np.arange(lo, hi)
        return typed("shopkeepers", [
            ids.make("shopkeeper", i), dates("joined_on", clock, sk.join_day[i]),
            pick(SHOPKEEPER_TIERS, sk.tier[i], "tier"),
            ids.make("shopkeeper", sk.invited_by[i], "invited_by"),
        ])

    def groups(lo: int, hi: int) -> pl.DataFrame:
        i = np.arange(lo, hi)
        return typed("groups", [
            ids.make("group", i), ids.make("shopkeeper", gr.shopkeeper[i]), pick(CITIES, gr.city[i], "city"),
            ids.make("warehouse", gr.city[i] + 1), pick(GROUP_KINDS, gr.kind[i], "kind"),
            dates("created_on", clock, gr.created_day[i]),
            pl.Series("name", gr.name[i].tolist(), dtype=pl.String),
        ])

    def memberships(lo: int, hi: int) -> pl.DataFrame:
        return typed("memberships", [
            ids.make("member", ms.member[lo:hi]), ids.make("group", ms.group[lo:hi]),
            dates("joined_on", clock, ms.join_day[lo:hi]), dates("left_on", clock, ms.left_day[lo:hi], NEVER),
        ])

    def campaigns(lo: int, hi: int) -> pl.DataFrame:
        i = np.arange(lo, hi)
        wh = camps.warehouse[i]
        return typed("campaigns", [
            ids.make("campaign", i), ids.make("product", camps.product[i]),
            pl.Series("price", camps.price[i]),
            ts("opens_at", camps.opens_at[i]), ts("closes_at", camps.closes_at[i]),
            dates("delivery_on", clock, camps.delivery_day[i]),
            ids.make("warehouse", np.where(wh < 0, -1, wh + 1)),
            pl.Series("max_qty", camps.max_qty[i]).set(pl.Series(camps.max_qty[i] < 0), None),
        ])

    def seq(kind: str, lo: int, hi: int) -> pl.Series:
        """Sequential ids formatted per slice (not cached: posts and orders run to millions)."""
        n = pl.Series(np.arange(lo, hi, dtype=np.int64))
        return pl.select(pl.lit(ID_PREFIX[kind]) + n.cast(pl.String).str.zfill(ids.width[kind])).to_series()

    def posts(lo: int, hi: int) -> pl.DataFrame:
        camp = po["campaign"][lo:hi]
        return typed("posts", [
            seq("post", lo, hi).alias("post_id"), ids.make("group", po["group"][lo:hi]),
            ids.make("product", camps.product[camp]), ids.make("campaign", camp),
            ts("posted_at", po["posted_at"][lo:hi]),
        ])

    def orders(lo: int, hi: int) -> pl.DataFrame:
        camp = od["campaign"][lo:hi]
        return typed("orders", [
            seq("order", lo, hi).alias("order_id"), ids.make("member", od["member"][lo:hi]),
            ids.make("group", od["group"][lo:hi]), ids.make("product", camps.product[camp]),
            ids.make("campaign", camp), pl.Series("quantity", od["quantity"][lo:hi].astype(np.int64)),
            pl.Series("unit_price", camps.price[camp]), ts("ordered_at", od["ordered_at"][lo:hi]),
            pick(ORDER_STATUSES, od["status"][lo:hi], "status"), ts("status_at", od["status_at"][lo:hi]),
        ])

    def feedback(lo: int, hi: int) -> pl.DataFrame:
        return typed("feedback", [
            ids.make("feedback", np.arange(lo, hi)), ids.make("group", fb["group"][lo:hi]),
            ids.make("product", fb["product"][lo:hi]), pick(FEEDBACK_ACTIONS, fb["action"][lo:hi], "action"),
            ts("at", fb["at"][lo:hi]),
        ])

    return [
        TableSource("suppliers", len(sp.category), suppliers),
        TableSource("products", len(pr), products),
        TableSource("shopkeepers", len(sk.tier), shopkeepers),
        TableSource("groups", len(gr), groups),
        TableSource("memberships", len(ms.member), memberships),
        TableSource("campaigns", len(camps), campaigns),
        TableSource("posts", len(po["group"]), posts),
        TableSource("orders", len(od["group"]), orders),
        TableSource("feedback", len(fb["group"]), feedback),
    ]


def write_source(path: Path, src: TableSource, fmt: str, rows: int | None = None) -> int:
    """Write the first `rows` (default all) rows of a table into one file, chunk by chunk."""
    n = src.rows if rows is None else rows
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = (src.build(lo, min(lo + CHUNK_ROWS, n)) for lo in range(0, max(n, 1), CHUNK_ROWS))
    if fmt == "csv":
        with open(path, "wb") as f:
            for k, df in enumerate(chunks):
                df.write_csv(f, include_header=k == 0, datetime_format=TS_FORMAT, date_format=DATE_FORMAT)
        return n
    writer = None
    try:
        for df in chunks:
            table = df.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression=PARQUET_COMPRESSION)
            writer.write_table(table, row_group_size=CHUNK_ROWS)
    finally:
        if writer is not None:
            writer.close()
    return n


def to_text(df: pl.DataFrame) -> pl.DataFrame:
    """Every column as text, formatted as the CSV writer formats it (nulls stay null)."""
    out = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            out.append(col.dt.strftime(TS_FORMAT))
        elif dtype == pl.Date:
            out.append(col.dt.strftime(DATE_FORMAT))
        elif dtype == pl.Boolean:
            out.append(pl.when(col).then(pl.lit("true")).when(~col).then(pl.lit("false")).alias(name))
        else:
            out.append(col.cast(pl.String))
    return df.select(out)

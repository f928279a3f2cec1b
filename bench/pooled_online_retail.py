"""Online Retail with its customers pooled into ~120 large groups: the shape of a platform with a
hundred-odd large neighbourhood circles, where each group orders dozens of products a week.

The raw folder written by `circlebuy import online-retail` is rewritten: customers of every country
but the UK become one group per country; UK customers are pooled into 80 groups either at random
(`--by random`: customer number mod 80, so every group orders like the platform) or by taste
(`--by taste`: k-means of their baskets before 2011-06-01, so a group's own history differs from the
platform's; customers first seen later go to 10 groups by number). Orders without a customer stay
without a group (the ingest quarantines them, as it does for the per-customer import).

    circlebuy import online-retail ../shared/data/online-retail/online_retail.parquet --out /tmp/or2/raw
    PYTHONPATH=$PWD .venv/bin/python -m bench.pooled_online_retail --raw /tmp/or2/raw \
        --out /tmp/orbig/raw --by random
    circlebuy ingest /tmp/orbig/raw --home /tmp/orbig/home --now 2011-12-31
"""

from __future__ import annotations

import argparse
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

UK = "wh-united-kingdom"
UK_GROUPS = 80
TASTE_UNTIL = date(2011, 6, 1)


def random_pools(groups: pl.DataFrame, orders: pl.DataFrame) -> pl.DataFrame:
    """group_id -> pool id: UK customers by customer number mod 80."""
    number = pl.col("group_id").str.slice(1).cast(pl.Int64)  # c<customer number>: fails loudly otherwise
    return groups.filter(pl.col("warehouse_id") == UK).select(
        "group_id", pool=pl.format("g-uk-{}", number % UK_GROUPS))


def taste_pools(groups: pl.DataFrame, orders: pl.DataFrame) -> pl.DataFrame:
    """group_id -> pool id: UK customers by k-means of their (binary) baskets before TASTE_UNTIL."""
    from scipy.sparse import csr_matrix
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    uk = groups.filter(pl.col("warehouse_id") == UK).select("group_id")
    pairs = (orders.join(uk, on="group_id").filter(pl.col("ordered_at").dt.date() < TASTE_UNTIL)
             .select("group_id", "product_id").unique())
    g_ids, g_idx = np.unique(pairs["group_id"].to_numpy(), return_inverse=True)
    _, i_idx = np.unique(pairs["product_id"].to_numpy(), return_inverse=True)
    x = csr_matrix((np.ones(pairs.height), (g_idx, i_idx)))
    embedded = normalize(TruncatedSVD(24, random_state=0).fit_transform(normalize(x)))
    labels = KMeans(UK_GROUPS, n_init=4, random_state=0).fit_predict(embedded)
    clustered = pl.DataFrame({"group_id": g_ids, "pool": [f"g-uk-{c}" for c in labels]})
    number = pl.col("group_id").str.slice(1).cast(pl.Int64)  # c<customer number>: fails loudly otherwise
    late = uk.join(clustered, on="group_id", how="anti").select(
        "group_id", pool=pl.format("g-uk-late-{}", number % 10))
    return pl.concat([clustered, late])


def pool(raw: Path, out: Path, by: str) -> int:
    """Write the pooled raw folder; the number of groups."""
    if out.resolve() == raw.resolve():
        raise SystemExit(f"--out {out} is the import's own folder; write the pooled copy elsewhere")
    out.mkdir(parents=True, exist_ok=True)
    groups = pl.read_parquet(raw / "groups.parquet")
    orders = pl.read_parquet(raw / "orders.parquet")
    uk = (taste_pools if by == "taste" else random_pools)(groups, orders)
    abroad = groups.filter(pl.col("warehouse_id") != UK).select(
        "group_id", pool=pl.format("g-{}", pl.col("warehouse_id").str.slice(3)))
    mapping = pl.concat([uk, abroad])
    pooled = (groups.join(mapping, on="group_id")
              .group_by("pool").agg(pl.col("city", "warehouse_id", "kind", "name").first(),
                                    pl.col("created_on").min())
              .rename({"pool": "group_id"})
              .with_columns(shopkeeper_id=pl.format("s-{}", pl.col("group_id")))
              .select("group_id", "shopkeeper_id", "city", "warehouse_id", "kind", "created_on", "name")
              .sort("group_id"))
    pooled.write_parquet(out / "groups.parquet")
    pooled.select("shopkeeper_id", joined_on="created_on", tier=pl.lit(None, pl.String),
                  invited_by=pl.lit(None, pl.String)).write_parquet(out / "shopkeepers.parquet")

    def repooled(frame: pl.DataFrame, how: str) -> pl.DataFrame:
        return (frame.join(mapping, on="group_id", how=how).drop("group_id")
                .rename({"pool": "group_id"}).select(frame.columns))

    repooled(pl.read_parquet(raw / "memberships.parquet"), "inner").write_parquet(out / "memberships.parquet")
    repooled(orders, "left").write_parquet(out / "orders.parquet")
    for table in ("products", "suppliers"):
        shutil.copy(raw / f"{table}.parquet", out / f"{table}.parquet")
    return pooled.height


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, default=Path("/tmp/or2/raw"),
                    help="the folder circlebuy import online-retail wrote")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--by", choices=("random", "taste"), default="random")
    args = ap.parse_args()
    print(f"{pool(args.raw, args.out, args.by)} groups written to {args.out}")


if __name__ == "__main__":
    main()

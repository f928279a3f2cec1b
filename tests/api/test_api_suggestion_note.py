"""A suggestion well under the P50 (a thin margin on an uncertain total) says why, in the download and
on the supplier page, in both languages; an ordinary suggestion carries no note."""

from __future__ import annotations

import polars as pl

from api.snapshot import with_suggestion_note
from tests.api.conftest import csv_rows, supplier_serving
from tests.api.world import small_world


def notes(demand: pl.DataFrame) -> dict[str, str | None]:
    out = with_suggestion_note(demand)
    return dict(zip(out["product_id"], out["suggestion_note"], strict=True))


def row(pid: str, qty: int, p50: float, ratio: float | None = 0.22) -> dict:
    return {"product_id": pid, "suggested_qty": qty, "forecast_p10": 0.4, "forecast_p50": p50,
            "forecast_p90": 3 * p50, "critical_ratio": ratio, "expected_fill_rate": 0.11,
            "method": "bottom_up", "max_qty": None}


def test_a_suggestion_under_half_the_median_says_why():
    got = notes(pl.DataFrame([row("far", 1, 27.2), row("near", 20, 27.2), row("small", 1, 3.0),
                              row("zero", 0, 14.5), row("no_ratio", 1, 27.2, None)]))
    assert got["far"] == ("suggests 1 against a P50 of 27.2: critical ratio 0.22 (margin / price) means "
                          "preparing the forecast's 22% quantile (P10 0.4): with this margin an unsold unit "
                          "costs more than a missed sale earns; expected fill rate 11%; method bottom_up")
    assert got["near"] is None  # at least half the median: nothing to explain
    assert got["small"] is None  # a P50 of 3 units: a suggestion of 1 needs no note
    assert got["zero"].startswith("suggests 0 although P50 is 14.5")  # the zero note is unchanged
    assert got["no_ratio"] is None


def test_the_supplier_page_and_csv_carry_the_low_suggestion_note(tmp_path) -> None:
    world = small_world()
    p2 = pl.col("product_id") == "P2"
    world["demand"] = world["demand"].with_columns(
        pl.when(p2).then(40.0).otherwise("forecast_p50").alias("forecast_p50"),
        pl.when(p2).then(90.0).otherwise("forecast_p90").alias("forecast_p90"),
        pl.when(p2).then(2).otherwise("suggested_qty").alias("suggested_qty"),
        pl.when(p2).then(0.2).otherwise(0.8).alias("critical_ratio"),
    )
    with supplier_serving(tmp_path / "h", world, "r-low") as (client, key):
        note = csv_rows(client, key)["P2"]["suggestion_note"]
        assert note.startswith("suggests 2 against a P50 of 40.0: critical ratio 0.2 (margin / price)")
        client.post("/login", data={"key": key})
        page = client.get("/supplier").text  # Chinese by default
        assert "P50 是 40.0，建议备货 2：临界比 0.20（毛利 / 售价）" in page
        page = client.get("/supplier?lang=en").text
        assert "Suggests 2 against a P50 of 40.0: critical ratio 0.20 (margin / price)" in page

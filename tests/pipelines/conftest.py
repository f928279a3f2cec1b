"""Shared fixtures for pipelines tests: a tiny, valid raw world and a writer for RAW folders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from common.contract import TABLES

TINY_END = date(2026, 1, 10)  # the tiny world's last day: ingest it with run_date=TINY_END
SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=SH)


def build_tiny_tables() -> dict[str, pl.DataFrame]:
    """Every contract table, a few rows each, all valid and consistent (foreign keys, windows)."""
    rows: dict[str, list[tuple]] = {
        "suppliers": [("S1", "Fresh Farm"), ("S2", "Snack Co")],
        "products": [
            ("P1", "S1", "Eggs 30", "fresh", "eggs", "Farm", 19.9, 12.0, True, date(2025, 6, 1)),
            ("P2", "S1", "Milk 1L", "fresh", "dairy", None, 9.5, None, True, date(2025, 6, 1)),
            ("P3", "S2", "Chips", "snacks", None, "Crunch", 6.0, 3.0, True, date(2025, 9, 1)),
            ("P4", "S2", "Gift box", "snacks", None, None, 88.0, 40.0, False, date(2025, 12, 1)),
        ],
        "shopkeepers": [("K1", date(2025, 1, 1), "a", None), ("K2", date(2025, 3, 1), "b", "K1")],
        "groups": [
            ("G1", "K1", "Hangzhou", "W1", "hot_items", date(2025, 2, 1), "杭州西湖宝妈团"),
            ("G2", "K1", "Hangzhou", "W1", "deals", date(2025, 2, 2), "滨江特价群"),
            ("G3", "K2", "Ningbo", "W2", None, date(2025, 4, 1), None),  # no name: pages show the id
        ],
        "memberships": [
            ("M1", "G1", date(2025, 2, 1), None), ("M2", "G1", date(2025, 2, 3), None),
            ("M3", "G2", date(2025, 2, 5), None), ("M4", "G2", date(2025, 2, 6), date(2025, 12, 1)),
            ("M5", "G3", date(2025, 4, 2), None), ("M1", "G3", date(2025, 5, 1), None),
        ],
        "campaigns": [
            ("C1", "P1", 18.9, at(8, 8), at(8, 23), date(2026, 1, 9), "W1", 500),
            ("C2", "P2", 9.0, at(9, 8), at(9, 23), date(2026, 1, 10), None, None),
            ("C3", "P3", 5.5, at(9, 8), at(10, 23), date(2026, 1, 11), "W2", 200),
        ],
        "posts": [
            ("X1", "G1", "P1", "C1", at(8, 9)), ("X2", "G2", "P2", "C2", at(9, 9)),
            ("X3", "G3", "P3", "C3", at(9, 10)), ("X4", "G1", "P4", None, at(10, 9)),
        ],
        "orders": [
            ("O1", "M1", "G1", "P1", "C1", 2, 18.9, at(8, 10), "paid", None),
            ("O2", "M2", "G1", "P1", "C1", 1, 18.9, at(8, 12), "paid", None),
            ("O3", "M3", "G2", "P2", "C2", 3, 9.0, at(9, 10), "paid", None),
            ("O4", "M4", "G2", "P2", "C2", 1, 9.0, at(9, 11), "cancelled", at(9, 15)),
            ("O5", "M5", "G3", "P3", "C3", 4, 5.5, at(9, 12), "paid", None),
            ("O6", "M1", "G3", "P3", "C3", 1, 5.5, at(10, 9), "paid", None),
            ("O7", "M1", "G1", "P4", None, 1, 88.0, at(10, 10), "paid", None),
            ("O8", "M2", "G1", "P2", None, 2, 9.5, at(10, 11), "refunded", at(10, 20)),
        ],
        "feedback": [("F1", "G1", "P4", "posted", at(10, 9)), (None, "G2", "P3", "skip", at(10, 8))],
    }
    return {
        name: pl.DataFrame(data, schema=TABLES[name].polars_schema(), orient="row")
        for name, data in rows.items()
    }


def write_raw_folder(root: Path, tables: dict[str, pl.DataFrame], fmt: str = "parquet") -> Path:
    """Write `<table>.<fmt>` per table into root (created); a frame of strings writes CSV text as is."""
    root.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if fmt == "csv":
            frame.write_csv(root / f"{name}.csv")
        else:
            frame.write_parquet(root / f"{name}.parquet")
    return root


@pytest.fixture
def tiny_tables() -> dict[str, pl.DataFrame]:
    """A fresh copy of the tiny valid world (see TINY_END for its last day)."""
    return build_tiny_tables()


@pytest.fixture
def write_raw() -> Callable[..., Path]:
    """write_raw(root, tables, fmt="parquet") -> root."""
    return write_raw_folder


NIGHTLY_STAGES = ["ingest", "load", "train", "picks", "forecast", "evaluate", "report", "publish"]


def two_picks(ctx, slot: str = "regular") -> pl.DataFrame:
    """A small pick list with the vintage's columns, for the run's date."""
    return pl.DataFrame({"group_id": ["g1", "g2"], "for_date": [ctx.config.run_date] * 2, "rank": [1, 1],
                         "product_id": ["p1", "p2"], "slot": [slot] * 2, "model_version": ["fake"] * 2})


def picks_and_demand_stand_in(name: str, picks_of: Callable = two_picks):
    """A stand-in stage: `picks` writes `picks_of(ctx)` as the run's pick list, `forecast` a one-row
    demand; every other stage does nothing."""
    def fn(ctx):
        if name == "picks":
            ctx.picks = picks_of(ctx)
            ctx.writer.write_frame("picks", ctx.picks)
        if name == "forecast":
            ctx.demand = pl.DataFrame({"product_id": ["p1"], "forecast_p50": [3.0]})
            ctx.writer.write_frame("demand", ctx.demand)
        return 1, 1
    return fn


def ingest_then_stand_ins(seen: dict):
    """The real ingest and publish; stand-ins for the rest (the report one renders the ingest part)."""
    from pipelines.nightly.stages import stage_ingest, stage_publish
    from pipelines.report import ReportContext, render_report

    def make(name):
        def fn(ctx):
            if name == "picks":
                ctx.picks = pl.DataFrame({"group_id": ["G1"], "for_date": [ctx.config.run_date],
                                          "rank": [1], "product_id": ["P1"], "model_version": ["fake"]})
                ctx.writer.write_frame("picks", ctx.picks)
            if name == "forecast":
                ctx.demand = pl.DataFrame({"product_id": ["P1"], "forecast_p50": [3.0],
                                           "model_version": ["fake"]})
                ctx.writer.write_frame("demand", ctx.demand)
            if name == "report":
                seen["html"] = render_report(ReportContext(
                    run_id=ctx.record.run_id, date=ctx.config.run_date, status="succeeded",
                    model_version="fake", ingest=ctx.ingest))
                ctx.writer.write_text("report.html", seen["html"])
            return 1, 1
        return fn

    real = {"ingest": stage_ingest, "publish": stage_publish}
    return [(n, real.get(n) or make(n)) for n in NIGHTLY_STAGES]


@pytest.fixture()
def stand_ins(monkeypatch):
    """The nightly with the real ingest, report-of-ingest and publish, the rest stand-ins; returns
    what the stand-ins saw (the rendered report under "html")."""
    from pipelines.nightly import runner as runner_mod

    seen: dict = {}
    monkeypatch.setattr(runner_mod, "STAGES", ingest_then_stand_ins(seen))
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    return seen

"""`evaluate --vintages` with experiments: each arm row names its experiment (text, JSON, report), the
verdicts read the served nights (all of them, said as simulated, when none was served), and --json is
strict JSON (a black-box trial, 2026-12-04, got `NaN` 18 times where a control scored 0)."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from pipelines import cli
from pipelines import vintages as vintages_mod
from pipelines.report import ReportContext, render_report
from pipelines.vintages import VINTAGE_SCHEMA, render_vintages, score_vintages

TZ = ZoneInfo("Asia/Shanghai")
D1, D2 = date(2025, 6, 7), date(2025, 6, 8)
EXPERIMENTS = [
    {"name": "exp1", "arms": ["production", "popularity"], "share": 0.5, "running": False,
     "nights": "2025-06-07..2025-06-08"},
    {"name": "exp2", "arms": ["reorder", "popularity"], "share": 1.0, "running": True,
     "nights": "2025-06-07.. (running)"},
]


def _vintages() -> pl.DataFrame:
    rows = []
    for day in (D1, D2):
        for g in range(8):
            exp, arm = (("exp1", ["production", "popularity"][g % 2]) if g < 4
                        else ("exp2", ["reorder", "popularity"][g % 2]))
            rows.append((day, f"g{g}", 1, "p1", "regular", "r", arm, exp, f"run-{day}"))
        rows.append((day, "g9", 1, "p1", "regular", "r", None, None, f"run-{day}"))
    return pl.DataFrame(rows, schema=VINTAGE_SCHEMA, orient="row")


ORDERS = pl.DataFrame({  # only the popularity groups of exp1 (g1, g3) and exp2 (g5, g7) order p1
    "group_id": ["g1", "g3", "g5", "g7"] * 2, "product_id": ["p1"] * 8,
    "ordered_at": [datetime(d.year, d.month, d.day, 10, tzinfo=TZ) for d in (D1, D2) for _ in range(4)],
    "status": ["paid"] * 8})


def test_verdicts_read_the_served_nights_and_say_when_none_was():
    out = score_vintages(_vintages(), ORDERS, None, EXPERIMENTS, served_days={D1: False, D2: True})
    exp1 = out["experiments"][0]
    assert exp1["read"] == "served" and exp1["nights_read"] == [str(D2)]
    assert exp1["nights_left_out"] == [str(D1)]
    assert exp1["lists"] == 8 and exp1["lists_read"] == 4
    never = score_vintages(_vintages(), ORDERS, None, EXPERIMENTS, served_days={D1: False, D2: False})
    assert never["experiments"][0]["read"] == "never served" and never["experiments"][0]["lists_read"] == 8
    text = render_vintages({"from": str(D1), "to": str(D2), "horizon_days": 1, **never})
    assert "  never served: every night of it was a backfill" in text and "simulated" in text


def test_the_night_table_names_the_experiment_of_each_arm_in_text_json_and_report():
    out = score_vintages(_vintages(), ORDERS, None, EXPERIMENTS)
    rows = [(n["for_date"], n["experiment"], n["arm"], n["lists"]) for n in out["nights"]
            if n["for_date"] == str(D1)]
    assert rows == [(str(D1), None, "production", 1), (str(D1), "exp1", "popularity", 2),
                    (str(D1), "exp1", "production", 2), (str(D1), "exp2", "popularity", 2),
                    (str(D1), "exp2", "reorder", 2)]
    text = render_vintages({"from": str(D1), "to": str(D2), "horizon_days": 1, **out}).splitlines()
    assert text[1].split()[:3] == ["night", "arm", "experiment"]
    assert text[2].split()[:4] == [str(D1), "production", "-", "1"]
    assert text[3].split()[:4] == [str(D1), "popularity", "exp1", "2"]
    html = render_report(ReportContext(run_id="r", date=D2, status="succeeded", model_version="fake",
                                       vintages={"from": str(D1), "to": str(D2), "horizon_days": 1, **out}))
    section = html.split('id="vintages"')[1].split("</section>")[0]
    assert "<th>arm</th><th>experiment</th>" in section
    assert f"<td>{D1}</td><td>popularity</td><td>exp2</td>" in section


def test_evaluate_vintages_json_is_strict(monkeypatch, capsys, tmp_path):
    """A control that scored 0 is null in the JSON, and a NaN that slipped in anyway fails loudly."""
    zero = score_vintages(_vintages(), ORDERS, None, EXPERIMENTS)
    (v,) = zero["experiments"][1]["verdicts"]["hit"]  # exp2: control reorder scored 0
    assert v["relative_pct"] is None and "control scored 0; no relative difference" in v["verdict"]
    result = {"from": str(D1), "to": str(D2), "horizon_days": 1, **zero}
    home = tmp_path / "home"
    home.mkdir()
    (home / "warehouse.duckdb").touch()
    monkeypatch.setattr(vintages_mod, "run_vintages", lambda *a, **k: result)
    monkeypatch.setattr(sys, "argv", ["circlebuy", "evaluate", "--vintages", f"{D1}..{D2}", "--home",
                                      str(home), "--json"])
    monkeypatch.setattr(cli, "_warehouse_home", lambda h: h)
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "NaN" not in printed
    json.loads(printed, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    result["experiments"][1]["verdicts"]["hit"][0]["relative_pct"] = float("nan")
    with pytest.raises(SystemExit) as done:
        cli.main()
    assert done.value.code not in (0, None)  # never printed as NaN
    assert "NaN" not in capsys.readouterr().out

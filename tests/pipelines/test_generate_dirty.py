"""`--dirty`: every planted row breaks exactly the one rule the truth file names, and nothing else does.

The checker below is a deliberately small, independent re-statement of the quarantine rules in
common/contract.py, so the generator's truth can be trusted by the ingestion tests.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest

from common.contract import RULES, TABLES
from tests.pipelines.generate_fixtures import SMALL, dirty_world  # noqa: F401

LIMIT = datetime.fromisoformat(f"{SMALL['end'].isoformat()}T23:59:59+08:00")


def parses(kind: str, v: str) -> bool:
    try:
        if kind == "int":
            int(v)
        elif kind == "float":
            float(v)
        elif kind == "bool":
            assert v in ("true", "false")
        elif kind == "date":
            date.fromisoformat(v)
        elif kind == "timestamp":
            assert datetime.fromisoformat(v).tzinfo is not None
        return True
    except (ValueError, AssertionError):
        return False


def clean_rows(raw: Path, table: str) -> pl.DataFrame:
    """The clean part as text, formatted like the dirty part."""
    from pipelines.generate.writer import to_text

    return to_text(pl.read_parquet(raw / table / "part-0.parquet"))


def violations(table: str, row: dict, parents: dict[str, set[str]], clean: dict[str, dict],
               windows: dict[str, tuple[str, str]]) -> set[str]:
    t = TABLES[table]
    found = set()
    for c in t.columns:
        v = row[c.name]
        if v is None or v == "":
            if c.required:
                found.add("null_required")
            continue
        if not parses(c.kind, v):
            found.add("bad_type")
            continue
        if c.allowed and v not in c.allowed:
            found.add("bad_value")
        if c.name == "quantity" and int(v) <= 0:
            found.add("non_positive_quantity")
        if c.name in ("price", "unit_price") and float(v) < 0:
            found.add("negative_price")
        if c.kind == "timestamp" and datetime.fromisoformat(v) > LIMIT:
            found.add("future_timestamp")
    for fk in t.foreign_keys:
        v = row[fk.column]
        if v not in (None, "") and v not in parents[fk.table]:
            found.add("unknown_foreign_key")
    ok = not found
    if table == "campaigns" and ok and datetime.fromisoformat(row["closes_at"]) <= datetime.fromisoformat(
            row["opens_at"]):
        found.add("closes_before_opens")
    if table == "orders" and ok:
        original = clean["orders"].get(row["order_id"])
        if original is not None and original != row:
            found.add("duplicate_id_conflict")
        if row["campaign_id"] and row["campaign_id"] in windows:
            opens, closes = (datetime.fromisoformat(x) for x in windows[row["campaign_id"]])
            if not opens <= datetime.fromisoformat(row["ordered_at"]) <= closes:
                found.add("ordered_outside_campaign")
    return found


@pytest.fixture(scope="module")
def planted(dirty_world):  # noqa: F811
    raw, summary = dirty_world
    truth = pl.read_csv(raw / "_truth" / "dirty_rows.csv", infer_schema=False)
    return raw, summary, truth


def test_every_rule_is_planted_a_known_number_of_times_in_every_table_folder(planted):
    raw, summary, truth = planted
    assert set(truth["rule"]) == set(RULES)
    assert truth.columns == ["table", "source_file", "row_number", "rule"]
    per = truth.group_by("table", "rule").len()
    assert (per["len"] == 5).all()
    for name in TABLES:
        parts = sorted(p.name for p in (raw / name).iterdir())
        assert parts == ["part-0.parquet", "part-dirty.csv"], name
        n = pl.read_parquet(raw / name / "part-0.parquet").height
        dirty = pl.read_csv(raw / name / "part-dirty.csv", infer_schema=False)
        assert dirty.columns == TABLES[name].column_names
        assert summary["tables"][name] == n + dirty.height


def test_each_planted_row_breaks_exactly_its_rule_and_other_rows_break_none(planted):
    raw, _, truth = planted
    clean = {t: clean_rows(raw, t) for t in TABLES}
    dirty = {t: pl.read_csv(raw / t / "part-dirty.csv", infer_schema=False) for t in TABLES}
    expected = {(r["table"], int(r["row_number"])): r["rule"] for r in truth.iter_rows(named=True)}
    # parents: everything loadable (clean part + unlisted rows of the dirty part)
    parents: dict[str, set[str]] = {}
    for t, table in TABLES.items():
        good = dirty[t].with_row_index("n", 1).filter(
            ~pl.col("n").is_in([n for (tt, n) in expected if tt == t]))
        parents[t] = set(clean[t][table.key[0]]) | set(good[table.key[0]])
    by_id = {"orders": {r["order_id"]: r for r in clean["orders"].iter_rows(named=True)}}
    c = clean["campaigns"]
    windows = dict(zip(c["campaign_id"], zip(c["opens_at"], c["closes_at"], strict=True), strict=True))
    checked = 0
    for t in TABLES:
        for n, row in enumerate(dirty[t].iter_rows(named=True), start=1):
            want = {expected[(t, n)]} if (t, n) in expected else set()
            assert violations(t, row, parents, by_id, windows) == want, (t, n, row)
            checked += bool(want)
    assert checked == truth.height


def test_exact_duplicates_are_identical_copies_of_clean_rows(planted):
    raw, _, truth = planted
    dups = dict(pl.read_csv(raw / "_truth" / "dirty_duplicates.csv").iter_rows())
    assert set(dups) == set(TABLES) and dups["orders"] == 10 and sum(dups.values()) > 0
    for t in TABLES:
        clean = clean_rows(raw, t)
        dirty = pl.read_csv(raw / t / "part-dirty.csv", infer_schema=False)
        copies = dirty.join(clean, on=dirty.columns, how="semi", nulls_equal=True)
        assert copies.height == dups[t], t
        planted_rows = set(truth.filter(pl.col("table") == t)["row_number"].cast(pl.Int64))
        assert not planted_rows & set(
            dirty.with_row_index("n", 1).join(clean, on=dirty.columns, how="semi", nulls_equal=True)["n"])

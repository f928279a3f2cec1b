"""Shared tiny worlds for the generator tests (written once per session)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipelines.generate import run_generate

END = date(2026, 10, 31)
SMALL = {"groups": 60, "days": 14, "end": END, "seed": 11}
MEDIUM = {"groups": 150, "days": 42, "end": END, "seed": 5}


def read(raw: Path, table: str) -> pl.DataFrame:
    """A table whether written as one file or as a folder of clean parts (dirty CSV part excluded)."""
    for fmt in ("parquet", "csv"):
        f = raw / f"{table}.{fmt}"
        if f.exists():
            return pl.read_parquet(f) if fmt == "parquet" else pl.read_csv(f, infer_schema=False)
    return pl.read_parquet(raw / table / "part-0.parquet")


@pytest.fixture(scope="session")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("small")
    return out, run_generate(out, dirty=False, fmt="parquet", progress=False, **SMALL)


@pytest.fixture(scope="session")
def medium_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("medium")
    run_generate(out, dirty=False, fmt="parquet", progress=False, **MEDIUM)
    return out


@pytest.fixture(scope="session")
def dirty_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("dirty")
    return out, run_generate(out, dirty=True, fmt="parquet", progress=False, **SMALL)

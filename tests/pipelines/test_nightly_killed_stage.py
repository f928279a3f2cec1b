"""A run killed (kill -9) in the middle of a stage is marked killed by the next run WITH that stage:
the ledger keeps the stage started and not finished, so `failed_stage` can name it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from common.home import Home
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly import runner as runner_mod
from pipelines.nightly.ledger import RunRecord, read_ledger, running_stage_of, write_record
from pipelines.nightly.stages import stage_publish
from pipelines.warehouse import connect
from tests.pipelines.conftest import picks_and_demand_stand_in

STAGE_NAMES = ["ingest", "load", "train", "picks", "forecast", "evaluate", "report", "publish"]
DAY = date(2026, 3, 1)


def stages(die_in: str | None):
    def make(name):
        rest = picks_and_demand_stand_in(
            name, lambda ctx: pl.DataFrame({"group_id": ["g1"], "rank": [1], "model_version": ["fake"]}))

        def fn(ctx):
            if name == die_in:
                os.kill(os.getpid(), signal.SIGKILL)  # no except, no finally: as kill -9 from outside
            return rest(ctx)
        return fn
    return [(n, stage_publish if n == "publish" else make(n)) for n in STAGE_NAMES]


REPO = Path(__file__).resolve().parents[2]
CHILD = """
import sys
from pathlib import Path
from common.home import Home
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly import runner
from tests.pipelines.test_nightly_killed_stage import DAY, stages
runner.STAGES = stages(sys.argv[2])
run_nightly(Home(Path(sys.argv[1])), NightlyConfig(run_date=DAY))
"""


def run_and_die(home: Home, die_in: str) -> int:
    """A nightly in its own process (a fork of a threaded test process can hang) killed in `die_in`."""
    env = {k: v for k, v in os.environ.items() if k != "CIRCLEBUY_FAIL_STAGE"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(home.root), die_in], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    return done.returncode


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    monkeypatch.setattr(runner_mod, "STAGES", stages(None))
    return Home(tmp_path / "home")


def ledger(home: Home) -> pl.DataFrame:
    with connect(home) as con:
        return read_ledger(con)


def test_a_run_killed_in_a_stage_is_marked_killed_in_that_stage(home):
    assert run_and_die(home, "forecast") == -signal.SIGKILL
    dead = ledger(home).row(0, named=True)
    assert dead["status"] == "running"
    finished = json.loads(dead["stages"])
    assert [s["name"] for s in finished] == ["ingest", "load", "train", "picks", "forecast"]
    assert finished[-1] == {"name": "forecast", "status": "running"}
    run_nightly(home, NightlyConfig(run_date=DAY))  # the next run marks it
    dead = ledger(home).filter(pl.col("run_id") == dead["run_id"]).row(0, named=True)
    assert dead["status"] == "killed" and dead["failed_stage"] == "forecast"
    assert "during stage forecast" in dead["error"]
    done = ledger(home).filter(pl.col("status") == "succeeded").row(0, named=True)
    assert not any(s.get("status") == "running" for s in json.loads(done["stages"]))


def test_a_run_killed_between_stages_keeps_failed_stage_empty(home):
    with connect(home) as con:
        write_record(con, RunRecord(run_id="dead", run_date=DAY,
                                    stages=[{"name": "ingest", "seconds": 1.0, "rows_in": 1, "rows_out": 1}]))
    run_nightly(home, NightlyConfig(run_date=DAY))
    dead = ledger(home).filter(pl.col("run_id") == "dead").row(0, named=True)
    assert dead["status"] == "killed" and dead["failed_stage"] is None


def test_the_log_names_the_run_it_marked_killed(home, caplog):
    """"marked 1 earlier run(s) as killed" left the operator to find which run in the ledger."""
    import logging

    with connect(home) as con:
        write_record(con, RunRecord(run_id="dead-2", run_date=DAY,
                                    stages=[{"name": "ingest", "seconds": 1.0, "rows_in": 1, "rows_out": 1},
                                            {"name": "load", "status": "running"}]))
    with caplog.at_level(logging.WARNING):
        run_nightly(home, NightlyConfig(run_date=DAY))
    assert f"marked run dead-2 of {DAY} during stage load as killed in the ledger" in caplog.text


def test_running_stage_of_reads_only_a_started_and_unfinished_stage():
    assert running_stage_of(None) is None and running_stage_of("not json") is None
    assert running_stage_of(json.dumps([{"name": "ingest", "seconds": 1}])) is None
    assert running_stage_of(json.dumps([{"name": "ingest"}, {"name": "load", "status": "running"}])) == "load"

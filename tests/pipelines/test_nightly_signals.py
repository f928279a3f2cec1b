"""A nightly stopped by SIGTERM (a scheduler, `kill`) or SIGINT (Ctrl-C) ends as a failed run that says
so: README promises `nightly --json` prints the run's object "whatever the outcome", and a SIGTERM'd
run printed nothing and stayed `running` in the ledger until the next run marked it killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from common.home import Home
from pipelines.nightly import NightlyConfig, run_nightly
from pipelines.nightly import runner as runner_mod
from pipelines.nightly.ledger import read_ledger
from pipelines.nightly.signals import Terminated, terminate_on_signals
from pipelines.warehouse import connect
from tests.pipelines.conftest import TINY_END, build_tiny_tables, ingest_then_stand_ins, write_raw_folder

REPO = Path(__file__).resolve().parents[2]
# the real CLI (`circlebuy ...`), the real ingest and publish; the train stage says it started, then waits
CHILD = """
import os, sys, time
from pathlib import Path
from pipelines.nightly import runner
from tests.pipelines.conftest import ingest_then_stand_ins

def slow_train(ctx):
    Path(os.environ["TEST_MARKER"]).write_text(str(ctx.config.run_date))
    time.sleep(300)
    return 1, 1

runner.STAGES = [(n, slow_train if n == "train" else fn) for n, fn in ingest_then_stand_ins({})]
from pipelines import cli
sys.argv = ["circlebuy", *sys.argv[1:]]
cli.main()
"""


def signalled(tmp_path: Path, args: list[str], signum: int) -> tuple[int, str, str]:
    """Run `circlebuy ARGS` in its own process, send `signum` once its train stage is running; returns
    (exit status, stdout, stderr)."""
    marker = tmp_path / "train-started"
    env = {k: v for k, v in os.environ.items() if k not in ("CIRCLEBUY_FAIL_STAGE", "CIRCLEBUY_DEBUG")}
    env["TEST_MARKER"] = str(marker)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        child = subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=REPO, env=env,
                                 stdout=stdout, stderr=stderr, text=True)
        try:
            deadline = time.monotonic() + 120
            while not marker.exists():
                assert child.poll() is None, f"the run ended before its train stage: {err.read_text()}"
                assert time.monotonic() < deadline, "the run's train stage never started"
                time.sleep(0.1)
            child.send_signal(signum)
            code = child.wait(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return code, out.read_text(), err.read_text()


def ledger(home: Home) -> pl.DataFrame:
    with connect(home) as con:
        return read_ledger(con)


@pytest.fixture()
def raw(tmp_path):
    return write_raw_folder(tmp_path / "raw", build_tiny_tables())


@pytest.mark.parametrize(("signum", "name"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "SIGINT")])
def test_a_signalled_nightly_json_prints_its_failed_run_and_exits_128_plus_the_signal(tmp_path, raw,
                                                                                      signum, name):
    home = Home(tmp_path / "home")
    code, out, err = signalled(tmp_path, ["nightly", "--date", str(TINY_END), "--raw", str(raw),
                                          "--home", str(home.root), "--json"], signum)
    assert code == 128 + signum, err
    run = json.loads(out)
    assert run["status"] == "failed" and run["run_id"] and run["live"] is False
    assert run["error"] == f"terminated by {name} during stage train"
    assert [s["name"] for s in run["stages"]] == ["ingest", "load", "train"]
    assert run["stages"][-1]["rows_out"] is None
    assert f"terminated by {name} during stage train" in err  # the log says it too
    row = ledger(home).row(0, named=True)  # failed now, not left `running` for the next run to call killed
    assert (row["run_id"], row["status"], row["failed_stage"]) == (run["run_id"], "failed", "train")
    assert name in row["error"]
    assert not (home.root / "current").exists()  # nothing was published
    assert not list(home.snapshots.glob(".staging-*"))  # what it had written is removed


def test_a_sigtermed_backfill_records_the_day_failed_and_starts_no_later_day(tmp_path, raw, stand_ins):
    home = Home(tmp_path / "home")
    run_nightly(home, NightlyConfig(run_date=TINY_END, raw=raw))  # a warehouse for backfill to read
    code, _, err = signalled(tmp_path, ["backfill", "--from", "2026-01-08", "--to", "2026-01-09",
                                        "--home", str(home.root)], signal.SIGTERM)
    assert code == 143, err
    assert ("error: backfill stopped at 2026-01-08 (dates done: none): terminated by SIGTERM during stage "
            "train") in err
    runs = ledger(home).filter(pl.col("run_date") < TINY_END)
    assert runs.select("run_date", "status", "failed_stage").rows() == [(date(2026, 1, 8), "failed", "train")]


def test_a_signal_a_stage_swallowed_still_stops_the_run(tmp_path, monkeypatch):
    """Terminated is a BaseException (no `except Exception` takes it), but a library may catch all:
    the run stops at the end of that stage all the same."""
    def swallowing(ctx):
        # without the run's handler the signal would end the test process itself
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN, None)
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises in here
        except BaseException:  # noqa: S110 - the point of the test
            pass
        return 1, 1

    stages = ingest_then_stand_ins({})
    monkeypatch.setattr(runner_mod, "STAGES", [(n, swallowing if n == "load" else fn) for n, fn in stages])
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    before = signal.getsignal(signal.SIGTERM)
    home = Home(tmp_path / "home")
    raw = write_raw_folder(tmp_path / "raw", build_tiny_tables())
    with pytest.raises(Terminated) as stopped:
        run_nightly(home, NightlyConfig(run_date=TINY_END, raw=raw))
    assert stopped.value.exit_code == 143
    assert stopped.value.summary["error"] == "terminated by SIGTERM during stage load"
    assert ledger(home).row(0, named=True)["status"] == "failed"
    assert signal.getsignal(signal.SIGTERM) is before  # put back as it was


def test_the_handlers_are_restored_and_an_ignored_signal_stays_ignored():
    def mine(signum, frame):
        raise AssertionError("not while the run's handler is installed")

    before_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    before_term = signal.signal(signal.SIGTERM, mine)
    try:
        with terminate_on_signals():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # nohup / a background job: kept
            assert signal.getsignal(signal.SIGTERM) is not mine
            with pytest.raises(Terminated) as stopped:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            assert str(stopped.value) == "terminated by SIGTERM"
            os.kill(os.getpid(), signal.SIGTERM)  # a second one while stopping is ignored
            time.sleep(0.05)
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before_int)
        signal.signal(signal.SIGTERM, before_term)


def test_a_signal_inside_publish_waits_until_the_switch_and_the_vintage_are_written(tmp_path, monkeypatch):
    """A SIGTERM that lands between the switch of HOME/current and the served list's vintage would leave
    the API serving a list the ledger and the closed loop never knew of: publish's commit section defers
    it, and the run stops after it with its live snapshot recorded and its list kept for scoring."""
    import pipelines.nightly.stages as stages_mod
    from pipelines.nightly.snapshot import live_snapshot

    real_publish = stages_mod.publish

    def publish_then_signalled(home, folder):
        real_publish(home, folder)
        os.kill(os.getpid(), signal.SIGTERM)  # right after the switch
        time.sleep(0.05)

    monkeypatch.setattr(stages_mod, "publish", publish_then_signalled)
    kept = []
    monkeypatch.setattr("pipelines.vintages.store_pick_vintages",
                        lambda con, picks, run_id, arms: kept.append(run_id))
    monkeypatch.setattr(runner_mod, "STAGES", ingest_then_stand_ins({}))
    monkeypatch.delenv("CIRCLEBUY_FAIL_STAGE", raising=False)
    home = Home(tmp_path / "home")
    raw = write_raw_folder(tmp_path / "raw", build_tiny_tables())
    with pytest.raises(Terminated) as stopped:
        run_nightly(home, NightlyConfig(run_date=TINY_END, raw=raw))
    row = ledger(home).row(0, named=True)
    assert stopped.value.summary["error"] == "terminated by SIGTERM during stage publish"
    assert row["snapshot"] is not None and Path(row["snapshot"]).resolve() == live_snapshot(home)
    assert kept == [row["run_id"]]  # the list the API now serves is kept, to be scored


def test_a_signal_in_a_deferred_block_is_raised_when_it_ends():
    from pipelines.nightly.signals import deferred_signals

    done = []
    with terminate_on_signals(), pytest.raises(Terminated), deferred_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        done.append("the rest of the block")
    assert done == ["the rest of the block"]

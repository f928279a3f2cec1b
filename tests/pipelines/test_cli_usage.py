"""The CLI's answers to a user's mistakes: exit 2 with a sentence that names the option and what was
expected, nothing created or written on the way (a black-box trial's findings, 2026-12-01)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from common.errors import RunLockedError, UsageError
from common.home import Home
from pipelines import cli
from pipelines.ingest import run_ingest
from tests.pipelines.conftest import TINY_END, build_tiny_tables, write_raw_folder


def run(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """`circlebuy ARGS` in-process: (exit code, stderr)."""
    monkeypatch.setattr(sys, "argv", ["circlebuy", *args])
    with pytest.raises(SystemExit) as done:
        cli.main()
    return done.value.code or 0, capsys.readouterr().err


@pytest.mark.parametrize("bad", ["20260110", "2026-W02-6", "2026-010", "2026/01/10"])
def test_dates_must_be_written_yyyy_mm_dd_as_the_api_wants(monkeypatch, capsys, tmp_path: Path, bad: str):
    """Python 3.11's date.fromisoformat reads 20260110 and 2026-W02-6; the API refuses them, so the
    CLI must too (a script would otherwise get a date here that the service rejects)."""
    code, err = run(monkeypatch, capsys, "nightly", "--date", bad, "--home", str(tmp_path / "h"))
    assert code == 2 and f"--date: expected a date as YYYY-MM-DD; got {bad!r}" in err
    code, err = run(monkeypatch, capsys, "evaluate", "--as-of", bad, "--home", str(tmp_path / "h"))
    assert code == 2 and "--as-of: expected a date as YYYY-MM-DD" in err


def test_a_day_the_calendar_lacks_is_named_so_on_the_cli(monkeypatch, capsys, tmp_path: Path):
    code, err = run(monkeypatch, capsys, "nightly", "--date", "2026-02-30", "--home", str(tmp_path / "h"))
    assert code == 2 and "--date: '2026-02-30' is not a day of the calendar" in err
    code, err = run(monkeypatch, capsys, "evaluate", "--vintages", "2026-02-01..2026-02-30")
    assert code == 2 and "--vintages: '2026-02-30' is not a day of the calendar" in err


def test_a_wrong_home_is_a_usage_error_and_creates_nothing(monkeypatch, capsys, tmp_path: Path):
    missing = tmp_path / "no-such-home"
    code, err = run(monkeypatch, capsys, "evaluate", "--as-of", "2026-01-09", "--home", str(missing))
    assert code == 2 and "no warehouse yet" in err
    code, err = run(monkeypatch, capsys, "nightly", "--date", "2026-01-09", "--home", str(missing))
    assert code == 2 and "no warehouse yet; give --raw RAW" in err
    code, err = run(monkeypatch, capsys, "keys", "list", "--home", str(missing))
    assert code == 2 and "does not exist" in err
    assert not missing.exists()
    code, err = run(monkeypatch, capsys, "keys", "create", "--role", "foo", "--subject", "x",
                    "--home", str(missing))
    assert code == 2 and "does not exist" in err
    assert not missing.exists()  # a refused key leaves no home behind
    # a mistyped home is said, not made anew and empty (serve answered 503 forever; keys went nowhere)
    for args in (("keys", "create", "--role", "admin", "--subject", "ops"), ("keys", "revoke", "k1"),
                 ("serve", "--port", "18999")):
        code, err = run(monkeypatch, capsys, *args, "--home", str(missing))
        assert code == 2 and f"--home: {missing} does not exist" in err, (args, err)
        assert not missing.exists()
    code, err = run(monkeypatch, capsys, "serve", "--port", "99998", "--home", str(tmp_path))
    assert code == 2 and "65535" in err  # not a listener on port 99998 % 65536


def test_a_home_that_is_a_file_is_said_so_by_every_command(monkeypatch, capsys, tmp_path: Path):
    afile = tmp_path / "afile"
    afile.write_text("")
    commands = (("nightly", "--date", "2026-01-09"), ("evaluate", "--as-of", "2026-01-09"), ("keys", "list"))
    for args in commands:
        code, err = run(monkeypatch, capsys, *args, "--home", str(afile))
        assert code == 2 and f"--home {afile}: exists and is not a folder" in err, args


def test_keys_list_on_a_home_without_keys_says_how_to_make_one(monkeypatch, capsys, tmp_path: Path):
    (tmp_path / "h").mkdir()
    code, err = run(monkeypatch, capsys, "keys", "list", "--home", str(tmp_path / "h"))
    assert code == 0 and "no keys" in err and "circlebuy keys create" in err


def test_evaluating_a_date_without_orders_around_it_is_refused(monkeypatch, capsys, tmp_path: Path):
    """Past the data (nothing to score) or at its start (nothing to train on), every metric would read
    0 with exit 0: refused, naming the dates and the orders' own range."""
    home = Home(tmp_path / "h")
    run_ingest(write_raw_folder(tmp_path / "raw", build_tiny_tables()), home.ensure(), run_date=TINY_END)
    for day in ("2026-02-01", "2026-01-08"):
        code, err = run(monkeypatch, capsys, "evaluate", "--as-of", day, "--home", str(home.root))
        assert code == 2, err
        assert f"--as-of: {day}: nothing to evaluate there" in err
        assert "the orders run from 2026-01-08 to 2026-01-10" in err


def test_a_nightly_on_a_day_no_campaign_is_open_is_refused_before_training(monkeypatch, capsys, tmp_path):
    """The day after the data (a first user's guess) trained for minutes, saved a model, then publish
    refused the empty pick list. Refused at load now, with the campaigns' own range."""
    home = Home(tmp_path / "h")
    run_ingest(write_raw_folder(tmp_path / "raw", build_tiny_tables()), home.ensure(), run_date=TINY_END)
    code, err = run(monkeypatch, capsys, "nightly", "--date", "2026-01-12", "--home", str(home.root))
    assert code == 2, err
    assert "stage load failed: refused to publish: no campaign is open on 2026-01-12" in err
    assert "(the campaigns run from 2026-01-08 08:00 to 2026-01-10 23:00, platform time)" in err
    assert "--allow-empty" in err and not list(home.models.glob("*.pkl"))


def test_evaluating_a_date_whose_horizon_runs_past_the_orders_is_refused(monkeypatch, capsys, tmp_path: Path):
    """The days after the data are unknown, not days without sales: scored as zeros they would read
    as a forecast far too high. Refused, naming the last as-of date with a whole horizon."""
    home = Home(tmp_path / "h")
    run_ingest(write_raw_folder(tmp_path / "raw", build_tiny_tables()), home.ensure(), run_date=TINY_END)
    code, err = run(monkeypatch, capsys, "evaluate", "--as-of", "2026-01-09", "--home", str(home.root))
    assert code == 2, err
    assert "--as-of: 2026-01-09: the 7-day horizon runs past the orders, which end on 2026-01-10" in err
    code, err = run(monkeypatch, capsys, "evaluate", "--as-of", "2026-01-09", "--horizon-days", "3",
                    "--home", str(home.root))
    assert code == 2, err
    assert "from 2026-01-09 to 2026-01-08" not in err and "no as-of date has orders" in err


def test_serve_on_a_port_in_use_is_a_usage_error():
    from api.server import check_port_free

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UsageError, match=f"--port: cannot listen on 127.0.0.1:{port}") as refused:
            check_port_free("127.0.0.1", port)
    assert refused.value.exit_code == 2
    check_port_free("127.0.0.1", port)  # free again: no error


def test_serve_on_an_address_not_of_this_machine_blames_the_host_not_the_port():
    from api.server import check_port_free

    with pytest.raises(UsageError, match="--host: cannot listen on 192.0.2.1:18777.*not an address of this"):
        check_port_free("192.0.2.1", 18777)  # TEST-NET-1: documentation only, never a local address


def test_a_dump_path_that_cannot_be_written_is_refused_before_the_work(monkeypatch, capsys, tmp_path: Path):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = [("--dump-rankings", tmp_path / "adir", "is a folder; give a file path"),
             ("--dump-forecasts", tmp_path / "afile" / "x.parquet", "cannot create the folder")]
    for flag, path, words in cases:  # the home holds nothing: the check comes before any work
        code, err = run(monkeypatch, capsys, "evaluate", "--as-of", "2026-01-09", flag, str(path),
                        "--home", str(tmp_path / "h"))
        assert code == 2, err
        assert f"{flag} {path}" in err and words in err and "unexpected error" not in err


@pytest.mark.parametrize(("raised", "said"), [
    (OSError(28, "No space left on device"), "error: the disk is full"),
    (RuntimeError('Failed to commit: Could not write file "h/warehouse.duckdb.wal": No space left on '
                  "device"), "error: the disk is full"),
    (OSError(30, "Read-only file system"), "error: the file system is read-only"),
])
def test_a_full_disk_or_a_read_only_home_is_said_in_words(monkeypatch, capsys, raised, said):
    def fail():
        raise raised

    monkeypatch.setattr(cli, "app", fail)
    monkeypatch.delenv("CIRCLEBUY_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith(said) and "unexpected error" not in err


def test_a_rollback_after_a_failed_commit_does_not_hide_why_it_failed():
    import duckdb

    from pipelines.warehouse import rollback_quietly

    con = duckdb.connect()
    rollback_quietly(con)  # no transaction open (a COMMIT that failed ended it): no second error
    con.execute("BEGIN")
    con.execute("CREATE TABLE t (x INT)")
    rollback_quietly(con)
    tables = "SELECT count(*) FROM information_schema.tables WHERE table_name = 't'"
    assert con.execute(tables).fetchone() == (0,)


@pytest.mark.parametrize(("raised", "code", "error"), [
    (RunLockedError("another run is using this home (pid 1)"), 1, "another run is using this home (pid 1)"),
    (OSError(30, "Read-only file system"), 1, "the file system is read-only"),
])
def test_nightly_json_prints_a_failed_run_object_whatever_stopped_it(monkeypatch, capsys, tmp_path: Path,
                                                                       raised, code, error):
    import json

    import pipelines.nightly

    def refuse(home, config):
        raise raised

    home = Home(tmp_path / "h").ensure()
    home.warehouse.write_bytes(b"")  # a home that has a warehouse (the run itself is refused)
    monkeypatch.setattr(pipelines.nightly, "run_nightly", refuse)
    argv = ["circlebuy", "nightly", "--date", "2026-01-09", "--home", str(home.root), "--json"]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.delenv("CIRCLEBUY_DEBUG", raising=False)
    with pytest.raises(SystemExit) as done:
        cli.main()
    out = json.loads(capsys.readouterr().out)
    assert done.value.code == code
    assert out["status"] == "failed" and out["date"] == "2026-01-09" and out["run_id"] is None
    assert out["stages"] == [] and out["error"].startswith(error)


@pytest.mark.parametrize(("args", "error"), [
    (("--date", "2026-01-09", "--raw", "no-such-raw"), "--raw: folder no-such-raw does not exist"),
    (("--date", "2026-1-09"), "--date: expected a date as YYYY-MM-DD"),
])
def test_nightly_json_prints_the_run_object_when_an_argument_is_refused(monkeypatch, capsys, tmp_path: Path,
                                                                         args, error):
    """README: --json prints the run's object "whatever the outcome"; a refused argument printed nothing."""
    import json

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["circlebuy", "nightly", *args, "--home", str(tmp_path / "h"), "--json"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    out = json.loads(capsys.readouterr().out)
    assert done.value.code == 2 and out["status"] == "failed" and out["run_id"] is None
    assert out["error"].startswith(error) and out["date"] == args[1]


@pytest.mark.parametrize(("args", "error"), [
    (("--date", "2026-01-09", "--keep", "abc"), "Invalid value for '--keep'"),
    (("--date=2026-01-09", "--no-such-flag"), "No such option: --no-such-flag"),
    ((), "Missing option '--date'"),
])
def test_nightly_json_prints_the_run_object_when_click_refuses_an_argument(monkeypatch, capsys, tmp_path,
                                                                           args, error):
    """Arguments refused before the command runs (a non-integer, an unknown flag, no --date) printed
    nothing on stdout under --json: a script parsing it got an empty string."""
    import json

    monkeypatch.setattr(sys, "argv", ["circlebuy", "nightly", *args, "--home", str(tmp_path / "h"), "--json"])
    with pytest.raises(SystemExit) as done:
        cli.main()
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert done.value.code == 2 and out["status"] == "failed" and out["stages"] == []
    assert out["error"].startswith(error) and error in captured.err
    assert out["date"] == ("2026-01-09" if args else None)
    assert not (tmp_path / "h").exists()
    # stderr as without --json (Typer's box where rich is installed), not Click's plain text
    monkeypatch.setattr(sys, "argv", ["circlebuy", "nightly", *args, "--home", str(tmp_path / "h")])
    with pytest.raises(SystemExit):
        cli.main()
    assert capsys.readouterr().err == captured.err


@pytest.mark.parametrize("args", [
    ("experiment", "create", "ab", "--arms", "production,popularity"),
    ("experiment", "list", "--json"),
    ("experiment", "stop", "ab"),
    ("evaluate", "--vintages", "2026-01-01..2026-01-05", "--json"),
    ("backfill", "--from", "2026-01-01", "--to", "2026-01-02"),
])
def test_commands_that_read_a_warehouse_refuse_a_mistyped_home(monkeypatch, capsys, tmp_path: Path, args):
    """A typo in --home made a new empty home: `experiment create` said "created" (an A/B test nobody
    would ever serve), `--vintages` and `experiment list` exited 0 on nothing, backfill blamed an
    empty orders table."""
    typo = tmp_path / "no-such-home"
    code, err = run(monkeypatch, capsys, *args, "--home", str(typo))
    said = f"--home: {typo} does not exist" if args[0] == "experiment" else (
        f"{typo / 'warehouse.duckdb'}: no warehouse yet")
    assert code == 2 and said in err
    assert not typo.exists()


def test_experiment_list_and_stop_leave_a_home_without_a_warehouse_as_it_was(monkeypatch, capsys,
                                                                             tmp_path: Path):
    """An existing folder with no warehouse (a home made ready, or the wrong folder) has no experiments:
    `list` says so and `stop` refuses, and neither leaves a new empty warehouse behind."""
    home = tmp_path / "h"
    home.mkdir()
    code, err = run(monkeypatch, capsys, "experiment", "list", "--home", str(home))
    assert code == 0 and "no experiments in" in err
    code, err = run(monkeypatch, capsys, "experiment", "stop", "ab", "--home", str(home))
    assert code == 2 and "no experiment 'ab'" in err and "no warehouse yet" in err
    assert not (home / "warehouse.duckdb").exists()


def test_ingest_json_says_fatal_on_a_full_disk_too(monkeypatch, capsys, tmp_path: Path):
    import json

    import pipelines.ingest

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    raw = write_raw_folder(tmp_path / "raw", build_tiny_tables())
    monkeypatch.setattr(pipelines.ingest, "run_ingest", full)
    argv = ["circlebuy", "ingest", str(raw), "--home", str(tmp_path / "h"), "--json"]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.delenv("CIRCLEBUY_DEBUG", raising=False)
    with pytest.raises(SystemExit) as done:
        cli.main()
    out = json.loads(capsys.readouterr().out)
    assert done.value.code == 1 and out["fatal"].startswith("the disk is full") and out["tables"] == {}


def test_serve_says_where_it_listens_before_it_blocks(monkeypatch, capsys, tmp_path: Path):
    """uvicorn runs at log level warning, so its own "running on" line never shows: the CLI says the
    URL itself, once the port is known to be free."""
    import api.server

    started = []
    monkeypatch.setattr(api.server, "serve", lambda home, **kw: started.append(kw))
    home = Home(tmp_path / "h").ensure()
    code, err = run(monkeypatch, capsys, "serve", "--home", str(home.root), "--port", "18997")
    assert code == 0 and started == [{"host": "127.0.0.1", "port": 18997, "workers": 1}]
    assert "at http://127.0.0.1:18997 (pages: http://127.0.0.1:18997/" in err and "Ctrl-C" in err


def test_generate_names_the_days_it_wrote_and_the_nightly_to_run(monkeypatch, capsys, tmp_path: Path):
    code, err = run(monkeypatch, capsys, "generate", "--out", str(tmp_path / "raw"), "--groups", "5",
                    "--start", "2026-03-01", "--days", "3", "--no-calendar")
    assert code == 0 and "days 2026-03-01 to 2026-03-03" in err
    assert f"circlebuy nightly --date 2026-03-03 --raw {tmp_path / 'raw'} --home HOME" in err


def test_ingest_strict_exits_3_when_nothing_usable_went_in(monkeypatch, capsys, tmp_path: Path):
    """A cron job's `ingest --strict && nightly`: a drop folder holding no table file (a daily export
    named `orders_20260316.csv`) stops the chain; without --strict the exit stays 0, as documented."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "orders_20260316.csv").write_text("order_id\n1\n", encoding="utf-8")
    home = str(tmp_path / "h")
    full = write_raw_folder(tmp_path / "raw", build_tiny_tables())
    assert run(monkeypatch, capsys, "ingest", str(full), "--home", home, "--strict")[0] == 0
    assert run(monkeypatch, capsys, "ingest", str(drop), "--home", home)[0] == 0
    code, err = run(monkeypatch, capsys, "ingest", str(drop), "--home", home, "--strict")
    assert code == 3 and "error: nothing usable went in:" in err

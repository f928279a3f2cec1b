"""One settings tree built at the edge: defaults are the parts' own, a TOML file overrides any part,
the command's flags win, one seed / k / horizon reaches every part, and a wrong file is a clear error
naming the file and the key. The nightly and `evaluate` read their models' settings from it."""

from __future__ import annotations

import contextlib
import sys
from datetime import date
from pathlib import Path

import pytest

from aggregation.demand import DemandConfig
from common.errors import BadInputError
from pipelines.evaluate.config import EvaluateConfig
from pipelines.nightly.config import NightlyConfig
from pipelines.settings import Settings, load_settings
from recsys.picks import PicksConfig
from recsys.production_config import ProductionConfig


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_defaults_are_the_parts_own_defaults():
    s = load_settings()
    assert s == Settings()
    assert s.production == ProductionConfig() and s.picks == PicksConfig()
    d = DemandConfig()
    assert s.demand.decision == d.decision and s.demand.presale == d.presale
    assert s.demand.timeseries.horizon_days == 7 and s.demand.timeseries.seed == s.seed


def test_a_file_overrides_nested_parts_and_the_shared_values_reach_every_part(tmp_path):
    path = write(tmp_path, """
seed = 11
k = 5
horizon_days = 14
[production]
validation_folds = 6
[production.ranker]
objective = "binary"
[demand.decision]
service_level = 0.95
[picks]
hot_max = 1
""")
    s = load_settings(path)
    assert s.seed == 11 and s.production.seed == 11 and s.demand.timeseries.seed == 11
    assert s.k == 5 and s.production.k == 5 and s.picks.n == 5
    assert s.horizon_days == 14 and s.production.horizon_days == 14 and s.demand.horizon_days == 14
    assert s.production.validation_folds == 6 and s.production.ranker.objective == "binary"
    assert s.demand.decision.service_level == 0.95 and s.picks.hot_max == 1
    assert s.production.tuning == ProductionConfig().tuning  # untouched parts keep their defaults


def test_the_commands_flags_win_over_the_file(tmp_path):
    path = write(tmp_path, "seed = 11\nk = 5\n")
    s = load_settings(path, seed=3, k=None)  # None: the flag was not given
    assert s.seed == 3 and s.production.seed == 3 and s.k == 5


@pytest.mark.parametrize(("text", "words"), [
    ("sed = 3\n", ["unknown setting 'sed'", "seed"]),
    ("[production.ranker]\nobjectiv = 'binary'\n", ["unknown setting 'production.ranker.objectiv'",
                                                     "[production.ranker]", "objective"]),
    ("k = 'ten'\n", ["'k' must be a whole number", "'ten'"]),
    ("k = true\n", ["'k' must be a whole number"]),
    ("[demand.decision]\nservice_level = 'high'\n", ["'demand.decision.service_level' must be a number"]),
    ("production = 3\n", ["'production' is a section"]),
    ("[seed]\nx = 1\n", ["'seed' is a value, not a section"]),
    ("seed = \n", ["not valid TOML"]),
])
def test_a_wrong_file_names_the_file_and_the_key(tmp_path, text, words):
    path = write(tmp_path, text)
    with pytest.raises(BadInputError) as err:
        load_settings(path)
    assert str(path) in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_an_integer_is_a_number_and_a_list_is_a_tuple(tmp_path):
    s = load_settings(write(tmp_path, "[demand.decision]\nservice_level = 1\n"))
    assert s.demand.decision.service_level == 1.0 and isinstance(s.demand.decision.service_level, float)


def test_a_missing_file_is_a_clear_cli_error_without_traceback(tmp_path, monkeypatch, capsys):
    from pipelines import cli

    missing = tmp_path / "nope.toml"
    monkeypatch.setattr(sys, "argv", ["circlebuy", "evaluate", "--home", str(tmp_path / "h"),
                                      "--as-of", "2026-03-01", "--settings", str(missing)])
    with pytest.raises(SystemExit) as done:
        cli.main()
    err = capsys.readouterr().err
    assert done.value.code not in (0, None, 1)
    assert f"{missing}: no such settings file" in err and "Traceback" not in err


def test_evaluate_and_the_nightly_read_the_one_tree(tmp_path):
    s = load_settings(write(tmp_path, "seed = 5\nk = 4\n[production]\nvalidation_folds = 5\n"))
    ev = EvaluateConfig.from_settings(date(2026, 3, 1), s, max_products=400)
    assert (ev.seed, ev.k, ev.horizon_days, ev.max_products) == (5, 4, 7, 400)
    assert ev.production is s.production and ev.forecast is s.demand.timeseries
    assert ev.presale is s.demand.presale
    night = NightlyConfig(run_date=date(2026, 3, 1), settings=s)
    assert (night.seed, night.k, night.horizon_days) == (5, 4, 7)


def test_the_train_stage_trains_with_the_trees_settings(tmp_path, monkeypatch):
    """The nightly passes the tree down: the production config train_recsys receives is the tree's."""
    import pipelines.recsys_stage as stage
    from pipelines.nightly import stages

    seen = {}

    class Stop(Exception):
        """Raised by the fake training once it has seen its arguments."""

    def fake_train(frames, day, config, seed, tuned_params=None, production=None, run=None):
        seen.update(config=config, seed=seed, production=production)
        raise Stop

    monkeypatch.setattr(stage, "train_recsys", fake_train)
    monkeypatch.setattr(stages, "_aggregating_engine", lambda *a, **k: contextlib.nullcontext())
    s = load_settings(write(tmp_path, "seed = 5\n[production]\nvalidation_folds = 5\n[picks]\nhot_max = 1\n"))
    ctx = type("Ctx", (), {})()
    ctx.config = NightlyConfig(run_date=date(2026, 3, 1), settings=s, retune_every_days=1)
    ctx.frames = {}
    with pytest.raises(Stop):
        stages._train_and_save(ctx)
    assert seen["production"] is s.production and seen["production"].validation_folds == 5
    assert seen["config"].hot_max == 1 and seen["seed"] == 5

"""One settings tree for the models, built once at the edge and passed down as values.

The CLI builds it (defaults, then a TOML file given by `--settings FILE`, then the command's own
flags such as `--seed`); the nightly and `evaluate` read every model setting from it, so nothing
below the edge reads a module global or builds its own defaults. The API has its own, smaller tree
(api/settings.py: serving, not models).

    seed, k, horizon_days      shared: written into every part that has them
    picks                      recsys.picks.PicksConfig (the rules of a list)
    production                 recsys.production_config.ProductionConfig (signal, tuning, ranker)
    demand                     aggregation.demand.DemandConfig (decision, presale, timeseries)

A file holds any part of the tree, e.g.

    seed = 11
    [production.ranker]
    objective = "binary"
    [demand.decision]
    service_level = 0.95

An unknown key or a value of the wrong type is an error that names the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from aggregation.demand import DemandConfig
from common.errors import BadInputError
from common.settings import DEFAULT_SEED
from recsys.picks import PicksConfig
from recsys.production_config import ProductionConfig


@dataclass(frozen=True)
class Settings:
    seed: int = DEFAULT_SEED
    k: int = 10  # the list length the models are scored at (and the picks' length)
    horizon_days: int = 7  # what the models are scored on, and the daily forecast's horizon
    picks: PicksConfig = field(default_factory=PicksConfig)
    production: ProductionConfig = field(default_factory=ProductionConfig)
    demand: DemandConfig = field(default_factory=DemandConfig)

    def __post_init__(self) -> None:
        """The shared values win over the parts' own copies: one seed, one k, one horizon."""
        object.__setattr__(self, "picks", replace(self.picks, n=self.k))
        object.__setattr__(self, "production", replace(
            self.production, seed=self.seed, k=self.k, horizon_days=self.horizon_days))
        object.__setattr__(self, "demand", replace(
            self.demand, horizon_days=self.horizon_days,
            timeseries=replace(self.demand.timeseries, horizon_days=self.horizon_days, seed=self.seed)))


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Defaults, then the TOML file at `path` (when given), then `overrides` (the command's flags;
    None values are left out)."""
    data: dict = {}
    source = "settings"
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BadInputError(f"{path}: no such settings file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInputError(f"{path}: cannot read the settings file ({exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise BadInputError(f"{path}: not valid TOML ({exc})") from None
    data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    return _apply(Settings(), data, source, "")


def _apply(node: Any, data: dict, source: str, prefix: str) -> Any:
    """A copy of the dataclass `node` with `data` applied, key by key, checked against the defaults."""
    known = {f.name: f for f in fields(node) if f.init}
    changes = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        if key not in known:
            raise BadInputError(f"{source}: unknown setting '{where}'; "
                                f"{'[' + prefix.rstrip('.') + '] ' if prefix else ''}"
                                f"knows {', '.join(sorted(known))}")
        current = getattr(node, key)
        if is_dataclass(current):
            if not isinstance(value, dict):
                raise BadInputError(f"{source}: '{where}' is a section ([{where}]), not a value")
            changes[key] = _apply(current, value, source, f"{where}.")
        else:
            changes[key] = _checked(current, value, source, where)
    return replace(node, **changes)


def _checked(current: Any, value: Any, source: str, where: str) -> Any:
    """`value` in the type of the default `current` (an int is a float; a list is a tuple)."""
    if isinstance(value, dict):
        raise BadInputError(f"{source}: '{where}' is a value, not a section")
    if current is None:
        return value
    expected = type(current)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is tuple and isinstance(value, list):
        return tuple(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):
        return value
    raise BadInputError(f"{source}: '{where}' must be {_type_name(expected)} (like the default "
                        f"{current!r}), not {value!r}")


def _type_name(t: type) -> str:
    return {int: "a whole number", float: "a number", bool: "true or false", str: "text",
            tuple: "a list", list: "a list", dict: "a table"}.get(t, t.__name__)

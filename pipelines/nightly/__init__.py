"""The nightly pipeline: raw files to a published snapshot, idempotent, atomic, observable.

The names below are imported on first use (PEP 562), so that `pipelines.nightly.signals` is cheap to
import: the CLI installs its signal handlers before the heavy modules of a run load."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.nightly.config import NightlyConfig
    from pipelines.nightly.runner import run_backfill, run_nightly

__all__ = ["NightlyConfig", "run_backfill", "run_nightly"]


def __getattr__(name: str) -> object:
    if name == "NightlyConfig":
        from pipelines.nightly.config import NightlyConfig

        return NightlyConfig
    if name in ("run_backfill", "run_nightly"):
        from pipelines.nightly import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

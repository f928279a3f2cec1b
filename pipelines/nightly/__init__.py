"""The nightly pipeline: raw files to a published snapshot, idempotent, atomic, observable."""

from pipelines.nightly.config import NightlyConfig
from pipelines.nightly.runner import run_backfill, run_nightly

__all__ = ["NightlyConfig", "run_backfill", "run_nightly"]

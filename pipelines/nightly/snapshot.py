"""Writing a snapshot beside the live one and switching `HOME/current` to it in one step.

Layout (DESIGN.md, "Snapshot"): HOME/snapshots/<run_id>/ with picks.parquet, demand.parquet,
the dimension files the API serves from, manifest.json and report.html. The manifest lists every
file's row count and sha256, so a reader can refuse a snapshot that is incomplete or altered.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import polars as pl

from common.errors import BadInputError
from common.home import Home
from common.snapshot_format import (  # noqa: F401  (publish, live_snapshot, verify_snapshot: re-exported)
    MANIFEST,
    fsync_path,
    live_snapshot,
    publish,
    verify_snapshot,
    write_manifest,
)

# tables whose collapse would empty the service: no picks, no demand, nobody's groups or products
GUARDED = ("picks.parquet", "demand.parquet", "groups.parquet", "products.parquet")


class PublishRefusedError(BadInputError):
    """The new snapshot would drop a table to zero rows (or under the configured share) of the live one.

    Exit 2, as bad input: nothing broke; the inputs (most often a --date past the data's campaigns)
    give an empty result, and running again will not change that. `--allow-empty` publishes anyway.
    The refused snapshot is kept (not live) at `snapshot_dir` with its report for a look."""

    def __init__(self, message: str, snapshot_dir: str | None = None):
        super().__init__(message)
        self.snapshot_dir = snapshot_dir


def publish_refusal(home: Home, row_counts: dict[str, int], min_share: float = 0.0) -> str | None:
    """What makes the new snapshot (its `row_counts`) unfit to replace the live one, in words; None if
    nothing does. A guarded table that the live snapshot has rows in may not drop to 0, nor under
    `min_share` of them (0 disables the share rule). With no live snapshot yet, a first snapshot
    without a single pick (a --date past the data, say) would serve nothing: refused too.
    """
    live = live_snapshot(home)
    if live is None:
        if row_counts.get("picks.parquet") == 0:
            return "picks would have 0 rows, and no snapshot is live yet: the service would show nothing"
        return None
    try:
        manifest = json.loads((live / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    before_counts = manifest.get("row_counts") or {}
    problems = []
    for name in GUARDED:
        before, now = before_counts.get(name), row_counts.get(name)
        if not isinstance(before, int) or before <= 0 or now is None:
            continue
        table = name.removesuffix(".parquet")
        if now == 0:
            problems.append(f"{table} would have 0 rows where the live snapshot has {before:,}")
        elif now < min_share * before:
            problems.append(f"{table} would have {now:,} rows, under {min_share:.0%} of the live "
                            f"snapshot's {before:,}")
    if not problems:
        return None
    return f"{'; '.join(problems)} (live snapshot {manifest.get('run_id')}, for {manifest.get('date')})"


def live_manifest(home: Home) -> dict | None:
    """The live snapshot's manifest (run id, date, ...), or None before the first publish or when it
    cannot be read."""
    live = live_snapshot(home)
    if live is None:
        return None
    try:
        manifest = json.loads((live / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def newer_live(home: Home, run_date: date) -> dict | None:
    """The live snapshot's manifest when it is for a date AFTER `run_date` (a backfill, or a nightly
    for a past date, must not move the service back in time), else None. A live snapshot for the same
    date (a re-run) or an earlier one may be replaced."""
    manifest = live_manifest(home)
    if manifest is None:
        return None
    try:
        live_date = date.fromisoformat(str(manifest.get("date")))
    except ValueError:
        return None
    return manifest if live_date > run_date else None


def not_live_message(run_date: date, live: dict) -> str:
    """Why a run's snapshot was kept but not made live, naming both dates, and how to serve it anyway."""
    return (f"kept, not made live: {run_date} is older than the live snapshot's date {live.get('date')} "
            f"(run {live.get('run_id')}), which stays live; the snapshot is kept under snapshots/ "
            f"(re-run with --make-live to serve this older date on purpose, a rollback)")


def refusal_message(problem: str) -> str:
    """The sentence for the CLI, the ledger and the report when a snapshot is not published."""
    return (f"refused to publish: {problem}. Nothing live changed. Check --date against the "
            "data (a date past every campaign pools and picks nothing), or pass --allow-empty to "
            "publish it anyway")


class SnapshotWriter:
    """Collects a run's outputs in a staging folder; `publish` makes it live atomically."""

    def __init__(self, home: Home, run_id: str, run_date: date) -> None:
        self.home = home
        self.run_id = run_id
        self.run_date = run_date
        self.staging = home.snapshots / f".staging-{run_id}"
        if self.staging.exists():
            shutil.rmtree(self.staging)
        self.staging.mkdir(parents=True)
        self.row_counts: dict[str, int] = {}

    def write_frame(self, name: str, frame: pl.DataFrame) -> Path:
        path = self.staging / f"{name}.parquet"
        frame.write_parquet(path)
        self.row_counts[path.name] = frame.height
        return path

    def write_text(self, filename: str, text: str) -> Path:
        path = self.staging / filename
        path.write_text(text, encoding="utf-8")
        return path

    def finish(self, *, model_version: str, metrics: dict, extra: dict | None = None) -> Path:
        """Write the manifest last, fsync everything, and move the folder to its final name."""
        write_manifest(self.staging, run_id=self.run_id, run_date=self.run_date, model_version=model_version,
                       row_counts=self.row_counts, metrics=metrics, extra=extra)
        final = self.home.snapshots / self.run_id
        if final.exists():
            shutil.rmtree(final)
        os.rename(self.staging, final)
        fsync_path(self.home.snapshots)  # make the rename durable before HOME/current points at it
        return final

    def abandon(self) -> None:
        """Remove what this run wrote: the staging folder, and its final folder unless it is live."""
        shutil.rmtree(self.staging, ignore_errors=True)
        final = self.home.snapshots / self.run_id
        if final.exists() and live_snapshot(self.home) != final.resolve():
            shutil.rmtree(final, ignore_errors=True)


def snapshot_served(manifest: dict | None) -> bool:
    """Whether a snapshot went live when its run published it: not one refused by the publish guard
    (manifest `published: false`) nor one kept but not made live because its date is older than the
    live one's (`live: false`). A folder without a readable manifest never served."""
    if not isinstance(manifest, dict):
        return False
    return manifest.get("published", True) is not False and manifest.get("live", True) is not False


def _read_manifest(folder: Path) -> dict | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def prune_snapshots(home: Home, keep: int) -> list[Path]:
    """Retention (`--keep`): never the live snapshot; of the snapshots that were served (live at some
    point), the `keep` newest by date (the day they are for; a day's re-runs newest first); of those
    never served (refused by the publish guard, kept not live by a backfill of older days, or without
    a manifest), the `keep` most recently written, counted apart so that they never push a served day
    out. Staging folders of killed runs go too. Returns the snapshot folders removed (oldest first);
    the caller marks them in the ledger (`ledger.mark_snapshots_removed`)."""
    if not home.snapshots.exists():
        return []
    live = live_snapshot(home)
    served: list[tuple[tuple, Path]] = []
    never: list[tuple[tuple, Path]] = []
    for folder in home.snapshots.iterdir():
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        manifest = _read_manifest(folder)
        if snapshot_served(manifest):
            # the day served, then the run's start (run ids are <date>-<UTC start>-<hex>), then its name
            served.append(((str(manifest.get("date") or ""), str(manifest.get("created_at") or ""),
                            folder.name), folder))
        else:
            written = str((manifest or {}).get("created_at") or "")
            never.append(((written, folder.stat().st_mtime, folder.name), folder))
    removed = []
    for group in (served, never):
        group.sort(key=lambda item: item[0], reverse=True)
        for _, folder in group[max(0, keep):]:
            if live is not None and folder.resolve() == live:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            if not folder.exists():
                removed.append(folder)
    # staging folders of killed runs
    for folder in home.snapshots.glob(".staging-*"):
        shutil.rmtree(folder, ignore_errors=True)
    return sorted(removed, key=lambda p: p.name)

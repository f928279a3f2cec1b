"""Writing a snapshot beside the live one and switching `HOME/current` to it in one step.

Layout (DESIGN.md, "Snapshot"): HOME/snapshots/<run_id>/ with picks.parquet, demand.parquet,
the dimension files the API serves from, manifest.json and report.html. The manifest lists every
file's row count and sha256, so a reader can refuse a snapshot that is incomplete or altered.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from common.errors import BadInputError, SnapshotError
from common.home import Home

MANIFEST = "manifest.json"
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
    `min_share` of them (0 disables the share rule). With no live snapshot there is nothing to protect.
    """
    live = live_snapshot(home)
    if live is None:
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


def refusal_message(problem: str) -> str:
    """The sentence for the CLI, the ledger and the report when a snapshot is not published."""
    return (f"refused to publish: {problem}. The previous snapshot stays live. Check --date against the "
            "data (a date past every campaign pools and picks nothing), or pass --allow-empty to "
            "publish it anyway")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        files = sorted(p for p in self.staging.iterdir() if p.is_file())
        for path in files:
            _fsync(path)
        manifest = {
            "run_id": self.run_id,
            "date": self.run_date.isoformat(),
            "model_version": model_version,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "row_counts": self.row_counts,
            "metrics": metrics,
            "files": {p.name: sha256_of(p) for p in files},
            **(extra or {}),
        }
        (self.staging / MANIFEST).write_text(
            json.dumps(manifest, indent=2, default=str, ensure_ascii=False), encoding="utf-8"
        )
        _fsync(self.staging / MANIFEST)
        final = self.home.snapshots / self.run_id
        if final.exists():
            shutil.rmtree(final)
        os.rename(self.staging, final)
        _fsync(self.home.snapshots)  # make the rename durable before HOME/current points at it
        return final

    def abandon(self) -> None:
        """Remove what this run wrote: the staging folder, and its final folder unless it is live."""
        shutil.rmtree(self.staging, ignore_errors=True)
        final = self.home.snapshots / self.run_id
        if final.exists() and live_snapshot(self.home) != final.resolve():
            shutil.rmtree(final, ignore_errors=True)


def publish(home: Home, snapshot_dir: Path) -> None:
    """Point HOME/current at `snapshot_dir` in one step: a new link renamed over the old."""
    verify_snapshot(snapshot_dir)
    tmp_link = home.root / f".current-{os.getpid()}"
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    os.symlink(os.path.relpath(snapshot_dir, home.root), tmp_link)
    os.replace(tmp_link, home.current)
    dir_fd = os.open(home.root, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def live_snapshot(home: Home) -> Path | None:
    """The folder HOME/current points at, or None before the first publish."""
    if not home.current.is_symlink():
        return None
    return (home.root / os.readlink(home.current)).resolve()


def verify_snapshot(folder: Path) -> dict:
    """Check the manifest against the files (present, same checksum); return the manifest."""
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise SnapshotError(f"{folder}: no {MANIFEST}; the snapshot is incomplete")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for name, digest in manifest.get("files", {}).items():
        path = folder / name
        if not path.exists():
            raise SnapshotError(f"{folder}: {name} is listed in the manifest but missing")
        if sha256_of(path) != digest:
            raise SnapshotError(f"{folder}: {name} does not match its checksum in the manifest")
    return manifest


def prune_snapshots(home: Home, keep: int) -> list[Path]:
    """Remove all but the newest `keep` published snapshots; never the live one."""
    live = live_snapshot(home)
    published = sorted(
        (p for p in home.snapshots.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: (p.stat().st_mtime, p.name),
    ) if home.snapshots.exists() else []
    removed = []
    for folder in published[: max(0, len(published) - keep)]:
        if live is not None and folder.resolve() == live:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    # staging folders of killed runs
    for folder in home.snapshots.glob(".staging-*") if home.snapshots.exists() else []:
        shutil.rmtree(folder, ignore_errors=True)
    return removed

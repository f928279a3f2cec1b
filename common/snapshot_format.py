"""The published snapshot's format, one copy for the writer (the nightly), the reader (the API) and the
test fixtures: `HOME/snapshots/<run_id>/` holds the output files and `manifest.json` = {"run_id",
"date", "model_version", "created_at", "row_counts": {file: rows}, "metrics", "files": {file:
sha256}, ...}; `HOME/current` is a symbolic link to the live folder, switched atomically (a new link
renamed over the old). A reader accepts a folder only when its manifest is whole and every file
listed matches its checksum.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from common.errors import SnapshotError
from common.home import Home

MANIFEST = "manifest.json"
MANIFEST_KEYS = ("run_id", "date", "model_version", "created_at", "row_counts", "files")


def sha256_of(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def fsync_path(path: Path) -> None:
    """Make a file's (or a folder's entries') last write durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(folder: Path, *, run_id: str, run_date: date, model_version: str,
                   row_counts: dict[str, int], metrics: dict | None = None, extra: dict | None = None,
                   durable: bool = True) -> dict:
    """Write the manifest last, listing every file in `folder` with its checksum; with `durable`,
    every file is fsynced before the manifest, and the manifest after it."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)
    if durable:
        for path in files:
            fsync_path(path)
    manifest = {
        "run_id": run_id,
        "date": run_date.isoformat(),
        "model_version": model_version,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "row_counts": row_counts,
        "metrics": metrics or {},
        "files": {p.name: sha256_of(p) for p in files},
        **(extra or {}),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str, ensure_ascii=False),
                                   encoding="utf-8")
    if durable:
        fsync_path(folder / MANIFEST)
    return manifest


def read_manifest(folder: Path) -> dict[str, Any]:
    """manifest.json as a dict with every required key, or SnapshotError naming what is wrong."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise SnapshotError(f"{folder}: not a snapshot folder (does not exist or is not a directory)")
    if not path.exists():
        raise SnapshotError(f"{path}: missing; a snapshot is published only with its manifest")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise SnapshotError(f"{path}: expected a JSON object; got {type(manifest).__name__}")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    if missing:
        raise SnapshotError(
            f"{path}: missing key(s) {', '.join(missing)}; expected {', '.join(MANIFEST_KEYS)}"
        )
    for key in ("row_counts", "files"):
        if not isinstance(manifest[key], dict):
            raise SnapshotError(f"{path}: '{key}' must be an object {{file: value}}")
    return manifest


def verify_snapshot(folder: Path) -> dict[str, Any]:
    """The manifest, once every file it lists is present with the same checksum."""
    manifest = read_manifest(folder)
    for name, digest in manifest["files"].items():
        path = folder / name
        if not path.exists():
            raise SnapshotError(f"{folder}: {name} is listed in the manifest but missing")
        if sha256_of(path) != str(digest).lower():
            raise SnapshotError(f"{folder}: {name} does not match its checksum in the manifest")
    return manifest


def publish(home: Home, snapshot_dir: Path, *, verify: bool = True) -> None:
    """Point HOME/current at `snapshot_dir` in one step (after checking it, unless `verify` is off:
    tests that play a broken writer): a new link renamed over the old, the folder's entry durable."""
    if verify:
        verify_snapshot(snapshot_dir)
    tmp_link = home.root / f".current-{os.getpid()}-{os.urandom(3).hex()}"
    os.symlink(os.path.relpath(snapshot_dir, home.root), tmp_link)
    os.replace(tmp_link, home.current)
    fsync_path(home.root)


def live_snapshot(home: Home) -> Path | None:
    """The folder HOME/current points at, or None before the first publish."""
    if not home.current.is_symlink():
        return None
    return (home.root / os.readlink(home.current)).resolve()

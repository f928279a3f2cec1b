"""The home folder: where everything circlebuy keeps lives (see DESIGN.md, "Home")."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from common.errors import UsageError

DEFAULT_HOME = "circlebuy-home"
HOME_ENV = "CIRCLEBUY_HOME"


@dataclass(frozen=True)
class Home:
    """Paths inside one home folder. Creating the object touches nothing on disk."""

    root: Path

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def snapshots(self) -> Path:
        return self.root / "snapshots"

    @property
    def current(self) -> Path:
        """Symbolic link to the live snapshot, switched atomically by the nightly run."""
        return self.root / "current"

    @property
    def landing(self) -> Path:
        """Files written by the API (feedback), picked up by the next nightly ingest."""
        return self.root / "landing"

    @property
    def models(self) -> Path:
        """Trainings saved by nightly runs for the nights that reuse them."""
        return self.root / "models"

    @property
    def lake(self) -> Path:
        """The output lake's default place: each published day's tables as Parquet partitioned by
        day (`pipelines/lake.py`; `--lake PATH` puts it elsewhere)."""
        return self.root / "lake"

    @property
    def keys(self) -> Path:
        return self.root / "keys.json"

    @property
    def lock(self) -> Path:
        return self.root / "nightly.lock"

    def ensure(self) -> Home:
        make_folder(self.root, "--home")
        return self

    def discard_if_empty(self) -> None:
        """Remove the folder when it holds nothing but the run lock: what a run that failed on a new
        home leaves (its warehouse is removed already). A folder with anything else stays."""
        if not self.root.is_dir() or any(p != self.lock for p in self.root.iterdir()):
            return
        self.lock.unlink(missing_ok=True)
        self.root.rmdir()


def make_folder(path: Path, flag: str) -> Path:
    """Create `path` (and its parents) as a folder; a path that is a file, or one that cannot be
    created, is the caller's `flag` pointing at the wrong place: a UsageError naming it (exit 2)."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a folder; give a folder (a new one is created)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a parent that is a file, no permission, a read-only disk
        raise UsageError(f"{flag} {path}: cannot create the folder ({exc.strerror or exc})") from exc
    return path


def output_file(path: Path, flag: str) -> Path:
    """A file the run will write at its end, checked before the work starts: not a folder, and in a
    folder that exists or can be made (a UsageError naming `flag` otherwise, not hours later)."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file path (e.g. {path / 'out.parquet'})")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, no permission
        in_the_way = isinstance(exc, FileExistsError | NotADirectoryError)
        why = "a file is in the way" if in_the_way else exc.strerror
        raise UsageError(f"{flag} {path}: cannot create the folder {path.parent} to hold it "
                         f"({why or exc})") from exc
    return path


def resolve_home(home: str | Path | None = None) -> Home:
    """`--home`, else `$CIRCLEBUY_HOME`, else `./circlebuy-home`."""
    chosen = home or os.environ.get(HOME_ENV) or DEFAULT_HOME
    path = Path(chosen).expanduser().resolve()
    if path.exists() and not path.is_dir():  # before any command reads "no warehouse yet" into it
        raise UsageError(f"--home {path}: exists and is not a folder; give the folder that holds (or is to "
                         "hold) the warehouse")
    return Home(path)

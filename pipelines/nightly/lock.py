"""One nightly run per home at a time: an exclusive, non-blocking flock on HOME/nightly.lock.

The kernel drops the lock when the process dies, so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from common.errors import RunLockedError


@contextmanager
def run_lock(path: Path, *, what: str) -> Iterator[None]:
    """Hold the home's run lock for the duration of the block, or raise RunLockedError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunLockedError(
                f"another run is using this home ({path.parent}); it holds {path.name}: {holder}. "
                "Wait for it to finish, then run again."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "what": what,
                                 "since": datetime.now(UTC).isoformat(timespec="seconds")}))
        handle.flush()
        yield
    finally:
        handle.close()

"""The live snapshot: loaded once at start, swapped atomically when HOME/current changes.

A watcher thread polls HOME/current (and keys.json) every `watch_interval_s`. A new target is
loaded and validated off the event loop; only a whole, valid snapshot replaces the reference
that requests read (one attribute assignment, so a request sees the old or the new, never half).
A refused target is remembered and retried only when its manifest changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from api.keys import KeyStore
from api.snapshot import Snapshot, load_snapshot, snapshot_signature
from common.errors import SnapshotError
from common.home import Home

log = logging.getLogger("circlebuy.api.snapshot")


class LiveSnapshot:
    """Holds the snapshot being served and the outcome of the last attempt to switch."""

    def __init__(self, home: Home):
        self.home = home
        self.current: Snapshot | None = None
        self.last_error: str | None = None  # for the server log: names files and paths
        self.public_error: str | None = "starting"  # the same, for anyone: no paths
        self.loaded_at: float | None = None
        self.swaps = 0
        self.refusals = 0
        self._attempted: tuple[str, int | None] | None = None
        self._lock = threading.Lock()

    def check(self) -> bool:
        """Load HOME/current if it points somewhere new; True when the live snapshot changed."""
        with self._lock:
            signature = snapshot_signature(self.home.current)
            if signature is None:
                if self.current is None:
                    self.last_error = f"{self.home.current}: missing or dangling; no snapshot published yet"
                    self.public_error = "no snapshot has been published yet"
                return False
            if signature == self._attempted:
                return False
            self._attempted = signature
            try:
                snapshot = load_snapshot(Path(signature[0]))
            except SnapshotError as exc:
                self.refusals += 1
                self.last_error = str(exc)
                self.public_error = "the published snapshot was refused (incomplete or altered)"
                keeping = self.current.run_id if self.current else "none"
                log.error("snapshot refused: %s (still serving %s)", exc, keeping)
                return False
            except Exception as exc:  # never let a surprise kill the watcher or the service
                self.refusals += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.public_error = "the published snapshot could not be loaded"
                log.exception("snapshot refused after an unexpected error")
                return False
            self.current = snapshot
            self.loaded_at = time.time()
            self.last_error = self.public_error = None
            self.swaps += 1
            log.info("snapshot live: %s (%s)", snapshot.run_id, snapshot.path)
            return True


class Watcher:
    """Background thread: checks the snapshot link and the keys file every interval, and runs the
    `also` steps (reading what other workers appended to the feedback and exclusion logs)."""

    def __init__(self, live: LiveSnapshot, keys: KeyStore, interval_s: float,
                 also: tuple[Callable[[], object], ...] = ()):
        self.live, self.keys, self.interval_s = live, keys, interval_s
        self.steps = (live.check, keys.refresh, *also)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="circlebuy-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            for step in self.steps:
                try:
                    step()
                except Exception:
                    log.exception("watcher step %s failed", getattr(step, "__name__", step))

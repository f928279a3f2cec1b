"""Platform-wide exclusions (a recalled product), durable before the answer and applied at once.

The log is `common.exclusions`' file, HOME/landing/_exclusions.csv, beside the feedback landing
files: one line per admin call (`exclude` / `lift`), appended, flushed and fsynced under an
exclusive file lock before the route answers. The active set is rebuilt from the log at start (so
an exclusion survives a restart), and before each write the lines other workers appended are read;
the watcher reads them too (`refresh`), so every worker applies a new exclusion within a second, the
worker that recorded it at once. The nightly's picks stage reads the same file.
"""

from __future__ import annotations

import fcntl
import os
import threading
import uuid
from datetime import datetime

from api.clock import TZ, platform_now
from common.exclusions import (
    HEADER,
    ExclusionEvent,
    apply_events,
    exclusions_path,
    format_event,
    parse_events,
)
from common.home import Home
from common.snapshot_format import fsync_path


class ExclusionStore:
    """The append-only exclusions log plus the set of products excluded now."""

    def __init__(self, home: Home):
        self.path = exclusions_path(home)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._active: dict[str, ExclusionEvent] = {}
        self._ids: frozenset[str] = frozenset()
        self._offset = 0
        self._lock = threading.Lock()
        self.refresh()

    @property
    def excluded(self) -> frozenset[str]:
        """The product ids excluded now (one attribute read: safe from any thread)."""
        return self._ids

    def active(self) -> list[ExclusionEvent]:
        """The exclude events in force, by product id."""
        return sorted(self._active.values(), key=lambda e: e.product_id)

    def get(self, product_id: str) -> ExclusionEvent | None:
        return self._active.get(product_id)

    def refresh(self) -> None:
        """Read the lines appended since the last look (by this or another worker)."""
        with self._lock:
            self._catch_up()

    def _catch_up(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # a torn last line (crash mid-write) is left for later
        if end == 0:
            return
        apply_events(self._active, parse_events(data[:end].decode("utf-8", errors="replace"), str(self.path)))
        self._ids = frozenset(self._active)
        self._offset += end

    def exclude(self, product_id: str, reason: str, by: str, now: datetime | None = None
                ) -> tuple[ExclusionEvent, bool]:
        """Exclude a product everywhere: (its exclusion, created); if excluded already (the first, False)."""
        written, before = self._append("exclude", product_id, reason, by, now)
        return (written, True) if written is not None else (before, False)  # type: ignore[return-value]

    def lift(self, product_id: str, by: str, now: datetime | None = None
             ) -> tuple[ExclusionEvent, ExclusionEvent] | None:
        """Lift a product's exclusion: (the exclusion, the lift event); None when it was not excluded."""
        written, before = self._append("lift", product_id, "", by, now)
        return None if written is None or before is None else (before, written)

    def _append(self, action: str, product_id: str, reason: str, by: str, now: datetime | None
                ) -> tuple[ExclusionEvent | None, ExclusionEvent | None]:
        """Write one event durably unless it changes nothing: (the event written or None, the product's
        exclusion before it or None)."""
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._catch_up()  # what other workers appended since we last looked
                before = self._active.get(product_id)
                if (action == "exclude") == (before is not None):
                    return None, before  # excluded already / nothing to lift
                stamp = (now or platform_now()).astimezone(TZ).isoformat(timespec="microseconds")
                event = ExclusionEvent(uuid.uuid4().hex, action, product_id, reason, by, stamp)
                size = os.fstat(fd).st_size
                text = format_event(event)
                if size == 0:
                    text = ",".join(HEADER) + "\n" + text
                elif os.pread(fd, 1, size - 1) != b"\n":
                    text = "\n" + text  # never glue a new line onto a torn one
                os.write(fd, text.encode("utf-8"))
                os.fsync(fd)
                if size == 0:
                    fsync_path(self.path.parent)
                self._catch_up()
                return event, before
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

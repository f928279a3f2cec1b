"""Durable feedback: one CSV line per accepted request, appended, flushed and fsynced before 202.

Files: HOME/landing/feedback/<YYYY-MM-DD>.csv (the platform's date) with the header
`feedback_id,group_id,product_id,action,at` — the contract's feedback columns, so the nightly
ingest reads HOME/landing as a RAW folder. `at` is ISO-8601 with its offset (Asia/Shanghai).
`feedback_id` is `<key_id>:<Idempotency-Key>` (or `<key_id>:<fresh UUID>`): idempotency keys are
scoped to the API key that sent them, so two shopkeepers who pick the same key never meet (neither
can see, block or pre-claim the other's request), and a retried request with the same key from the
same caller is recorded once. The index of seen ids is rebuilt from the files at start, and before
each append the lines other workers wrote to today's file since the last look are read (under an
exclusive file lock), so the guarantee holds across restarts and across workers.
"""

from __future__ import annotations

import csv
import fcntl
import io
import logging
import os
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from api.clock import TZ, platform_day, platform_now
from common.home import Home
from common.snapshot_format import fsync_path

HEADER = ("feedback_id", "group_id", "product_id", "action", "at")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
log = logging.getLogger("circlebuy.api.feedback")


@dataclass(frozen=True)
class FeedbackRecord:
    feedback_id: str
    group_id: str
    product_id: str
    action: str
    at: str

    def same_request(self, group_id: str, product_id: str, action: str) -> bool:
        return (self.group_id, self.product_id, self.action) == (group_id, product_id, action)


def scoped_id(key_id: str, idempotency_key: str | None) -> str:
    """The feedback id of one caller's request: the caller's key id, then its key (or a fresh UUID)."""
    return f"{key_id}:{idempotency_key or uuid.uuid4().hex}"


class FeedbackStore:
    """Append-only landing files plus an in-memory index of feedback ids already recorded."""

    def __init__(self, home: Home):
        self.folder = home.landing / "feedback"
        self._seen: dict[str, FeedbackRecord] = {}
        self._latest: dict[str, dict[str, FeedbackRecord]] = {}  # group -> product -> its last mark
        self._offsets: dict[Path, int] = {}
        self._lock = threading.Lock()
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.folder.glob("*.csv")):
            self._catch_up(path)

    def __len__(self) -> int:
        return len(self._seen)

    def get(self, feedback_id: str) -> FeedbackRecord | None:
        return self._seen.get(feedback_id)

    def today(self) -> str:
        """The platform's date now (ISO), by the clock that stamps the marks: the day a mark made now
        lands on, and the day whose pick list posted / skip may be marked on."""
        return platform_day(platform_now().astimezone(TZ)).isoformat()

    def _remember(self, record: FeedbackRecord) -> None:
        marks = self._latest.setdefault(record.group_id, {})
        last = marks.get(record.product_id)
        if last is None or record.at >= last.at:
            marks[record.product_id] = record

    def marks_on(self, day: str, groups: list[str]) -> dict[tuple[str, str], str]:
        """(group, product) -> the last action recorded on `day` (platform date) for these groups."""
        out = {}
        for group_id in groups:
            for product_id, r in tuple(self._latest.get(group_id, {}).items()):
                if r.at[:10] == day:
                    out[(group_id, product_id)] = r.action
        return out

    def hidden(
        self, group_id: str, among: frozenset[str], day: str, hide_skipped: bool, not_interested_days: int
    ) -> frozenset[str]:
        """Which of `among` (the products on the group's list for `day`, platform date ISO) to leave out at
        read time: those whose last mark is `not_interested`, made within `not_interested_days` before the
        day (or later), and, when `hide_skipped`, those marked `skip` on the day or later."""
        marks = self._latest.get(group_id)
        if not marks:
            return frozenset()
        found = [r for r in map(marks.get, among) if r is not None and r.action != "posted"]
        if not found:
            return frozenset()
        since = (date.fromisoformat(day) - timedelta(days=not_interested_days)).isoformat()
        return frozenset(
            r.product_id
            for r in found
            if (r.action == "not_interested" and r.at[:10] > since)
            or (hide_skipped and r.action == "skip" and r.at[:10] >= day)
        )

    def refresh(self) -> None:
        """Index the lines other workers appended to any landing file since the last look (the watcher
        calls this every interval, so their marks reach this worker's lists within a second)."""
        with self._lock:
            for path in sorted(self.folder.glob("*.csv")):
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    continue
                if size > self._offsets.get(path, 0):
                    self._catch_up(path)

    def _catch_up(self, path: Path) -> None:
        """Index the complete lines of `path` after the offset already read."""
        start = self._offsets.get(path, 0)
        try:
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1  # a torn last line (crash mid-write) is left for later
        text = data[:end].decode("utf-8", errors="replace")
        for row in csv.reader(io.StringIO(text)):
            if not row or tuple(row) == HEADER:
                continue
            if len(row) != len(HEADER):
                log.warning("%s: skipping a line with %d fields (expected %d)", path, len(row), len(HEADER))
                continue
            record = FeedbackRecord(*row)
            if self._seen.setdefault(record.feedback_id, record) is record:
                self._remember(record)
        self._offsets[path] = start + end

    def record(
        self, group_id: str, product_id: str, action: str, feedback_id: str, now: datetime | None = None
    ) -> tuple[FeedbackRecord, bool]:
        """Write one line durably; returns (record, created). An already-seen id returns the first record.

        `feedback_id` comes from `scoped_id`, so a caller only ever meets its own earlier requests."""
        with self._lock:
            seen = self._seen.get(feedback_id)
            if seen is not None:
                return seen, False
            stamp = (now or platform_now()).astimezone(TZ)
            path = self.folder / f"{platform_day(stamp).isoformat()}.csv"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._catch_up(path)  # lines another worker appended since we last looked
                seen = self._seen.get(feedback_id)
                if seen is not None:
                    return seen, False
                record = FeedbackRecord(
                    feedback_id, group_id, product_id, action, stamp.isoformat(timespec="microseconds")
                )
                size = os.fstat(fd).st_size
                buf = io.StringIO()
                writer = csv.writer(buf, lineterminator="\n")
                if size == 0:
                    writer.writerow(HEADER)
                elif not _ends_with_newline(path, size):
                    buf.write("\n")  # never glue a new line onto a torn one
                writer.writerow(
                    [record.feedback_id, record.group_id, record.product_id, record.action, record.at]
                )
                os.write(fd, buf.getvalue().encode("utf-8"))
                os.fsync(fd)
                if size == 0:
                    fsync_path(self.folder)
                self._offsets[path] = os.fstat(fd).st_size
                self._seen[feedback_id] = record
                self._remember(record)
                return record, True
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)


def _ends_with_newline(path: Path, size: int) -> bool:
    with open(path, "rb") as fh:
        fh.seek(size - 1)
        return fh.read(1) == b"\n"

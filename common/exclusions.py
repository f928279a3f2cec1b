"""Platform-wide exclusions (a recalled product): the append-only log the API writes and the nightly reads.

File: HOME/landing/_exclusions.csv, one line per admin call, header `event_id,action,product_id,reason,
by,at`: `action` is `exclude` or `lift`, `by` the admin key's id, `at` ISO-8601 with its offset. The
leading `_` keeps it out of the nightly ingest (it is not a contract table); the API writes it
(`api.exclusion_store`) and filters every picks answer by it at once, and the nightly's picks stage
reads it (`read_exclusions`) so that the next published lists leave the products out as well.
A product is excluded while its last event is `exclude`.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from common.home import Home

EXCLUSIONS_FILE = "_exclusions.csv"
HEADER = ("event_id", "action", "product_id", "reason", "by", "at")
ACTIONS = ("exclude", "lift")
SCHEMA = {"product_id": pl.String, "reason": pl.String, "by": pl.String, "at": pl.String}
log = logging.getLogger("circlebuy.exclusions")


@dataclass(frozen=True)
class ExclusionEvent:
    """One line of the log: a product excluded or an exclusion lifted."""

    event_id: str
    action: str
    product_id: str
    reason: str
    by: str
    at: str


def exclusions_path(home: Home) -> Path:
    return home.landing / EXCLUSIONS_FILE


def parse_events(text: str, where: str = EXCLUSIONS_FILE) -> list[ExclusionEvent]:
    """The events in `text` (complete lines of the log, header lines skipped); a malformed line is
    logged and skipped, never fatal: the log is the service's own file."""
    events = []
    for row in csv.reader(io.StringIO(text)):
        if not row or tuple(row) == HEADER:
            continue
        if len(row) != len(HEADER) or row[1] not in ACTIONS:
            log.warning("%s: skipping a malformed line (%d fields, action %r)", where, len(row), row[1:2])
            continue
        events.append(ExclusionEvent(*row))
    return events


def apply_events(active: dict[str, ExclusionEvent], events: Iterable[ExclusionEvent]) -> None:
    """Fold events, in log order, into `active` (product_id -> its exclude event)."""
    for event in events:
        if event.action == "exclude":
            active.setdefault(event.product_id, event)
        else:
            active.pop(event.product_id, None)


def format_event(event: ExclusionEvent) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(
        [event.event_id, event.action, event.product_id, event.reason, event.by, event.at]
    )
    return buf.getvalue()


def read_exclusions(home: Home) -> pl.DataFrame:
    """product_id, reason, by, at of every product excluded now (empty without a log), for the nightly."""
    path = exclusions_path(home)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return pl.DataFrame(schema=SCHEMA)
    text = data[: data.rfind(b"\n") + 1].decode("utf-8", errors="replace")  # a torn last line waits
    active: dict[str, ExclusionEvent] = {}
    apply_events(active, parse_events(text, str(path)))
    rows = [(e.product_id, e.reason, e.by, e.at) for e in active.values()]
    return pl.DataFrame(rows, schema=SCHEMA, orient="row").sort("product_id")

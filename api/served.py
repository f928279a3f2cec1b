"""The picks a group is served: the published list less what must not be shown any more, at read time.

A shopkeeper's "not interested" (and "skip", when `Settings.hide_skipped`) from the landed feedback,
and platform-wide exclusions (`api.exclusion_store`), take a product off the list at once — on the
next request, not at the next nightly. The common case stays the prepared bytes of the snapshot: a
list none of whose products is hidden is answered as published. A list that loses picks is built
once per (snapshot, locale, date, group, hidden set), with the remaining picks ranked 1..n again.
"""

from __future__ import annotations

import json
import threading

from api.exclusion_store import ExclusionStore
from api.feedback_store import FeedbackStore
from api.settings import Settings
from api.snapshot import Snapshot

CACHE_ENTRIES = 8192  # filtered bodies kept; the cache starts again when full (they are cheap to rebuild)


class ServedPicks:
    """Filters published pick lists by landed feedback and platform-wide exclusions."""

    def __init__(self, feedback: FeedbackStore, exclusions: ExclusionStore, settings: Settings):
        self.feedback = feedback
        self.exclusions = exclusions
        self.settings = settings
        self._cache: dict[tuple, bytes] = {}
        self._lock = threading.Lock()

    def hidden(self, snap: Snapshot, group_id: str, day: str | None) -> frozenset[str]:
        """The products on the group's published list for `day` that are not to be shown now."""
        day = day or snap.default_picks_date
        listed = snap.picked(group_id, day)
        if not listed:
            return frozenset()
        own = self.feedback.hidden(
            group_id, listed, day, self.settings.hide_skipped, self.settings.not_interested_days
        )
        excluded = self.exclusions.excluded
        return (own | (listed & excluded)) if excluded else own

    def body(self, snap: Snapshot, group_id: str, day: str | None, locale: str) -> bytes | None:
        """The picks body as served (see the module); None when the snapshot has no such date."""
        body = snap.picks_body(group_id, day, locale)
        if body is None:
            return None
        hidden = self.hidden(snap, group_id, day)
        if not hidden:
            return body
        key = (snap.run_id, locale, day or snap.default_picks_date, group_id, hidden)
        cached = self._cache.get(key)
        if cached is None:
            cached = without(body, hidden)
            with self._lock:
                if len(self._cache) >= CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[key] = cached
        return cached


def without(body: bytes, hidden: frozenset[str]) -> bytes:
    """A picks body less the picks of `hidden` products, the rest ranked 1..n in their order."""
    data = json.loads(body)
    kept = [p for p in data["picks"] if p["product_id"] not in hidden]
    for rank, pick in enumerate(kept, start=1):
        pick["rank"] = rank
    data["picks"] = kept
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

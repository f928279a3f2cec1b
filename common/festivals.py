"""The annual events retail demand swings around, the day each falls on in a given year, and the
same days a year earlier.

One definition for the synthetic world's calendar (pipelines.generate.calendar, which adds what each
event does to demand) and for the forecast, which reads only the dates: near an event, the daily
forecast is corrected by how it would have missed the same days of the event's previous occurrence
(aggregation.event_analog); the picks read what sold on the same days a year earlier
(recsys.models.year_ago, year_ago_shift). The lunar festivals (春节, 中秋节) come from hard-coded tables for
2009-2035; an event outside them has no date (None), never a guessed one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

import numpy as np

T = TypeVar("T")

# 春节, the first day of the first lunar month
CNY: dict[int, date] = {y: date.fromisoformat(d) for y, d in {
    2009: "2009-01-26", 2010: "2010-02-14", 2011: "2011-02-03", 2012: "2012-01-23",
    2013: "2013-02-10", 2014: "2014-01-31", 2015: "2015-02-19", 2016: "2016-02-08",
    2017: "2017-01-28", 2018: "2018-02-16", 2019: "2019-02-05", 2020: "2020-01-25",
    2021: "2021-02-12", 2022: "2022-02-01", 2023: "2023-01-22", 2024: "2024-02-10",
    2025: "2025-01-29", 2026: "2026-02-17", 2027: "2027-02-06", 2028: "2028-01-26",
    2029: "2029-02-13", 2030: "2030-02-03", 2031: "2031-01-23", 2032: "2032-02-11",
    2033: "2033-01-31", 2034: "2034-02-19", 2035: "2035-02-08",
}.items()}

# 中秋节, the 15th day of the eighth lunar month
MID_AUTUMN: dict[int, date] = {y: date.fromisoformat(d) for y, d in {
    2009: "2009-10-03", 2010: "2010-09-22", 2011: "2011-09-12", 2012: "2012-09-30",
    2013: "2013-09-19", 2014: "2014-09-08", 2015: "2015-09-27", 2016: "2016-09-15",
    2017: "2017-10-04", 2018: "2018-09-24", 2019: "2019-09-13", 2020: "2020-10-01",
    2021: "2021-09-21", 2022: "2022-09-10", 2023: "2023-09-29", 2024: "2024-09-17",
    2025: "2025-10-06", 2026: "2026-09-25", 2027: "2027-09-15", 2028: "2028-10-03",
    2029: "2029-09-22", 2030: "2030-09-12", 2031: "2031-10-01", 2032: "2032-09-19",
    2033: "2033-09-08", 2034: "2034-09-27", 2035: "2035-09-16",
}.items()}

FIRST_YEAR, LAST_YEAR = min(CNY), max(CNY)
assert set(CNY) == set(MID_AUTUMN) == set(range(FIRST_YEAR, LAST_YEAR + 1))

LUNAR = {"cny": CNY, "mid_autumn": MID_AUTUMN}


def day_in(when: str, year: int) -> date | None:
    """The day `when` falls on in `year`: "MM-DD" every year, or a lunar table ("cny", "mid_autumn"),
    either with "+N" days. None for a lunar day outside the tables' years."""
    base, _, plus = when.partition("+")
    if base in LUNAR:
        day = LUNAR[base].get(year)
        if day is None:
            return None
    else:
        day = date(year, int(base[:2]), int(base[3:]))
    return day + timedelta(days=int(plus or 0))


@dataclass(frozen=True)
class AnnualEvent:
    name: str
    label: str  # in Chinese
    when: str  # as day_in reads it
    # a platform's shopping festival (618, 双11): a promotion that runs up to the day, then a lull while
    # buyers use up what they stocked; one of them shows what the next one does to demand
    shopping: bool = False


# What the forecast knows: the Chinese platforms' festivals and shopping days, and Christmas (real
# retail data from elsewhere swings around it). The Lantern Festival is always 14 days after CNY, so
# CNY's previous occurrence lines it up too.
ANNUAL_EVENTS: tuple[AnnualEvent, ...] = (
    AnnualEvent("cny", "春节", "cny"),
    AnnualEvent("618", "618", "06-18", shopping=True),
    AnnualEvent("mid_autumn", "中秋节", "mid_autumn"),
    AnnualEvent("double11", "双11", "11-11", shopping=True),
    AnnualEvent("christmas", "圣诞节", "12-25"),
)


@dataclass(frozen=True)
class Occurrence:
    event: AnnualEvent
    day: date


def occurrences_between(first: date, last: date,
                        events: tuple[AnnualEvent, ...] = ANNUAL_EVENTS) -> list[Occurrence]:
    """Every known occurrence of `events` on a day in first..last (inclusive), in date order."""
    out = [Occurrence(e, d) for year in range(first.year, last.year + 1) for e in events
           for d in [day_in(e.when, year)] if d is not None and first <= d <= last]
    return sorted(out, key=lambda o: (o.day, o.event.name))


def previous_occurrence(occurrence: Occurrence) -> Occurrence | None:
    """The same event a year earlier (None where the tables do not reach)."""
    day = day_in(occurrence.event.when, occurrence.day.year - 1)
    return None if day is None else Occurrence(occurrence.event, day)


WINDOW_DAYS = 21  # a day this close to an event's day is read against the event's previous occurrence
YEAR_DAYS = 364  # away from every event, a year ago is 52 weeks back: the same weekday


SIBLING_MIN_GAP_DAYS = 60  # another shopping festival this close before is not over yet


def sibling_occurrences(occurrence: Occurrence) -> list[Occurrence]:
    """For a shopping festival, the other shopping festivals of the year before it, latest first: in
    a platform's first year its own previous occurrence is not in the history, and the latest 618 is
    the best evidence there is of what 双11 will do (a promotion, then a lull). None for any other
    event, nor any held less than SIBLING_MIN_GAP_DAYS before it (its weeks would not be over)."""
    if not occurrence.event.shopping:
        return []
    first = occurrence.day - timedelta(days=YEAR_DAYS)
    last = occurrence.day - timedelta(days=SIBLING_MIN_GAP_DAYS)
    found = [o for o in occurrences_between(first, last)
             if o.event.shopping and o.event.name != occurrence.event.name]
    return found[::-1]


@dataclass(frozen=True)
class Analog:
    """An event near the horizon, the earlier occurrence read as its evidence (`previous`, `shift`
    days earlier: the same event a year before) and the horizon days it corrects. `instead` holds the
    occurrences to read, in turn, where the history does not reach `previous` (sibling_occurrences)."""

    near: Occurrence
    previous: Occurrence
    days: np.ndarray  # per horizon day: this event is the day's nearest within WINDOW_DAYS
    instead: tuple[Occurrence, ...] = ()

    @property
    def shift(self) -> int:
        return (self.near.day - self.previous.day).days

    @property
    def is_last_year(self) -> bool:
        """Whether the evidence is the same event's previous occurrence (else another shopping festival)."""
        return self.previous.event == self.near.event

    def origin(self, origin_day: date) -> date:
        """The day that stood to the evidence's event as `origin_day` stands to this year's."""
        return origin_day - timedelta(days=self.shift)

    def when(self) -> str:
        """When the evidence was, as the report's reasons say it: "last year", or "at 618 (2025-06-18)"."""
        return "last year" if self.is_last_year else f"at {self.previous.event.label} ({self.previous.day})"

    def alternatives(self) -> list[Analog]:
        """This analog, then one reading each of `instead` in turn (the same days corrected)."""
        return [self, *(Analog(self.near, o, self.days) for o in self.instead)]

    def said(self) -> dict:
        """What the report says of the evidence: the same event last year, or which other festival."""
        out = {"event": self.near.event.name, "label": self.near.event.label,
               "event_day": self.near.day.isoformat()}
        last_year = previous_occurrence(self.near)
        if last_year is not None:
            out["last_year"] = last_year.day.isoformat()
        if not self.is_last_year:
            out["read_instead"] = {"event": self.previous.event.name, "label": self.previous.event.label,
                                   "day": self.previous.day.isoformat()}
        return out


class NoHistory(str):
    """Why an analog cannot be read because the history does not reach it (too short before its
    origin, nothing sold then): read_first moves on to the next alternative. Any other reason (no
    sign of the event, an engine's error) ends the search there."""


def read_first(analog: Analog, read: Callable[[Analog], T | str]) -> tuple[Analog, T | str, list[str]]:
    """`read` of the analog's first alternative whose history can be read (`read` returns a NoHistory
    saying why not, or another str for any other reason it stops): (that alternative, what it read,
    why each one before it could not be read). Where none is read: (the analog itself, every reason met
    in one str, [])."""
    reasons: list[str] = []
    for alternative in analog.alternatives():
        got = read(alternative)
        if not isinstance(got, str):
            return alternative, got, reasons
        reasons.append(got if alternative is analog else
                       f"nor {alternative.previous.event.label} ({alternative.previous.day}): {got}")
        if not isinstance(got, NoHistory):
            break
    return analog, "; ".join(reasons), []


def analogs_for(origin_day: date, horizon: int) -> list[Analog]:
    """One Analog per event that is the nearest event within WINDOW_DAYS of some horizon day (and has
    a known previous occurrence), in date order; each horizon day goes to at most one of them (late
    November: the days after 双11 to it, the days before Christmas to Christmas)."""
    first = origin_day - timedelta(days=WINDOW_DAYS)
    last = origin_day + timedelta(days=horizon - 1 + WINDOW_DAYS)
    known = [(o, p) for o in occurrences_between(first, last)
             for p in [previous_occurrence(o)] if p is not None]
    owner = []
    for h in range(horizon):
        day = origin_day + timedelta(days=h)
        gaps = [abs((o.day - day).days) for o, _ in known]
        owner.append(int(np.argmin(gaps)) if gaps and min(gaps) <= WINDOW_DAYS else -1)
    owner = np.array(owner)
    return [Analog(o, p, owner == k, tuple(sibling_occurrences(o)))
            for k, (o, p) in enumerate(known) if (owner == k).any()]


def year_ago_shift(origin_day: date, horizon: int) -> int:
    """How many days back the same `horizon` days from `origin_day` lay a year earlier.

    The candidates are 52 weeks (the same weekdays) and, for every event within WINDOW_DAYS of the
    days this year or of the days 52 weeks back, the gap between its two occurrences (384 days for
    春节 2026). Each is scored by how far it moves the days from where they stand to every event near
    them in either year (this year's days 3 weeks before 春节 should be last year's 3 weeks before
    春节, not its stock-up; the week after Christmas last year's week after Christmas); the least
    misplaced wins, ties going to the shift nearest 52 weeks. Lunar festivals move against the solar
    calendar, so near both kinds at once no shift fits every event (early January: Christmas and
    春节), and the one that misplaces the days by fewer days in all wins."""
    mid = origin_day + timedelta(days=(horizon - 1) // 2)
    reach = WINDOW_DAYS + horizon // 2  # an event this far from the middle day is near the days

    def offset(day: date, event: AnnualEvent) -> int | None:
        """Days from `day` to the event's nearest occurrence (None outside the lunar tables)."""
        days = [d for y in (day.year - 1, day.year, day.year + 1) for d in [day_in(event.when, y)] if d]
        return min(((d - day).days for d in days), key=abs, default=None)

    def misplaced(shift: int) -> int:
        then, total = mid - timedelta(days=shift), 0
        for event in ANNUAL_EVENTS:
            a, b = offset(mid, event), offset(then, event)
            if a is None or b is None or min(abs(a), abs(b)) > reach:
                continue  # far from the days in both years (or unknown): it places nothing
            total += abs(a - b)
        return total

    def gaps(day: date, years: int) -> set[int]:
        """The gap between the two occurrences of each event near `day`, the one `years` later (0 or
        1) being this year's."""
        found = set()
        for event in ANNUAL_EVENTS:
            gap = offset(day, event)
            if gap is None or abs(gap) > reach:
                continue
            year = (day + timedelta(days=gap)).year
            pair = (day_in(event.when, year - 1 + years), day_in(event.when, year + years))
            if None not in pair:
                found.add((pair[1] - pair[0]).days)
        return found

    candidates = {YEAR_DAYS} | gaps(mid, 0) | gaps(mid - timedelta(days=YEAR_DAYS), 1)
    return min(sorted(candidates), key=lambda s: (misplaced(s), abs(s - YEAR_DAYS)))

"""The platform's annual events: their days, and last year's occurrence of each."""

from __future__ import annotations

from datetime import date

from common.festivals import ANNUAL_EVENTS, CNY, day_in, occurrences_between, previous_occurrence


def test_lunar_and_fixed_days_are_read_for_a_year_and_none_outside_the_tables():
    assert day_in("cny", 2026) == date(2026, 2, 17) == CNY[2026]
    assert day_in("cny+14", 2026) == date(2026, 3, 3)  # 元宵节
    assert day_in("11-11", 2011) == date(2011, 11, 11)
    assert day_in("mid_autumn", 2025) == date(2025, 10, 6)
    assert day_in("cny", 1990) is None  # never a guessed lunar day


def test_occurrences_in_a_window_are_in_date_order_and_each_has_last_years():
    found = occurrences_between(date(2025, 11, 1), date(2026, 2, 28))
    assert [(o.event.name, o.day) for o in found] == [
        ("double11", date(2025, 11, 11)), ("christmas", date(2025, 12, 25)), ("cny", date(2026, 2, 17))]
    previous = previous_occurrence(found[-1])
    assert previous is not None and previous.day == date(2025, 1, 29)
    assert {e.name for e in ANNUAL_EVENTS} >= {"cny", "618", "double11", "christmas"}


def test_a_lunar_event_before_the_tables_has_no_previous_occurrence():
    first = occurrences_between(date(2009, 1, 1), date(2009, 2, 28))
    assert [o.day for o in first] == [date(2009, 1, 26)]
    assert previous_occurrence(first[0]) is None

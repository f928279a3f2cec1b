"""The platform's annual events: their days, and last year's occurrence of each."""

from __future__ import annotations

from datetime import date

from common.festivals import (
    ANNUAL_EVENTS,
    CNY,
    YEAR_DAYS,
    NoHistory,
    analogs_for,
    day_in,
    occurrences_between,
    previous_occurrence,
    read_first,
    sibling_occurrences,
    year_ago_shift,
)


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


def test_a_year_ago_is_52_weeks_back_away_from_every_event():
    assert year_ago_shift(date(2026, 4, 20), 7) == YEAR_DAYS == 364
    assert (date(2026, 4, 20) - date(2025, 4, 21)).days == 364  # Monday to Monday


def test_near_an_event_a_year_ago_is_its_previous_occurrence():
    # the week before 春节 2026 (02-17) stands to 春节 2025 (01-29) 384 days earlier
    assert year_ago_shift(date(2026, 2, 9), 7) == (CNY[2026] - CNY[2025]).days == 384
    assert year_ago_shift(date(2011, 11, 28), 7) == 365  # the days before Christmas: by date
    assert year_ago_shift(date(2011, 9, 5), 7) == 355  # 中秋节 2011-09-12, 2010-09-22


def test_52_weeks_back_landing_near_a_moved_festival_follows_the_festival():
    # 2026-01-19..25 is more than three weeks before 春节 2026, but 52 weeks back is 春节 2025's stock-up
    # (01-20..26, 2025): the days a year earlier are those a month before 春节 2025 instead
    assert year_ago_shift(date(2026, 1, 19), 7) == 384
    assert year_ago_shift(date(2026, 3, 16), 7) == 364  # a month after: both years far from it


def test_the_shift_that_misplaces_the_days_least_wins():
    # 12 days after Christmas 2023: 52 weeks back is near 春节 2023, but following it (384 days) would
    # put the days before Christmas 2022; Christmas's own gap keeps them after it
    assert year_ago_shift(date(2024, 1, 6), 7) == 365
    # three to four weeks before 双11 2024: 52 weeks back is no nearer 双11 2023 than these days are
    # to 2024's, so the weekdays are kept, and the next day's answer does not jump
    assert year_ago_shift(date(2024, 10, 13), 7) == year_ago_shift(date(2024, 10, 16), 7) == 364


def test_a_shopping_festival_stands_in_for_the_other_and_a_festival_has_no_stand_in():
    double11, christmas, cny = occurrences_between(date(2025, 11, 1), date(2026, 2, 28))
    assert [(o.event.name, o.day) for o in sibling_occurrences(double11)] == [("618", date(2025, 6, 18))]
    six18 = occurrences_between(date(2025, 6, 1), date(2025, 6, 30))[0]
    assert [(o.event.name, o.day) for o in sibling_occurrences(six18)] == [("double11", date(2024, 11, 11))]
    assert sibling_occurrences(christmas) == sibling_occurrences(cny) == []


def test_an_analog_of_a_shopping_festival_carries_its_stand_in_and_reads_it_only_when_asked():
    [analog] = analogs_for(date(2025, 11, 10), 7)
    assert analog.previous.day == date(2024, 11, 11) and analog.is_last_year
    first, instead = analog.alternatives()
    assert first is analog
    assert instead.previous.day == date(2025, 6, 18) and not instead.is_last_year
    assert instead.shift == 146 and instead.origin(date(2025, 11, 10)) == date(2025, 6, 17)
    assert (instead.days == analog.days).all()
    assert instead.said()["read_instead"] == {"event": "618", "label": "618", "day": "2025-06-18"}
    assert "read_instead" not in analog.said() and analog.said()["last_year"] == "2024-11-11"


def test_the_first_readable_alternative_is_read_and_the_reasons_before_it_kept():
    [analog] = analogs_for(date(2025, 11, 10), 7)

    def no_history(a):
        return NoHistory("no history") if a.is_last_year else {"read": a.previous.day}

    used, got, skipped = read_first(analog, no_history)
    assert got == {"read": date(2025, 6, 18)} and skipped == ["no history"] and not used.is_last_year
    assert used.when() == "at 618 (2025-06-18)" and analog.when() == "last year"
    used, got, skipped = read_first(analog, lambda a: NoHistory("too short"))
    assert used is analog and got == "too short; nor 618 (2025-06-18): too short" and skipped == []
    # any other reason (an engine's error, no sign of the event) is no reason to read another festival
    used, got, skipped = read_first(analog, lambda a: "engine error" if a.is_last_year else {"read": 1})
    assert used is analog and got == "engine error" and skipped == []

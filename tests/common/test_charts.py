"""The chart kernel's axes: ticks for any span, the thinnest and the empty ones included (a bar chart
of rows once met a value of 5e-324, whose logarithm does not exist)."""

import math

import pytest

from common.charts import nice_ticks


@pytest.mark.parametrize("lo, hi", [(0.0, 5e-324), (0.0, 0.0), (3.0, 3.0), (0.0, 1e-12), (2.0, 1.0)])
def test_ticks_for_empty_or_vanishing_spans(lo, hi):
    ticks = nice_ticks(lo, hi)
    assert len(ticks) >= 2 and ticks[0] <= lo and ticks[-1] >= max(lo, hi) and all(map(math.isfinite, ticks))


def test_ticks_cover_ordinary_spans_with_round_steps():
    assert nice_ticks(0.0, 95.0, integer=True) == [0.0, 25.0, 50.0, 75.0, 100.0]


def test_a_quantity_that_rounds_to_a_whole_number_is_written_as_one():
    """A fan chart's tooltips read "P10 0" for an exact zero: a P10 of 0.04 read "P10 0.0" beside it."""
    from common.charts import fmt_qty

    assert [fmt_qty(v) for v in (0, 0.04, -0.04, 1.96, 2.5, 9.94, 12.4, 1234.5)] == [
        "0", "0", "0", "2", "2.5", "9.9", "12", "1,234"]

"""The one percentile bootstrap interval (core/intervals.py): numpy's 2.5 % and 97.5 %
percentiles of the defined draws, None for an end without one. Fast: no warehouse."""

from __future__ import annotations

import numpy as np

from neurostock.core.intervals import percentile_interval


def test_the_interval_is_numpys_percentiles_of_the_defined_draws():
    draws = np.random.default_rng(1).normal(size=1000)
    with_nan = np.r_[draws, np.nan, np.nan]
    low, high = np.percentile(draws, [2.5, 97.5])
    assert percentile_interval(with_nan) == (float(low), float(high))
    assert percentile_interval(draws, level=0.9) == tuple(
        float(v) for v in np.percentile(draws, [5.0, 95.0]))


def test_bounds_take_each_end_from_their_own_draws():
    rng = np.random.default_rng(2)
    lower, upper = rng.random(500), 1 + rng.random(500)
    upper[:10] = np.nan
    assert percentile_interval(lower, high_draws=upper) == (
        float(np.percentile(lower, 2.5)), float(np.percentile(upper[10:], 97.5)))


def test_an_end_without_a_defined_draw_is_none():
    nothing = np.full(5, np.nan)
    assert percentile_interval(nothing) == (None, None)
    assert percentile_interval(np.array([])) == (None, None)
    assert percentile_interval(nothing, high_draws=np.ones(3)) == (None, 1.0)
    assert percentile_interval(np.ones(3), high_draws=nothing) == (1.0, None)

"""The bench's 95 % t-interval over per-seed ratios (tests/bench/sapo.t_ci), against scipy's t distribution."""

import math

import pytest

from tests.bench.sapo import t_ci


@pytest.mark.parametrize("ratios", [[1.43, 1.69, 1.43], [0.8, 1.3], [1.28, 1.41, 1.49, 0.79, 0.63, 0.89, 0.8, 1.03, 0.94]])
def test_t_interval_matches_scipy(ratios):
    stats = pytest.importorskip("scipy.stats")
    xs = [math.log(r) for r in ratios]
    lo, hi = stats.t.interval(0.95, len(xs) - 1, loc=sum(xs) / len(xs), scale=stats.sem(xs))
    assert t_ci(ratios) == pytest.approx([math.exp(lo), math.exp(hi)], rel=2e-3)


def test_t_interval_is_undefined_for_one_seed_or_a_missing_ratio():
    assert t_ci([1.2]) == [None, None]
    assert t_ci([1.2, None, 1.1]) == [None, None]
    assert t_ci([1.1, 1.1, 1.1]) == [1.1, 1.1]  # no spread, no width

import numpy as np
import pytest

from conftest import landers_in_process
from landers.see.stats import bootstrap_band, bootstrap_ci, iqm, smoothed_on_grid


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm([1, 2, 3, 4, 100, -100, 5, 6]) == pytest.approx(np.mean([2, 3, 4, 5]))
    assert iqm([1, 2, 3, 4, 1000]) == pytest.approx(3.0)  # n=5 cuts one at each end


def test_bootstrap_ci_brackets_the_statistic_and_shrinks_with_more_seeds():
    rng = np.random.default_rng(0)
    few, many = rng.normal(10, 2, 5), rng.normal(10, 2, 200)
    lo, hi = bootstrap_ci(few, iqm)
    assert lo <= iqm(few) <= hi
    lo2, hi2 = bootstrap_ci(many, iqm)
    assert hi2 - lo2 < hi - lo and lo2 < 10 < hi2


def test_bootstrap_band_and_smoothing():
    curves = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    mean, low, high = bootstrap_band(curves)
    np.testing.assert_allclose(mean, [2.0, 3.0])
    assert (low <= mean).all() and (mean <= high).all() and (high - low > 0).all()
    grid = np.array([0, 10, 25, 100])
    out = smoothed_on_grid(np.array([10, 20, 30]), np.array([1.0, 3.0, 5.0]), grid, window=2)
    assert np.isnan(out[0]) and out[1] == 1.0 and out[2] == 2.0 and out[3] == 4.0


def test_compare_bad_input():
    result = landers_in_process("compare", "CartPole-v1", "--algos", "ppo,dqn")
    assert result.returncode == 2 and "Unknown algorithm 'dqn'" in result.stderr and "Traceback" not in result.stderr

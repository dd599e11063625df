"""Suite statistics (landers.see.aggregate) against values worked out by hand on fixed inputs."""

import numpy as np
import pytest

from landers.see import aggregate as agg


def test_normalize_puts_random_at_0_and_the_threshold_at_1():
    assert agg.normalize(0.0, random=-100.0, threshold=100.0) == pytest.approx(0.5)
    np.testing.assert_allclose(agg.normalize([22.0, 475.0, 928.0], random=22.0, threshold=475.0), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError):
        agg.normalize(1.0, random=3.0, threshold=3.0)


def test_aggregates_on_a_fixed_suite():
    # env A: runs 1..4, env B: runs 5..8 -> pooled 1..8, IQM = mean(3, 4, 5, 6) = 4.5
    per_task = [np.array([1.0, 2.0, 3.0, 4.0]), np.array([5.0, 6.0, 7.0, 8.0])]
    assert agg.aggregate_iqm(per_task) == pytest.approx(4.5)
    assert agg.aggregate_mean(per_task) == pytest.approx((2.5 + 6.5) / 2)
    # three envs' means 0.5, 2.0, 10.0 -> median 2.0 (the mean would be 4.17)
    assert agg.aggregate_median([[0.0, 1.0], [2.0], [10.0, 10.0]]) == pytest.approx(2.0)
    # scores above 1 count as 1: 1 - mean(mean(0.5, 1), 0.8) = 1 - mean(0.75, 0.8) = 0.225
    assert agg.optimality_gap([[0.5, 1.5], [0.8]]) == pytest.approx(0.225)


def test_the_stratified_bootstrap_resamples_within_each_env_only():
    per_task = [np.array([0.0, 1.0]), np.array([5.0, 5.0, 5.0])]
    for sample in agg.stratified_resamples(per_task, reps=50, seed=3):
        assert len(sample[0]) == 2 and set(sample[0]) <= {0.0, 1.0}
        assert len(sample[1]) == 3 and set(sample[1]) == {5.0}


def test_the_stratified_bootstrap_ci_on_a_hand_worked_case():
    # Env A's two runs 0 and 1 resample to a mean of 0, 0.5 or 1 (chances 1/4, 1/2, 1/4); env B's
    # are all 5. The mean over envs is then 2.5, 2.75 or 3.0, so the 95% percentile interval is
    # [2.5, 3.0] (each end has far more than 2.5% of the mass) and the point is 2.75.
    per_task = [np.array([0.0, 1.0]), np.array([5.0, 5.0])]
    point, low, high = agg.stratified_bootstrap_ci(per_task, agg.aggregate_mean, reps=4000, seed=0)
    assert (point, low, high) == (2.75, 2.5, 3.0)
    # the resampled means take exactly those three values, near their chances
    means = [agg.aggregate_mean(s) for s in agg.stratified_resamples(per_task, reps=4000, seed=0)]
    values, counts = np.unique(means, return_counts=True)
    np.testing.assert_allclose(values, [2.5, 2.75, 3.0])
    np.testing.assert_allclose(counts / 4000, [0.25, 0.5, 0.25], atol=0.03)
    # a fixed seed gives the same interval; one run per env leaves nothing to resample
    assert agg.stratified_bootstrap_ci(per_task, agg.aggregate_iqm, seed=7) == \
        agg.stratified_bootstrap_ci(per_task, agg.aggregate_iqm, seed=7)
    assert agg.stratified_bootstrap_ci([[0.3], [0.9]], agg.aggregate_mean) == pytest.approx((0.6, 0.6, 0.6))


def test_performance_profile_points_and_band():
    # env A: 0, 0.5, 1.0; env B: 2, 2. Above 0.75: A 1/3, B 1 -> 2/3. Above -1: everything. Above 2: nothing.
    per_task = [np.array([0.0, 0.5, 1.0]), np.array([2.0, 2.0])]
    np.testing.assert_allclose(agg.performance_profile(per_task, np.array([-1.0, 0.25, 0.75, 2.0])),
                               [1.0, (2 / 3 + 1) / 2, (1 / 3 + 1) / 2, 0.0])
    profile, low, high = agg.performance_profile_band(per_task, np.array([0.25, 0.75]), reps=500)
    assert np.all(low <= profile + 1e-12) and np.all(profile <= high + 1e-12)
    assert low[1] < high[1]  # env A's runs differ: the band has width there


def test_probability_of_improvement():
    # X 1 or 3 against Y 2: X wins one of two pairs; ties count half; averaged over envs
    assert agg.probability_of_improvement([[1.0, 3.0]], [[2.0, 2.0]]) == pytest.approx(0.5)
    assert agg.probability_of_improvement([[2.0]], [[2.0]]) == pytest.approx(0.5)
    assert agg.probability_of_improvement([[3.0], [0.0, 1.0]], [[2.0], [1.0]]) == pytest.approx((1.0 + 0.25) / 2)
    point, low, high = agg.probability_of_improvement_ci([[5.0, 6.0]], [[1.0, 2.0]], reps=200)
    assert point == low == high == 1.0

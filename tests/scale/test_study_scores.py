"""How a study scores a trial (landers.scale.study), on curves worked out by hand: the
objectives over steps and over training time, and a study across envs (normalized means)."""

import math

import pytest

from landers.scale import study

# (step, eval mean, training seconds)
FAST = [(1000, 100.0, 2.0), (2000, 480.0, 4.0), (3000, 500.0, 6.0)]
SLOW = [(1000, 100.0, 5.0), (2000, 300.0, 10.0), (3000, 490.0, 15.0)]
NEVER = [(1000, 100.0, 1.0), (2000, 200.0, 2.0), (3000, 300.0, 3.0)]


def test_the_step_objectives():
    assert study.seed_score(FAST, "auc") == pytest.approx((100 + 480 + 500) / 3)
    assert study.seed_score(FAST, "final") == 500.0
    assert study.seed_score(FAST, "final", final=497.5) == 497.5  # the final evaluation, once there is one
    assert math.isnan(study.seed_score([], "auc"))


def test_time_to_threshold_ranks_the_run_that_gets_there_sooner_higher():
    fast, slow = (study.seed_score(c, "time-to-threshold", threshold=475.0) for c in (FAST, SLOW))
    assert fast == -4.0 and slow == -15.0 and fast > slow
    # never reaching it costs TIME_PENALTY x its seconds: below a run that reached it in more time than it trained
    assert study.seed_score(NEVER, "time-to-threshold", threshold=475.0) == -study.TIME_PENALTY * 3.0
    assert study.seed_score([(1000, 100.0, 5.0)], "time-to-threshold", threshold=475.0) < -5.0


def test_auc_over_training_time_weights_each_evaluation_by_the_seconds_it_stands_for():
    # FAST: evaluations at 2, 4, 6 s -> each stands for 2 s: the plain mean
    assert study.seed_score(FAST, "auc-time") == pytest.approx((100 + 480 + 500) / 3)
    # uneven: 100 for 1 s, 300 for 3 s -> (100 * 1 + 300 * 3) / 4 = 250 (auc over steps says 200)
    uneven = [(1000, 100.0, 1.0), (2000, 300.0, 4.0)]
    assert study.seed_score(uneven, "auc-time") == pytest.approx(250.0)
    assert study.seed_score(uneven, "auc") == pytest.approx(200.0)


def test_a_study_across_two_envs_scores_the_mean_of_normalized_scores():
    # CartPole: random 20, threshold 475; seeds' auc 247.5 and 475 -> mean 361.25 -> (361.25-20)/455 = 0.75
    # Acrobot: random -500, threshold -100; seeds' auc -300 and -300 -> (-300+500)/400 = 0.5
    scoring = study.Scoring("auc", ("CartPole-v1", "Acrobot-v1"), seeds=2, thresholds=(475.0, -100.0),
                            randoms=(20.0, -500.0))
    curves = [[(1, 247.5, 1.0)], [(1, 475.0, 1.0)], [(1, -300.0, 1.0)], [(1, -300.0, 1.0)]]
    score, runs = scoring.trial_score(curves)
    assert score == pytest.approx((0.75 + 0.5) / 2)
    assert runs == [247.5, 475.0, -300.0, -300.0]  # each run's own score, unnormalized
    # one env: the mean over seeds, as before
    one = study.Scoring("auc", ("CartPole-v1",), seeds=2)
    assert one.trial_score(curves[:2])[0] == pytest.approx(361.25)


def test_over_seeds_scores_a_trial_by_the_mean_the_iqm_or_the_worst_seed():
    # five seeds' finals, one failed: the mean pays for it, the IQM (the middle three) does not
    curves = [[(1, v, 1.0)] for v in (-160.0, -150.0, -1200.0, -170.0, -165.0)]
    score = {over: study.Scoring("final", ("Pendulum-v1",), seeds=5, over_seeds=over).trial_score(curves)[0]
             for over in study.OVER_SEEDS}
    assert score["mean"] == pytest.approx(-369.0)
    assert score["iqm"] == pytest.approx((-160 - 165 - 170) / 3)
    assert score["worst"] == -1200.0
    # a seed with no score (NaN) makes the trial's NaN under each statistic; the IQM's trim must not hide it
    assert all(math.isnan(study.Scoring("final", ("Pendulum-v1",), seeds=5, over_seeds=over).trial_score(
        curves[:4] + [[]])[0]) for over in study.OVER_SEEDS)
    # across envs the statistic is taken over each env's own seeds, not over the runs of all envs pooled
    two = study.Scoring("final", ("CartPole-v1", "Acrobot-v1"), seeds=2, thresholds=(475.0, -100.0),
                        randoms=(20.0, -500.0), over_seeds="worst")
    runs = [[(1, 475.0, 1.0)], [(1, 20.0, 1.0)], [(1, -100.0, 1.0)], [(1, -300.0, 1.0)]]
    assert two.trial_score(runs)[0] == pytest.approx((0.0 + 0.5) / 2)


def test_a_study_begun_with_other_settings_is_refused_with_what_to_change(tmp_path):
    saved = {"algo": "ppo", "space": {"lr": {}, "gamma": {}}, "trials": 10}
    study.refuse_other_settings(tmp_path, saved, {**saved, "trials": 20})  # more trials: it grows
    with pytest.raises(study.LandersError, match=r"other settings \(objective\); resume it with the same command"):
        study.refuse_other_settings(tmp_path, {**saved, "objective": "auc"}, {**saved, "objective": "final"})
    # begun when a --space file without "replace" did not add the network's size and activation
    grown = {**saved, "space": {**saved["space"], "hidden_sizes": {}, "activation": {}}}
    with pytest.raises(study.LandersError, match='add "activation": null, "hidden_sizes": null to the file'):
        study.refuse_other_settings(tmp_path, saved, grown)

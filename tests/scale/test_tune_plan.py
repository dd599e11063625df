"""What `landers tune` resolves before Ray starts (`tune.plan`): the step budget joins the space
for an objective that counts time, thresholds come from --threshold or the env, and a study of
several envs is scored on normalized scores over the algorithm's defaults. In-process, no Ray."""

import pytest

from landers.algos import get_algo
from landers.core.config import to_json_dict
from landers.core.search import Int
from landers.scale import study, tune

PPO = get_algo("ppo")


def settings(**kw) -> tune.StudySettings:
    return tune.StudySettings(**{"algo": "ppo", "env_ids": ("CartPole-v1",), "trials": 2, "seeds": 1,
                                 "space": tune.default_space(PPO), **kw})


def test_the_default_space_covers_discount_lambda_entropy_network_and_normalization():
    assert {"gamma", "gae_lambda", "ent_coef", "hidden_sizes", "activation", "norm_obs", "norm_reward"} <= set(
        tune.default_space(PPO))
    assert tune.default_space(get_algo("random")) == {}


def test_a_time_objective_searches_the_step_budget_and_scores_against_the_threshold(tmp_path):
    planned = tune.plan(settings(objective="time-to-threshold", steps=None), out=tmp_path / "s")
    assert planned.space[study.STEPS] == Int(planned.steps // 4, planned.steps, log=True)
    assert planned.scoring.thresholds == (475.0,) and not planned.scoring.normalized
    given = tune.plan(settings(objective="time-to-threshold", steps=20_000, threshold=300.0), out=tmp_path / "s")
    assert study.STEPS not in given.space and given.scoring.thresholds == (300.0,) and given.steps == 20_000
    assert study.STEPS not in tune.plan(settings(objective="auc"), out=tmp_path / "s").space


def test_the_seeds_statistic_reaches_the_scoring_and_an_iqm_of_three_seeds_is_refused(tmp_path):
    assert tune.plan(settings(seeds=4, over_seeds="iqm"), out=tmp_path / "s").scoring.over_seeds == "iqm"
    assert tune.plan(settings(), out=tmp_path / "s").scoring.over_seeds == "mean"
    with pytest.raises(Exception, match="--over-seeds iqm needs --seeds 4 or more"):
        tune.plan(settings(seeds=3, over_seeds="iqm"), out=tmp_path / "s")


def test_a_study_of_two_envs_normalizes_over_the_algorithms_defaults(tmp_path):
    planned = tune.plan(settings(env_ids=("CartPole-v1", "Acrobot-v1"), steps=10_000), out=tmp_path / "s")
    scoring = planned.scoring
    assert scoring.normalized and scoring.thresholds == (475.0, -100.0)
    cartpole, acrobot = scoring.randoms  # the random policy's 10-episode means
    assert 5 < cartpole < 60 and -501 <= acrobot < -100
    # CartPole ships a tuned PPO preset; a study across envs starts from the defaults instead
    assert planned.base_config == to_json_dict(PPO.Config())
    # --set values that shrink the batch: the defaults' num_minibatches is fitted, as train fits it
    fitted = tune.plan(settings(env_ids=("CartPole-v1", "Acrobot-v1"), steps=10_000, space={"lr": PPO.SEARCH_SPACE["lr"]},
                                options={"rnn": "lstm", "num_envs": "4"}), out=tmp_path / "s")
    assert (fitted.base_config["num_envs"], fitted.base_config["num_minibatches"]) == (4, 4)
    with pytest.raises(Exception, match="--threshold is for a study of one env"):
        tune.plan(settings(env_ids=("CartPole-v1", "Acrobot-v1"), threshold=10.0), out=tmp_path / "s")


def test_a_recurrent_study_searches_the_cores_width_and_cuts_minibatches_to_whole_envs(tmp_path):
    from landers.core.config import replace_config
    from landers.core.search import constrained, load_space
    from landers.run.spec import make_spec

    base = make_spec("ppo", "CartPole-v1", overrides={"rnn": "gru"}).hparams
    space = tune.default_space(PPO, base=base)
    assert "rnn_size" in space and "rnn_size" not in tune.default_space(PPO)
    assert "rnn_size" not in tune.default_space(PPO, base=base, fixed=frozenset({"rnn", "rnn_size"}))
    planned = tune.plan(settings(options={"rnn": "gru"}, space=space), out=tmp_path / "s")
    # best.json fixes rnn beside the searched values; the trials train on the preset with rnn
    assert planned.base_hparams["rnn"] == "gru" and planned.base_config["rnn"] == "gru"
    assert planned.base_config["num_envs"] == 8  # ppo-cartpole's
    trial_base = replace_config(PPO.Config(), planned.base_config)
    assert constrained(PPO, {"num_minibatches": 32}, trial_base)["num_minibatches"] == 8
    assert constrained(PPO, {"num_minibatches": 32}, PPO.Config(num_envs=8))["num_minibatches"] == 32
    # Memory itself may be searched from a space file: none, or either core.
    file = tmp_path / "space.json"
    file.write_text('{"rnn": {"choice": [null, "lstm", "gru"]}, "rnn_size": {"choice": [16, 64]}}')
    assert load_space(file, PPO)["rnn"].options == (None, "lstm", "gru")

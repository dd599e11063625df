"""Training on every kind of space: train -> checkpoint -> load -> predict on the env's own
observations, for each space and algorithm; and learning tests where the structure matters,
which a broken encoder or distribution fails (shown by breaking them on purpose)."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import fake_envs  # noqa: F401  registers the envs of each space
import landers
from conftest import TINY
from landers.policy import distributions, networks
from landers.policy.spaces import ObsLayout

SPACE_ENVS = ["DictCue-v0", "MultiDiscreteMatch-v0", "BitFlip-v0", "TupleGrid-v0", "DictPixels-v0"]


def train(algo, env_id, tmp_path, steps=256, **kw):
    settings = dict(TINY) if algo == "ppo" else {"num_envs": 4, "num_steps": 16}
    has_vector = ObsLayout(gym.make(env_id).observation_space).has_vector and algo != "random"
    settings = {"final_eval_episodes": 2, **({"norm_obs": True} if has_vector else {}), **settings, **kw}
    return landers.train(algo, env_id, steps=steps, run_dir=tmp_path / f"{algo}-{env_id}", backend="gymnasium",
                         **settings)


def assert_round_trip(run):
    agent = landers.load(run.run_dir)
    state = json.loads((run.run_dir / "checkpoints" / "last" / "state.json").read_text())
    assert landers.load(run.run_dir).observation_space == gym.make(state["env_id"]).observation_space
    envs = gym.vector.SyncVectorEnv([agent.make_env] * 3)
    obs, _ = envs.reset(seed=4)
    deterministic = run.spec.algo != "random"  # the random policy has no most likely action
    for _ in range(3):
        actions = agent.predict(obs)  # a batch as the vector env gives it (a dict of arrays for Dict spaces)
        if deterministic:  # the loaded agent acts as the trained one
            np.testing.assert_array_equal(actions, run.agent.predict(obs))
        singles = list(gym.vector.utils.iterate(envs.observation_space, obs))
        for i, single in enumerate(singles):
            action = agent.predict(single)
            assert envs.single_action_space.contains(action), action
            if deterministic:  # Box actions: batched float rounding
                np.testing.assert_allclose(action, actions[i], rtol=1e-5, atol=1e-6)
        obs, *_ = envs.step(actions)  # the env checks each action against its own space
    envs.close()
    assert len(landers.evaluate(agent, episodes=2).returns) == 2


# DictPixels trains a CNN: ~21 s at load 12, the others about a second.
@pytest.mark.parametrize("env_id", [pytest.param(e, marks=pytest.mark.slow) if e == "DictPixels-v0" else e
                                    for e in SPACE_ENVS])
def test_ppo_round_trip_on_each_space(env_id, tmp_path):
    assert_round_trip(train("ppo", env_id, tmp_path))


@pytest.mark.parametrize("algo", ["a2c", "trpo", "reinforce", "random"])
@pytest.mark.parametrize("env_id", ["MultiDiscreteMatch-v0", "BitFlip-v0", "TupleGrid-v0"])
def test_every_algorithm_trains_on_structured_spaces(algo, env_id, tmp_path):
    assert_round_trip(train(algo, env_id, tmp_path, steps=128))


@pytest.mark.learning
def test_ppo_reads_the_right_key_of_a_dict_observation(tmp_path, monkeypatch):
    run = train("ppo", "DictCue-v0", tmp_path, steps=8192, num_envs=8, num_steps=64, final_eval_episodes=20)
    assert run.eval.mean >= 7, run.eval  # 8 is every step right; chance is 8/3
    # The same run with an encoder that loses the categorical key stays near chance.
    real = networks.ObsEncoder.forward

    def without_cue(self, obs):
        features = real(self, obs)
        features[:, len(self.plain_columns):len(self.plain_columns) + self.onehot_width] = 0
        return features

    monkeypatch.setattr(networks.ObsEncoder, "forward", without_cue)
    broken = train("ppo", "DictCue-v0", tmp_path / "broken", steps=8192, num_envs=8, num_steps=64,
                   final_eval_episodes=20)
    assert broken.eval.mean < 4, broken.eval


@pytest.mark.learning
def test_ppo_gets_every_dimension_of_a_multidiscrete_action_right(tmp_path, monkeypatch):
    run = train("ppo", "MultiDiscreteMatch-v0", tmp_path, steps=8192, num_envs=8, num_steps=64,
                final_eval_episodes=20)
    assert run.eval.mean >= 6.5, run.eval  # 8 is every dimension right at every step; chance is 8/3
    # A distribution whose log-probability forgets all but the first dimension cannot learn the others.
    monkeypatch.setattr(distributions.MultiCategorical, "log_prob", lambda self, logits, actions: torch.log_softmax(
        logits[:, :self.nvec[0]], -1).gather(-1, actions[:, :1].long()).squeeze(-1))
    broken = train("ppo", "MultiDiscreteMatch-v0", tmp_path / "broken", steps=8192, num_envs=8, num_steps=64,
                   final_eval_episodes=20)
    assert broken.eval.mean < 5.75, broken.eval  # the first dimension alone: 8 * (1 + 1/3 + 1/3) / 3 = 4.4

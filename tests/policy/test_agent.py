import gymnasium as gym
import numpy as np
import torch

import landers
from landers.envs.spaces import space_from_json, space_to_json
from landers.policy.agent import Agent
from landers.policy.networks import ActorCritic
from landers.policy.normalize import ObsNormalizer


def test_predict_single_and_batch_in_action_space_format(cartpole_run):
    agent = landers.load(cartpole_run)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    action = agent.predict(obs)
    assert isinstance(action, int) and env.action_space.contains(action)
    batch = np.stack([obs, obs * 0.5])
    actions = agent.predict(batch)
    assert actions.shape == (2,) and actions[0] == action


def test_continuous_predict_clips_to_bounds_and_applies_obs_normalization():
    space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    torch.manual_seed(0)
    model = ActorCritic(3, space, (8,))
    with torch.no_grad():
        model.actor_head.bias.fill_(5.0)  # mean far outside the bounds
    norm = ObsNormalizer((3,))
    norm.rms.mean = np.array([10.0, 0.0, 0.0])
    agent = Agent(model, "Fake-v0", gym.spaces.Box(-np.inf, np.inf, (3,)), space, norm)
    action = agent.predict(np.array([10.0, 0.0, 0.0], np.float32))
    np.testing.assert_array_equal(action, [1.0, 1.0])
    # normalization happens inside: raw obs (10, 0, 0) is the zero input after normalization
    with torch.no_grad():
        mean = model.policy_params(torch.zeros(1, 3))[0]
    unclipped = Agent(model, "Fake-v0", agent.observation_space, gym.spaces.Box(-100, 100, (2,), np.float32), norm)
    np.testing.assert_allclose(unclipped.predict(np.array([10.0, 0.0, 0.0], np.float32)), mean[0].numpy(), rtol=1e-6)


def test_space_json_round_trip():
    for space in (gym.spaces.Discrete(4, start=1), gym.spaces.Box(-2.0, 3.0, (3,), np.float32),
                  gym.spaces.Box(np.array([0.0, -1.0]), np.array([1.0, 1.0]), dtype=np.float32)):
        again = space_from_json(space_to_json(space))
        assert again == space


def test_evaluate_api_quota_and_determinism(cartpole_run):
    agent = landers.load(cartpole_run)
    a = landers.evaluate(agent, episodes=20, seed=123)
    b = landers.evaluate(agent, "CartPole-v1", episodes=20, seed=123)
    assert len(a.returns) == 20 and a.returns == b.returns


def test_evaluate_caps_episode_length(cartpole_run):
    agent = landers.load(cartpole_run)
    assert max(landers.evaluate(agent, episodes=4).lengths) > 7  # so that the cap has something to cut
    assert max(landers.evaluate(agent, episodes=4, max_steps=7).lengths) <= 7


def test_runs_of_neighbouring_seeds_evaluate_on_disjoint_envs(cartpole_run):
    """A run's eval env i takes eval_seed(seed) + i for i < MAX_EVAL_ENVS: neighbouring training
    seeds get disjoint blocks (they once shared 63 of 64 envs), every block fits int32, and the
    run's final evaluation and `landers eval` use it."""
    import json

    from landers.policy.evaluation import MAX_EVAL_ENVS, eval_seed

    blocks = [set(range(eval_seed(s), eval_seed(s) + MAX_EVAL_ENVS)) for s in range(0, 300)]
    assert all(a.isdisjoint(b) for i, a in enumerate(blocks) for b in blocks[i + 1:])
    assert all(0 <= eval_seed(s) and eval_seed(s) + MAX_EVAL_ENVS <= 2**31 - 1 for s in (0, 2**31 - 1, 2**32 + 5, 10**12))
    seed = json.loads((cartpole_run / "config.json").read_text())["seed"]
    final = json.loads((cartpole_run / "eval.json").read_text())
    assert final["seed"] == eval_seed(seed) == 10_000 + 64 * seed
    again = landers.evaluate(landers.load(cartpole_run), episodes=final["episodes"], seed=eval_seed(seed),
                             backend="gymnasium")  # the fixture's backend
    assert again.returns == final["returns"]

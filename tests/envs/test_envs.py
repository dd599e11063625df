import importlib.util

import numpy as np
import pytest
import torch

from landers.core.rollout import Collector
from landers.envs import SplitVecEnv, make_vec_env, resolve_backend
from landers.errors import LandersError

BACKENDS = ["gymnasium", pytest.param("envpool", marks=pytest.mark.skipif(
    resolve_backend("CartPole-v1", "auto") != "envpool", reason="EnvPool is not installed"))]


class BalancingPolicy(torch.nn.Module):
    """A hand-written CartPole controller that keeps the pole up for the full 500 steps, as a
    stand-in model for the collector: it always hits the time limit."""

    def act(self, obs):
        actions = (obs[:, 2] * 10 + obs[:, 3] > 0).long()
        zeros = torch.zeros(len(obs))
        return actions, zeros, zeros

    def value(self, obs):
        return torch.zeros(len(obs))


@pytest.mark.parametrize("backend", BACKENDS)
def test_time_limit_is_truncation_and_autoreset_step_is_masked(backend):
    envs = make_vec_env("CartPole-v1", 2, seed=0, backend=backend)
    collector = Collector(envs, num_steps=502, device=torch.device("cpu"))
    rollout = collector.collect(BalancingPolicy())
    envs.close()
    # Step 499 is the 500th step: truncated, not terminated; step 500 is the autoreset step.
    assert rollout.truncated[499].all() and not rollout.terminated.any()
    assert not rollout.valid[500].any() and rollout.valid[:500].all() and rollout.valid[501].all()
    assert rollout.rewards[500].sum() == 0
    assert [(e.ret, e.length) for e in collector.episodes] == [(500.0, 500), (500.0, 500)]
    # The stored observation at the autoreset step is the final observation of the episode,
    # so its value bootstraps the truncated step in GAE.
    assert not torch.equal(rollout.obs[500], rollout.obs[501])


@pytest.mark.parametrize("backend", BACKENDS)
def test_episode_returns_and_lengths_are_real_episode_totals(backend):
    envs = make_vec_env("CartPole-v1", 3, seed=1, backend=backend)
    rng = np.random.default_rng(0)

    class Random(BalancingPolicy):
        def act(self, obs):
            zeros = torch.zeros(len(obs))
            return torch.from_numpy(rng.integers(0, 2, len(obs))), zeros, zeros

    collector = Collector(envs, num_steps=300, device=torch.device("cpu"))
    rollout = collector.collect(Random())
    envs.close()
    # CartPole pays 1 per step: each episode's return equals its length, and the valid steps
    # of the rollout account for every step of every finished episode plus the unfinished ones.
    assert collector.episodes and all(e.ret == e.length for e in collector.episodes)
    finished = sum(e.length for e in collector.episodes)
    assert finished + collector.ep_length.sum() == rollout.valid.sum().item()
    assert rollout.terminated.sum().item() == len(collector.episodes)


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_observations(backend):
    a, b = make_vec_env("LunarLander-v3", 2, 7, backend), make_vec_env("LunarLander-v3", 2, 7, backend)
    np.testing.assert_array_equal(a.reset(), b.reset())
    actions = np.array([2, 3])
    np.testing.assert_array_equal(a.step(actions)[0], b.step(actions)[0])


def test_continuous_actions_are_clipped_for_the_env():
    envs = make_vec_env("LunarLanderContinuous-v3", 1, 0, "gymnasium")
    envs.reset()
    seen = []
    real_step = envs._env.step
    envs._env.step = lambda a: (seen.append(a.copy()), real_step(a))[1]
    envs.step(np.array([[5.0, -0.5]], np.float32))
    envs.close()
    np.testing.assert_array_equal(seen[0], [[1.0, -0.5]])


def test_unknown_env_suggests_close_match():
    with pytest.raises(LandersError, match="Did you mean LunarLander-v3"):
        make_vec_env("LunarLandr-v3", 1, 0)


def test_module_env_id_imports_the_module():
    with pytest.raises(LandersError, match="Cannot import module"):
        make_vec_env("no_such_module_xyz:Thing-v0", 1, 0)
    envs = make_vec_env("gymnasium.envs.classic_control:CartPole-v1", 2, 0)
    assert envs.reset().shape == (2, 4)


@pytest.mark.skipif(resolve_backend("CartPole-v1", "auto") != "envpool", reason="EnvPool is not installed")
def test_envpool_builds_an_env_with_kwargs_only_when_it_takes_exactly_them():
    from landers.envs.source import EnvSource

    assert resolve_backend(EnvSource("CartPole-v1", {"max_episode_steps": 20}), "auto") == "envpool"
    assert resolve_backend(EnvSource("LunarLander-v3", {"continuous": True}), "auto") == "gymnasium"
    wrapped = EnvSource("CartPole-v1", wrappers=("gymnasium.wrappers:TimeAwareObservation",))
    assert resolve_backend(wrapped, "auto") == "gymnasium"
    with pytest.raises(LandersError, match="EnvPool cannot build"):
        resolve_backend(wrapped, "envpool")
    # The same time limit on both backends: a balanced pole is cut after 20 steps.
    for backend in ("envpool", "gymnasium"):
        envs = make_vec_env(EnvSource("CartPole-v1", {"max_episode_steps": 20}), 2, 0, backend)
        envs.reset()
        truncated = [envs.step(np.array([t % 2, t % 2]))[3].all() for t in range(21)]
        envs.close()
        assert truncated.index(True) == 19, backend


@pytest.mark.skipif(resolve_backend("CartPole-v1", "auto") != "envpool" or importlib.util.find_spec("mujoco") is None,
                    reason="needs EnvPool and MuJoCo")
def test_envpool_mujoco_kwargs_mean_what_they_mean_in_gymnasium():
    from landers.envs.source import EnvSource

    # Only the control cost left: the reward of an action is -ctrl_cost_weight * |a|^2 on both.
    source = EnvSource("Hopper-v4", {"forward_reward_weight": 0.0, "healthy_reward": 0.0, "ctrl_cost_weight": 2.0,
                                     "exclude_current_positions_from_observation": False})
    action = np.array([[0.5, -0.3, 0.2]], np.float32)
    for backend in ("envpool", "gymnasium"):
        envs = make_vec_env(source, 1, 0, backend)
        assert envs.reset().shape == (1, 12), backend  # x position included
        np.testing.assert_allclose(envs.step(action)[1], [-2.0 * 0.38], rtol=1e-5)
        envs.close()


def _one_step_gaps(env_id: str, steps: int = 600) -> tuple[float, float]:
    """EnvPool's env and Gymnasium's stepped from the same states with the same random actions:
    the largest gaps between their next observations and between their rewards. Each step sets
    Gymnasium's state to the one EnvPool's observation holds (these envs observe their state)."""
    import envpool
    import gymnasium as gym

    pool = envpool.make(env_id, env_type="gymnasium", num_envs=1, seed=3)
    ref = gym.make(env_id).unwrapped
    ref.reset(seed=0)
    rng = np.random.default_rng(0)
    obs, _ = pool.reset()
    obs_gap = reward_gap = 0.0
    for _ in range(steps):
        if isinstance(ref.action_space, gym.spaces.Discrete):
            action = int(rng.integers(ref.action_space.n))
            batch = np.array([action])
        else:  # Pendulum: full torque, which spins it up to its top speed; MountainCarContinuous: random
            batch = np.full((1, 1), 2.0 if env_id == "Pendulum-v1" else rng.uniform(-1.5, 1.5), np.float32)
            action = batch[0]
        state = obs[0].astype(np.float64)
        if env_id == "Acrobot-v1":  # cos, sin of both angles, then both speeds
            state = np.array([np.arctan2(state[1], state[0]), np.arctan2(state[3], state[2]), state[4], state[5]])
        elif env_id == "Pendulum-v1":  # cos, sin of the angle, then its speed
            state = np.array([np.arctan2(state[1], state[0]), state[2]])
        ref.state = state
        if hasattr(ref, "steps_beyond_terminated"):  # CartPole: a state set by hand starts afresh
            ref.steps_beyond_terminated = None
        ref_obs, ref_reward, *_ = ref.step(action)
        next_obs, reward, terminated, truncated, _ = pool.step(batch)
        if terminated[0] or truncated[0]:
            obs = pool.step(batch)[0]  # the autoreset step
            continue
        obs_gap = max(obs_gap, float(np.abs(np.asarray(ref_obs, np.float64) - next_obs[0]).max()))
        reward_gap = max(reward_gap, abs(float(ref_reward) - float(reward[0])))
        obs = next_obs
    pool.close()
    return obs_gap, reward_gap


@pytest.mark.skipif(resolve_backend("CartPole-v1", "auto") != "envpool", reason="EnvPool is not installed")
def test_envpool_is_chosen_only_where_its_dynamics_are_gymnasiums():
    for env_id in ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0"):
        assert resolve_backend(env_id, "auto") == "envpool", env_id
        assert max(_one_step_gaps(env_id)) < 1e-5, env_id  # float32 against float64
    # Pendulum-v1: EnvPool's clips the speed after moving the angle; at top speed the two part.
    assert _one_step_gaps("Pendulum-v1")[0] > 1e-2
    assert resolve_backend("Pendulum-v1", "auto") == "gymnasium"
    with pytest.raises(LandersError, match="EnvPool's Pendulum-v1 is not Gymnasium's"):
        resolve_backend("Pendulum-v1", "envpool")


class TiltPolicy(BalancingPolicy):
    """Pushes towards the pole's tilt only: the pole falls after tens of steps, at different
    steps in different envs, so a rollout holds terminations, autoresets and new episodes.
    Its value is a function of the observation, so a misplaced observation shows."""

    def act(self, obs):
        zeros = torch.zeros(len(obs))
        return (obs[:, 2] > 0).long(), zeros, obs.sum(1)

    def value(self, obs):
        return obs.sum(1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("policy, steps", [(TiltPolicy(), 300), (BalancingPolicy(), 502)])
def test_overlapped_halves_give_each_env_the_same_transitions_as_stepping_all(backend, policy, steps):
    """Stepping two halves alternately (`overlap`) loses, duplicates and reorders nothing:
    with a deterministic policy every env's transitions, autoreset rows, time-limit
    truncations and final bootstrap values are those of stepping all envs together."""
    rollouts, episodes = [], []
    for envs in (make_vec_env("CartPole-v1", 6, seed=3, backend=backend), SplitVecEnv("CartPole-v1", 6, 3, backend)):
        collector = Collector(envs, num_steps=steps, device=torch.device("cpu"))
        rollouts.append([collector.collect(policy), collector.collect(policy)])
        episodes.append(sorted((e.ret, e.length) for e in collector.episodes))
        assert collector.global_step == 2 * 6 * steps
        envs.close()
    for together, halves in zip(*rollouts, strict=True):
        for name in ("obs", "actions", "values", "rewards", "terminated", "truncated", "valid", "next_values"):
            assert torch.equal(getattr(together, name), getattr(halves, name)), name
    assert episodes[0] == episodes[1]
    first = rollouts[1][0]
    if steps == 300:  # the comparison covers episodes ending mid-rollout ...
        assert first.terminated.any() and not first.valid.all()
    else:  # ... and time limits: truncated, bootstrapped from the final observation, masked after
        assert first.truncated[499].all() and not first.valid[500].any() and first.valid[501].all()


def test_overlap_needs_two_equal_halves():
    with pytest.raises(LandersError, match="not even"):
        SplitVecEnv("CartPole-v1", 5, 0, "gymnasium")


@pytest.mark.parametrize("env_id", ["DictCue-v0", "TupleGrid-v0", "DictPixels-v0", "MultiDiscreteMatch-v0"])
def test_overlapped_halves_flatten_dict_tuple_and_pixel_observations_alike(env_id):
    """The halves' observations are flattened (Dict, Tuple) or kept as pixels and stored in
    their rows as on the default path, and the actions go back in the env's own format."""
    import fake_envs  # noqa: F401  registers the envs of each space
    from landers.algos.ppo import PPOConfig
    from landers.policy.networks import build_model

    rollouts = []
    for envs in (make_vec_env(env_id, 4, seed=2, backend="gymnasium"), SplitVecEnv(env_id, 4, 2, "gymnasium")):
        torch.manual_seed(0)
        model = build_model(PPOConfig(), envs.single_observation_space, envs.single_action_space)

        class Deterministic(torch.nn.Module):  # the same actions on both paths, whatever the sampling
            def __init__(self, model):
                super().__init__()
                self.model = model

            def act(self, obs):
                return self.model.act(obs, deterministic=True)

            def value(self, obs):
                return self.model.value(obs)

        rollouts.append(Collector(envs, num_steps=20, device=torch.device("cpu")).collect(Deterministic(model)))
        envs.close()
    for name in ("obs", "truncated", "valid"):
        assert torch.equal(getattr(rollouts[0], name), getattr(rollouts[1], name)), name
    # A batch of 2 rows rounds apart from one of 4 (and rewards of Box actions with it);
    # categories (integers) must match exactly.
    for name in ("actions", "rewards", "values", "next_values"):
        torch.testing.assert_close(getattr(rollouts[0], name), getattr(rollouts[1], name))
    assert rollouts[1].truncated.any() and not rollouts[1].valid.all()


@pytest.mark.skipif(resolve_backend("CartPole-v1", "auto") != "envpool", reason="EnvPool is not installed")
def test_env_threads_reach_envpool():
    envs, halves = make_vec_env("CartPole-v1", 4, 0, "envpool", threads=1), SplitVecEnv("CartPole-v1", 4, 0, "envpool", threads=2)
    try:
        assert envs._env.config["num_threads"] == 1
        assert [half._env.config["num_threads"] for half in halves.groups] == [2, 2]
    finally:
        envs.close()
        halves.close()


def test_a_new_backend_is_one_class_and_one_registry_line(monkeypatch):
    """The seam issue 20 asks for: a `VecEnv` subclass registered in `BACKENDS` is what
    `make_vec_env` builds, and its `recv` hands back a named `StepResult`."""
    import gymnasium as gym

    from landers.envs import vector

    class Doubled(vector.GymnasiumVecEnv):  # Gymnasium's envs with the rewards doubled
        name = "doubled"

        def recv(self):
            result = super().recv()
            return result._replace(rewards=2 * result.rewards)

    monkeypatch.setitem(vector.BACKENDS, "doubled", Doubled)
    envs = make_vec_env("CartPole-v1", 2, 0, "doubled")
    try:
        assert envs.backend == "doubled" and isinstance(envs.single_action_space, gym.spaces.Discrete)
        envs.reset()
        result = envs.step(np.array([0, 1]))
        assert isinstance(result, vector.StepResult)
        np.testing.assert_array_equal(result.rewards, [2.0, 2.0])
        np.testing.assert_array_equal(result.raw_rewards, [1.0, 1.0])
        assert result.game_over.dtype == bool and result.truncated.shape == (2,)
    finally:
        envs.close()
    with pytest.raises(LandersError, match="Unknown backend 'nope'; choose one of auto, gymnasium, envpool, doubled"):
        make_vec_env("CartPole-v1", 1, 0, "nope")

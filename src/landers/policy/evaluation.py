"""Evaluation: whole episodes on fresh envs, seeded apart from training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from landers.envs import VecEnv
from landers.envs.source import EnvSource
from landers.policy.spaces import env_actions

EVAL_SEED_OFFSET = 10_000  # training envs use seeds seed .. seed + num_envs - 1
# Episodes run side by side, one env each up to this many: the final 100-episode evaluation of
# CartPole took 1.6 s over 16 envs and 0.35 s over 64 on the 2-core VM (bench/RESULTS.md, issue 14).
MAX_EVAL_ENVS = 64


@dataclass(frozen=True)
class EvalResult:
    returns: list[float]
    lengths: list[int]

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    def to_json(self) -> dict:
        return {"mean": self.mean, "std": self.std, "episodes": len(self.returns),
                "returns": self.returns, "lengths": self.lengths}

    def __str__(self) -> str:
        return f"{self.mean:.1f} ± {self.std:.1f} over {len(self.returns)} episodes"


def run_episodes(policy: Callable[[Any], np.ndarray], env: str | EnvSource, episodes: int, seed: int,
                 backend: str = "auto", max_envs: int = MAX_EVAL_ENVS, max_steps: int | None = None) -> EvalResult:
    """Run `episodes` whole episodes of `policy` (batched obs as the vector env gives them ->
    batched actions in the env's format).

    Episodes are spread over up to `max_envs` envs with a fixed quota per env, so that short
    episodes are not over-represented (which counting the first N to finish would do).
    `max_steps` caps an episode (a stuck agent cannot hang evaluation): a capped episode
    counts with the return it had, and its env takes no further episodes.
    """
    n = min(episodes, max_envs)
    quota = np.array([(episodes + i) // n for i in range(n)])
    envs = VecEnv(env, n, seed, backend, train=False)
    try:
        obs = envs.reset()
        done_count = np.zeros(n, np.int64)
        ep_return, ep_length = np.zeros(n), np.zeros(n, np.int64)
        prev_done = np.zeros(n, bool)
        returns: list[float] = []
        lengths: list[int] = []
        while (done_count < quota).any():
            obs, _, terminated, truncated = envs.step(policy(obs))
            ep_return += envs.raw_rewards
            ep_length += ~prev_done
            prev_done = terminated | truncated
            capped = (ep_length >= max_steps) & ~prev_done if max_steps else np.zeros(n, bool)
            for i in np.flatnonzero(prev_done | capped):
                if done_count[i] < quota[i]:
                    returns.append(float(ep_return[i]))
                    lengths.append(int(ep_length[i]))
                    done_count[i] = quota[i] if capped[i] else done_count[i] + 1
            ep_return[prev_done] = 0.0
            ep_length[prev_done] = 0
    finally:
        envs.close()
    return EvalResult(returns, lengths)


def evaluate(agent, env: Any = None, episodes: int = 100, seed: int = EVAL_SEED_OFFSET,
             deterministic: bool = True, backend: str = "auto", max_steps: int | None = None) -> EvalResult:
    """Returns of `agent` (a `landers.Agent`) over `episodes` episodes of `env` (default: its
    own; else an id, EnvSpec, factory, EnvSource or env instance with the same spaces)."""
    if isinstance(env, gym.Env):
        agent.check_env(env, env.spec.id if env.spec is not None else type(env.unwrapped).__name__)
        return episodes_on(env, lambda obs: agent.predict(obs, deterministic), episodes, seed, max_steps=max_steps)
    if env is not None and env != agent.env and env != agent.env_id:
        agent = agent.with_env(env)
    return run_episodes(lambda obs: agent.predict(obs, deterministic), agent.env, episodes, seed, backend,
                        max_steps=max_steps)


def episodes_on(env: gym.Env, policy: Callable[[Any], Any], episodes: int, seed: int,
                max_steps: int | None = None) -> EvalResult:
    """Run `episodes` episodes of `policy` (one observation -> one action) one after another on
    the caller's own env instance, episode i reset with seed `seed + i`; the env stays open.
    `max_steps` caps an episode as in `run_episodes`."""
    returns: list[float] = []
    lengths: list[int] = []
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        total, length, done = 0.0, 0, False
        while not done and not (max_steps and length >= max_steps):
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total, length, done = total + float(reward), length + 1, bool(terminated or truncated)
        returns.append(total)
        lengths.append(length)
    return EvalResult(returns, lengths)


def random_policy(action_space: gym.Space, num_envs: int, seed: int) -> Callable[[Any], np.ndarray]:
    """Uniformly random actions for a batch of `num_envs` observations."""
    rng = np.random.default_rng(seed)
    if isinstance(action_space, gym.spaces.Discrete):
        return lambda obs: rng.integers(action_space.n, size=num_envs) + action_space.start
    if isinstance(action_space, (gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
        high = action_space.nvec if isinstance(action_space, gym.spaces.MultiDiscrete) else 2
        to_env = env_actions(action_space)
        return lambda obs: to_env(rng.integers(0, high, size=(num_envs, *action_space.shape)))
    finite = np.isfinite(action_space.low) & np.isfinite(action_space.high)
    low, high = np.where(finite, action_space.low, 0.0), np.where(finite, action_space.high, 0.0)

    def sample(obs):  # uniform within finite bounds, standard normal where unbounded
        shape = (num_envs, *action_space.shape)
        return np.where(finite, rng.uniform(low, high, size=shape), rng.standard_normal(shape)).astype(action_space.dtype)

    return sample


def evaluate_random(env: str | EnvSource, episodes: int = 100, seed: int = EVAL_SEED_OFFSET,
                    backend: str = "auto", max_steps: int | None = None,
                    action_space: gym.Space | None = None) -> EvalResult:
    """Returns of uniformly random actions; `action_space` saves building an env to find it."""
    if action_space is None:
        probe = VecEnv(env, 1, seed, "gymnasium", train=False)
        action_space = probe.single_action_space
        probe.close()
    n = min(episodes, MAX_EVAL_ENVS)
    return run_episodes(random_policy(action_space, n, seed), env, episodes, seed, backend, max_envs=n,
                        max_steps=max_steps)

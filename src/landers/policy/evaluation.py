"""Evaluation: whole episodes on fresh envs, seeded apart from training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gymnasium as gym
import numpy as np

from landers.envs import VecEnv

EVAL_SEED_OFFSET = 10_000  # training envs use seeds seed .. seed + num_envs - 1


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


def run_episodes(policy: Callable[[np.ndarray], np.ndarray], env_id: str, episodes: int, seed: int,
                 backend: str = "auto", max_envs: int = 16, max_steps: int | None = None) -> EvalResult:
    """Run `episodes` whole episodes of `policy` (batched obs -> batched actions).

    Episodes are spread over up to `max_envs` envs with a fixed quota per env, so that short
    episodes are not over-represented (which counting the first N to finish would do).
    `max_steps` caps an episode (a stuck agent cannot hang evaluation): a capped episode
    counts with the return it had, and its env takes no further episodes.
    """
    n = min(episodes, max_envs)
    quota = np.array([(episodes + i) // n for i in range(n)])
    envs = VecEnv(env_id, n, seed, backend, train=False)
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


def evaluate(agent, env_id: str | None = None, episodes: int = 100, seed: int = EVAL_SEED_OFFSET,
             deterministic: bool = True, backend: str = "auto", max_steps: int | None = None) -> EvalResult:
    """Returns of `agent` (a `landers.Agent`) over `episodes` episodes of `env_id` (default: its own)."""
    if env_id is not None and env_id != agent.env_id:
        agent.check_env(env_id)
    return run_episodes(lambda obs: agent.predict(obs, deterministic), env_id or agent.env_id,
                        episodes, seed, backend, max_steps=max_steps)


def random_policy(action_space: gym.Space, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    """Uniformly random actions for a batch of observations."""
    rng = np.random.default_rng(seed)
    if isinstance(action_space, gym.spaces.Discrete):
        return lambda obs: rng.integers(action_space.n, size=len(obs)) + action_space.start
    finite = np.isfinite(action_space.low) & np.isfinite(action_space.high)
    low, high = np.where(finite, action_space.low, 0.0), np.where(finite, action_space.high, 0.0)

    def sample(obs):  # uniform within finite bounds, standard normal where unbounded
        shape = (len(obs), *action_space.shape)
        return np.where(finite, rng.uniform(low, high, size=shape), rng.standard_normal(shape)).astype(action_space.dtype)

    return sample


def evaluate_random(env_id: str, episodes: int = 100, seed: int = EVAL_SEED_OFFSET,
                    backend: str = "auto", max_steps: int | None = None) -> EvalResult:
    env = gym.make(env_id)
    space = env.action_space
    env.close()
    return run_episodes(random_policy(space, seed), env_id, episodes, seed, backend, max_steps=max_steps)

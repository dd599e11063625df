"""Evaluation: whole episodes on fresh envs, seeded apart from training."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from landers.envs import make_vec_env
from landers.envs.source import EnvSource
from landers.policy.agent import EpisodeActor
from landers.policy.spaces import env_actions

EVAL_SEED_OFFSET = 10_000  # training envs use seeds seed .. seed + num_envs - 1
# Episodes run side by side, one env each up to this many: the final 100-episode evaluation of
# CartPole took 1.6 s over 16 envs and 0.35 s over 64 on the 2-core VM (bench/RESULTS.md, issue 14).
MAX_EVAL_ENVS = 64


def eval_seed(training_seed: int) -> int:
    """The first evaluation env's seed for a run trained with `training_seed` (env i takes this
    seed + i): 10000 + 64 x the training seed, so that runs of consecutive seeds evaluate on
    disjoint envs. With the training seed + 10000, seeds 201 and 202 shared 63 of their 64
    evaluation envs, so a bench's seeds met nearly the same starting states: one Pendulum policy
    scored -153.1 from seed 10000 and -176.0 from 10541 over 100 episodes (bench/backends.md)."""
    return (EVAL_SEED_OFFSET + int(training_seed) * MAX_EVAL_ENVS) % (2**31 - MAX_EVAL_ENVS)


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


class AgentPolicy:
    """An agent as `run_episodes` calls a policy: it carries a recurrent agent's state per env,
    zeroed where an episode starts, and hands on the envs' masks where the agent obeys them."""

    def __init__(self, agent, deterministic: bool = True):
        self.agent, self.deterministic = agent, deterministic
        self.state: np.ndarray | None = None

    def __call__(self, obs: Any, mask: np.ndarray | None, starts: np.ndarray) -> np.ndarray:
        agent = self.agent
        mask = mask if agent.mask_source is not None else None
        if not agent.recurrent:
            return agent.predict(obs, self.deterministic, action_mask=mask)
        if self.state is None:
            self.state = agent.initial_state(len(starts))
        self.state[starts] = 0.0
        actions, self.state = agent.predict(obs, self.deterministic, state=self.state, action_mask=mask)
        return actions


def run_episodes(policy: Callable[[Any, np.ndarray | None, np.ndarray], np.ndarray], env: str | EnvSource,
                 episodes: int, seed: int, backend: str = "auto", max_envs: int = MAX_EVAL_ENVS,
                 max_steps: int | None = None) -> EvalResult:
    """Run `episodes` whole episodes of `policy(obs, mask, starts)`: batched obs as the vector env
    gives them, their action masks `(N, n)` (None without), and which of them begin an episode
    (for a policy with memory) -> batched actions in the env's format.

    Episodes are spread over up to `max_envs` envs with a fixed quota per env, so that short
    episodes are not over-represented (which counting the first N to finish would do).
    `max_steps` caps an episode (a stuck agent cannot hang evaluation): a capped episode
    counts with the return it had, and its env takes no further episodes.
    """
    n = min(episodes, max_envs)
    quota = np.array([(episodes + i) // n for i in range(n)])
    envs = make_vec_env(env, n, seed, backend, train=False)
    try:
        obs = envs.reset()
        mask, starts = envs.reset_mask, np.ones(n, bool)
        done_count = np.zeros(n, np.int64)
        ep_return, ep_length = np.zeros(n), np.zeros(n, np.int64)
        prev_done = np.zeros(n, bool)
        returns: list[float] = []
        lengths: list[int] = []
        while (done_count < quota).any():
            result = envs.step(policy(obs, mask, starts))
            obs = result.obs
            ep_return += result.raw_rewards
            ep_length += ~prev_done
            starts = prev_done  # this step was an autoreset step: the next observation begins an episode
            prev_done = result.terminated | result.truncated
            if result.action_mask is not None:
                mask = result.action_mask.copy()
                mask[prev_done] = True  # the next action is ignored (autoreset)
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
        return episodes_on(env, EpisodeActor(agent, env, deterministic), episodes, seed, max_steps=max_steps)
    if env is not None and env != agent.env and env != agent.env_id:
        agent = agent.with_env(env)
    return run_episodes(AgentPolicy(agent, deterministic), agent.env, episodes, seed, backend, max_steps=max_steps)


def episodes_on(env: gym.Env, actor: EpisodeActor, episodes: int, seed: int,
                max_steps: int | None = None) -> EvalResult:
    """Run `episodes` episodes of `actor` (an `EpisodeActor`: it carries a recurrent agent's state
    and reads the env's masks) one after another on the caller's own env instance, episode i
    reset with seed `seed + i`; the env stays open. `max_steps` caps an episode as in `run_episodes`."""
    returns: list[float] = []
    lengths: list[int] = []
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        actor.reset()
        total, length, done = 0.0, 0, False
        while not done and not (max_steps and length >= max_steps):
            obs, reward, terminated, truncated, info = env.step(actor(obs, info))
            total, length, done = total + float(reward), length + 1, bool(terminated or truncated)
        returns.append(total)
        lengths.append(length)
    return EvalResult(returns, lengths)


def random_policy(action_space: gym.Space, num_envs: int, seed: int) -> Callable:
    """Uniformly random actions for a batch of `num_envs` observations (among the allowed ones
    where the env has an action mask)."""
    rng = np.random.default_rng(seed)
    if isinstance(action_space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        sizes = [int(action_space.n)] if isinstance(action_space, gym.spaces.Discrete) else action_space.nvec.reshape(-1).tolist()
        to_env = env_actions(action_space)

        def draw(obs, mask=None, starts=None):
            if mask is None:
                if isinstance(action_space, gym.spaces.Discrete):
                    return rng.integers(action_space.n, size=num_envs) + action_space.start
                return to_env(rng.integers(0, action_space.nvec, size=(num_envs, *action_space.shape)))
            # The allowed action with the highest uniform score, per dimension: uniform among them.
            scores = np.where(mask, rng.random(mask.shape), -1.0)
            picks = np.stack([part.argmax(1) for part in np.split(scores, np.cumsum(sizes)[:-1], axis=1)], 1)
            return to_env(picks[:, 0] if isinstance(action_space, gym.spaces.Discrete) else picks)

        return draw
    if isinstance(action_space, gym.spaces.MultiBinary):
        to_env = env_actions(action_space)
        return lambda obs, mask=None, starts=None: to_env(rng.integers(0, 2, size=(num_envs, *action_space.shape)))
    finite = np.isfinite(action_space.low) & np.isfinite(action_space.high)
    low, high = np.where(finite, action_space.low, 0.0), np.where(finite, action_space.high, 0.0)

    def sample(obs, mask=None, starts=None):  # uniform within finite bounds, standard normal where unbounded
        shape = (num_envs, *action_space.shape)
        return np.where(finite, rng.uniform(low, high, size=shape), rng.standard_normal(shape)).astype(action_space.dtype)

    return sample


def evaluate_random(env: str | EnvSource, episodes: int = 100, seed: int = EVAL_SEED_OFFSET,
                    backend: str = "auto", max_steps: int | None = None,
                    action_space: gym.Space | None = None) -> EvalResult:
    """Returns of uniformly random actions; `action_space` saves building an env to find it."""
    if action_space is None:
        probe = make_vec_env(env, 1, seed, "gymnasium", train=False)
        action_space = probe.single_action_space
        probe.close()
    n = min(episodes, MAX_EVAL_ENVS)
    return run_episodes(random_policy(action_space, n, seed), env, episodes, seed, backend, max_envs=n,
                        max_steps=max_steps)

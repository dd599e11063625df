"""The random policy: uniformly random actions. "Training" runs episodes and logs them, so the
baseline sits on the same plots and tables as the learners."""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from landers.core.config import doc, must_be
from landers.core.rollout import Rollout
from landers.policy.spaces import env_actions


@dataclass(frozen=True)
class RandomConfig:
    num_envs: int = doc(8, "parallel environments")
    num_steps: int = doc(128, "steps per environment between log rows")

    def __post_init__(self):
        must_be(self, ("num_envs", "num_steps"), lambda v: v > 0, "must be positive")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps


Config = RandomConfig


class Uniform:
    """Uniform over a Discrete, MultiDiscrete or MultiBinary space or a bounded Box (standard
    normal where unbounded), in the policy's action format (`spaces.env_actions`). Its `mode`
    samples too: the random policy has no most likely action."""

    def __init__(self, space: gym.Space):
        env_actions(space)  # refuses a space with no policy format, in one sentence
        self.space = space
        if isinstance(space, gym.spaces.MultiDiscrete):
            self.nvec = torch.as_tensor(space.nvec.reshape(-1))
        if isinstance(space, gym.spaces.Box):
            low, high = space.low.reshape(-1), space.high.reshape(-1)
            finite = np.isfinite(low) & np.isfinite(high)
            self.low = torch.as_tensor(np.where(finite, low, 0.0), dtype=torch.float32)
            self.width = torch.as_tensor(np.where(finite, high - low, 0.0), dtype=torch.float32)
            self.finite = torch.as_tensor(finite)

    def sample(self, obs: torch.Tensor) -> torch.Tensor:
        n = obs.shape[0]
        if isinstance(self.space, gym.spaces.Discrete):
            return torch.randint(int(self.space.n), (n,))
        if isinstance(self.space, gym.spaces.MultiDiscrete):
            return (torch.rand(n, len(self.nvec)) * self.nvec).long()
        if isinstance(self.space, gym.spaces.MultiBinary):
            return torch.randint(2, (n, int(np.prod(self.space.shape)))).float()
        shape = (n, int(np.prod(self.space.shape)))
        return torch.where(self.finite, self.low + self.width * torch.rand(shape), torch.randn(shape))

    mode = sample

    def log_prob(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return torch.zeros(actions.shape[0])


class RandomPolicy(nn.Module):
    """A policy with no parameters, with the interface of `ActorCritic`."""

    def __init__(self, action_space: gym.Space):
        super().__init__()
        self.dist = Uniform(action_space)

    def policy_params(self, obs: torch.Tensor) -> torch.Tensor:
        return obs

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.zeros(obs.shape[0])

    def act(self, obs: torch.Tensor, deterministic: bool = False):
        actions = self.dist.sample(obs)
        return actions, self.dist.log_prob(obs, actions), self.value(obs)


def make_model(cfg: RandomConfig, observation_space: gym.Space, action_space: gym.Space) -> RandomPolicy:
    return RandomPolicy(action_space)


def make_optimizer(model: nn.Module, cfg: RandomConfig) -> None:
    return None


def update(model: nn.Module, optimizer: None, rollout: Rollout, cfg: RandomConfig, progress: float) -> dict:
    return {}

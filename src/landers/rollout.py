"""Collecting experience: the vector env stepped by the current policy into a `(T, N)` buffer.

Shared by every on-policy algorithm. Per env step the Python work is constant in the number of
envs: one batched forward pass, one env call, a few whole-array numpy operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from landers.envs import VecEnv
from landers.networks import ActorCritic
from landers.normalize import ObsNormalizer, RewardScaler


@dataclass
class Rollout:
    """One rollout, time-major. `valid` is False for autoreset steps (see `envs`), whose
    action was ignored by the env; those rows only supply the bootstrap value of the
    preceding truncated step."""

    obs: torch.Tensor          # (T, N, *obs_shape) float32, normalized if obs normalization is on
    actions: torch.Tensor      # (T, N) for discrete, (T, N, A) for continuous (unclipped samples)
    logp: torch.Tensor         # (T, N) log-probability of `actions` under the behaviour policy
    values: torch.Tensor       # (T, N)
    rewards: torch.Tensor      # (T, N) training rewards (scaled if reward scaling is on)
    terminated: torch.Tensor   # (T, N) bool
    truncated: torch.Tensor    # (T, N) bool
    valid: torch.Tensor        # (T, N) bool
    next_values: torch.Tensor  # (N,) value of the observation after the last step

    def flat(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        """The valid rows of each `(T, N, ...)` tensor, flattened to `(B, ...)`."""
        index = self.valid.reshape(-1).nonzero().squeeze(-1)
        return [t.reshape(-1, *t.shape[2:])[index] for t in tensors]


@dataclass
class Episode:
    step: int      # global step at which it ended
    ret: float     # real (unscaled) return
    length: int


@dataclass
class Collector:
    """Keeps the envs' current observations and per-env episode accumulators between rollouts."""

    envs: VecEnv
    num_steps: int
    device: torch.device
    obs_norm: ObsNormalizer | None = None
    reward_scaler: RewardScaler | None = None
    global_step: int = 0
    episodes: list[Episode] = field(default_factory=list)

    def __post_init__(self):
        n = self.envs.num_envs
        self.obs = self.envs.reset()
        self.prev_done = np.zeros(n, bool)
        self.ep_return = np.zeros(n, np.float64)
        self.ep_length = np.zeros(n, np.int64)
        T, space = self.num_steps, self.envs.single_observation_space
        self._obs = torch.zeros((T, n, *space.shape), dtype=torch.float32, device=self.device)
        self._rewards = np.zeros((T, n), np.float32)
        self._terminated = np.zeros((T, n), bool)
        self._truncated = np.zeros((T, n), bool)
        self._valid = np.zeros((T, n), bool)

    def _policy_input(self, obs: np.ndarray) -> torch.Tensor:
        if self.obs_norm is not None:
            obs = self.obs_norm(obs)
        return torch.as_tensor(obs, dtype=torch.float32).to(self.device)

    @torch.no_grad()
    def collect(self, model: ActorCritic) -> Rollout:
        """Step all envs `num_steps` times; finished episodes are appended to `self.episodes`."""
        n = self.envs.num_envs
        actions, logps, values = [], [], []
        for t in range(self.num_steps):
            if self.obs_norm is not None:
                self.obs_norm.rms.update(self.obs)
            obs = self._policy_input(self.obs)
            self._obs[t] = obs
            action, logp, value = model.act(obs)
            actions.append(action)
            logps.append(logp)
            values.append(value)
            self.obs, reward, terminated, truncated = self.envs.step(action.cpu().numpy())
            self.global_step += n
            valid = ~self.prev_done
            done = terminated | truncated
            self.ep_return += reward
            self.ep_length += valid
            if done.any():
                for i in np.flatnonzero(done):
                    self.episodes.append(Episode(self.global_step, float(self.ep_return[i]), int(self.ep_length[i])))
                self.ep_return[done] = 0.0
                self.ep_length[done] = 0
            if self.reward_scaler is not None:
                reward = self.reward_scaler(reward, done)
            self._rewards[t], self._terminated[t], self._truncated[t], self._valid[t] = reward, terminated, truncated, valid
            self.prev_done = done
        next_values = model.value(self._policy_input(self.obs))
        to = lambda a: torch.from_numpy(a.copy()).to(self.device)  # noqa: E731 - copy: buffers are reused
        return Rollout(
            obs=self._obs.clone(), actions=torch.stack(actions), logp=torch.stack(logps),
            values=torch.stack(values), rewards=to(self._rewards), terminated=to(self._terminated),
            truncated=to(self._truncated), valid=to(self._valid), next_values=next_values,
        )

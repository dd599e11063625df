"""A trained policy as users hold it: `landers.load(path).predict(obs)`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from landers.errors import LandersError
from landers.envs.spaces import space_to_json
from landers.policy.networks import ActorCritic, is_image
from landers.policy.normalize import ObsNormalizer


class Agent:
    """A policy with the observation normalization it was trained with.

    `predict` takes one observation or a batch exactly as the env returns them and returns
    action(s) in the env's action-space format (actions of continuous spaces are clipped to
    the bounds).
    """

    def __init__(self, model: ActorCritic, env_id: str, observation_space: gym.Space,
                 action_space: gym.Space, obs_norm: ObsNormalizer | None = None,
                 info: dict[str, Any] | None = None):
        self.model = model.eval()
        self.env_id = env_id
        self.observation_space, self.action_space = observation_space, action_space
        self.obs_norm = obs_norm
        self.info = info or {}
        self.device = next(model.parameters(), torch.empty(0)).device

    @torch.no_grad()
    def policy_params(self, batch: np.ndarray):
        """The action distribution's parameters (logits, or mean and log-std) for a batch of
        observations as the env returns them."""
        batch = np.asarray(batch)
        if not is_image(self.observation_space):
            batch = batch.astype(np.float32)
        if self.obs_norm is not None:
            batch = self.obs_norm(batch)
        return self.model.policy_params(torch.as_tensor(batch, device=self.device))

    @torch.no_grad()
    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray | int:
        obs = np.asarray(obs)
        single = obs.shape == self.observation_space.shape
        params = self.policy_params(obs[None] if single else obs)
        actions = (self.model.dist.mode(params) if deterministic else self.model.dist.sample(params)).cpu().numpy()
        if isinstance(self.action_space, gym.spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high).astype(self.action_space.dtype)
        else:
            actions = actions + self.action_space.start
        if single:
            return int(actions[0]) if isinstance(self.action_space, gym.spaces.Discrete) else actions[0]
        return actions

    def make_env(self, render_mode: str | None = None) -> gym.Env:
        """A single env whose observations `predict` takes: for Atari, the game with the
        evaluation preprocessing (whole games, real score); else `gymnasium.make(env_id)`."""
        from landers.envs import atari

        if atari.is_atari(self.env_id):
            return atari.make_atari(self.env_id, train=False, render_mode=render_mode)
        # Only ask for a render mode when one is wanted: not every env's constructor takes it.
        return gym.make(self.env_id, **({"render_mode": render_mode} if render_mode else {}))

    def check_env(self, env_id: str) -> None:
        """Refuse envs whose spaces differ from the ones this agent was trained on."""
        from landers.envs import env_spec

        env_spec(env_id)
        env = Agent(self.model, env_id, self.observation_space, self.action_space).make_env()
        try:
            same = (env.observation_space.shape == self.observation_space.shape
                    and space_to_json(env.action_space) == space_to_json(self.action_space))
        finally:
            env.close()
        if not same:
            raise LandersError(f"This checkpoint was trained on {self.env_id}, whose spaces differ from {env_id}'s.")

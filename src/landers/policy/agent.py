"""A trained policy as users hold it: `landers.load(path).predict(obs)`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from landers.envs import as_source
from landers.envs.source import EnvSource, env_source, reference
from landers.envs.spaces import space_to_json
from landers.errors import LandersError
from landers.policy.networks import ActorCritic
from landers.policy.normalize import ObsNormalizer
from landers.policy.spaces import ObsLayout, env_actions


class Agent:
    """A policy with the observation normalization it was trained with, and where its env
    comes from (`env`: an id, or an `EnvSource` with kwargs, wrappers or a factory).

    `predict` takes one observation or a batch exactly as the env returns them (a dict for a
    Dict space; a batch is what a vector env returns: a dict of stacked arrays) and returns
    action(s) in the env's action-space format (actions of continuous spaces are clipped to
    the bounds).
    """

    def __init__(self, model: ActorCritic, env: str | EnvSource, observation_space: gym.Space,
                 action_space: gym.Space, obs_norm: ObsNormalizer | None = None,
                 info: dict[str, Any] | None = None):
        self.model = model.eval()
        self.env = as_source(env)
        self.observation_space, self.action_space = observation_space, action_space
        self.layout = ObsLayout(observation_space)
        self._to_env = env_actions(action_space)
        self.obs_norm = obs_norm
        self.info = info or {}
        self.device = next(model.parameters(), torch.empty(0)).device

    @property
    def env_id(self) -> str:
        return self.env.env_id

    def _batch(self, obs: Any) -> tuple[np.ndarray, bool]:
        """(the network's input batch, whether `obs` was a single observation)."""
        layout = self.layout
        if layout.identity or layout.image:
            obs = self.check_obs(obs)
            single = obs.shape == self.observation_space.shape
            return (obs[None] if single else obs), single
        return layout.batch(obs)

    def check_obs(self, obs: Any) -> np.ndarray:
        """`obs` (one observation or a batch of a Box space) as the network's dtype, or one
        sentence saying which shape or dtype was expected: a wrong one would fail deep in torch."""
        shape, dtype = tuple(self.observation_space.shape), self.layout.dtype
        try:
            array = np.asarray(obs)
        except ValueError:  # ragged nested lists
            array = np.asarray(obs, dtype=object)
        if array.shape != shape and array.shape[1:] != shape:
            raise LandersError(f"Expected an observation of shape {shape} or (N, {', '.join(map(str, shape))}), "
                               f"got {array.shape}.")
        # same_kind: float64 -> float32 and ints -> floats are fine; floats -> uint8 pixels would truncate.
        if array.dtype.kind not in "biuf" or not np.can_cast(array.dtype, dtype, casting="same_kind"):
            raise LandersError(f"Expected an observation of dtype {np.dtype(dtype).name}, got {array.dtype}.")
        return array.astype(dtype, copy=False)

    def _params(self, batch: np.ndarray):
        if self.obs_norm is not None:
            batch = self.obs_norm(batch)
        return self.model.policy_params(torch.as_tensor(batch, device=self.device))

    @torch.no_grad()
    def policy_params(self, batch: Any):
        """The action distribution's parameters (logits, or mean and log-std) for a batch of
        observations as the env returns them."""
        return self._params(self._batch(batch)[0])

    @torch.no_grad()
    def predict(self, obs: Any, deterministic: bool = True) -> Any:
        """The action for one observation, or the actions for a batch, in the env's format.

            env = agent.make_env()
            obs, _ = env.reset(seed=0)
            obs, reward, terminated, truncated, _ = env.step(agent.predict(obs))

        `obs` is what the env returns (a dict for a Dict space), or a batch as a vector env
        returns it (shape `(N, ...)`; a dict of stacked arrays). A Discrete action comes back
        as an `int`, a batch as an array; continuous actions are clipped to the space's bounds.
        `deterministic` takes the most likely action; False samples one. A wrong shape or
        dtype raises `LandersError` naming the expected one.
        """
        space = self.action_space
        batch, single = self._batch(obs)
        params = self._params(batch)
        actions = (self.model.dist.mode(params) if deterministic else self.model.dist.sample(params)).cpu().numpy()
        actions = self._to_env(actions)
        if isinstance(space, gym.spaces.Box):
            actions = np.clip(actions, space.low, space.high).astype(space.dtype)
        if single:
            return int(actions[0]) if isinstance(space, gym.spaces.Discrete) else actions[0]
        return actions

    def make_env(self, render_mode: str | None = None) -> gym.Env:
        """A single env whose observations `predict` takes, built as in training (kwargs and
        wrappers included); for Atari, the game with the evaluation preprocessing (whole
        games, real score)."""
        # Only ask for a render mode when one is wanted: not every env's constructor takes it.
        return self.env.make(render_mode=render_mode, train=False)

    def with_env(self, env: Any) -> Agent:
        """This agent acting in another env (an id, EnvSpec, factory, EnvSource or an env
        instance, which `make_env` then returns), refused unless that env's spaces are the ones
        this agent was trained on."""
        if isinstance(env, gym.Env):
            instance = env
            spec = instance.spec
            name = spec.id if spec is not None else type(instance.unwrapped).__name__
            source = EnvSource(name, factory=reference(lambda **_: instance))
        else:
            source = env_source(env)
            source.check()
        other = Agent(self.model, source, self.observation_space, self.action_space, self.obs_norm, self.info)
        probe = other.make_env()
        try:
            self.check_env(probe, source.describe())
        finally:
            if not isinstance(env, gym.Env):  # the caller's own env stays open
                probe.close()
        return other

    def check_env(self, env: gym.Env, name: str) -> None:
        """Refuse, in one sentence, an env whose spaces are not the ones this agent was trained on."""
        try:
            same = (ObsLayout(env.observation_space).signature() == self.layout.signature()
                    and space_to_json(env.action_space) == space_to_json(self.action_space))
        except LandersError:
            same = False
        if not same:
            raise LandersError(f"This checkpoint was trained on {self.env_id}, whose spaces differ from {name}'s.")

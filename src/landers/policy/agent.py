"""A trained policy as users hold it: `landers.load(path).predict(obs)`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from landers.envs import as_source
from landers.envs.source import EnvSource, env_source, reference
from landers.envs.spaces import space_to_json
from landers.envs.vector import MASK_KEY, MASK_METHOD
from landers.errors import LandersError
from landers.policy.networks import ActorCritic
from landers.policy.normalize import ObsNormalizer
from landers.policy.spaces import ObsLayout, env_actions

_NO_STATE = object()  # `predict` was not given a state


class Agent:
    """A policy with the observation normalization it was trained with, and where its env
    comes from (`env`: an id, or an `EnvSource` with kwargs, wrappers or a factory).

    `predict` takes one observation or a batch exactly as the env returns them (a dict for a
    Dict space; a batch is what a vector env returns: a dict of stacked arrays) and returns
    action(s) in the env's action-space format (actions of continuous spaces are clipped to
    the bounds).

    A recurrent agent (`rnn`) carries a state from step to step: `action, state =
    agent.predict(obs, state=state)`, with `state=None` at an episode's start. An agent trained
    on an env with an action mask (`mask_source`: "obs", "info" or "method") never picks an action
    the mask forbids: `predict` reads a Dict observation's `action_mask` itself, and takes
    `action_mask=` for masks that come from the env's info or its `action_masks()` method.
    """

    def __init__(self, model: ActorCritic, env: str | EnvSource, observation_space: gym.Space,
                 action_space: gym.Space, obs_norm: ObsNormalizer | None = None,
                 info: dict[str, Any] | None = None, mask_source: str | None = None):
        self.model = model.eval()
        self.recurrent = model.recurrent
        self.mask_source = mask_source
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

    def initial_state(self, n: int | None = None) -> np.ndarray:
        """A recurrent agent's state at an episode's start: zeros `(state_size,)`, or `(n, state_size)`."""
        size = self.model.state_size if self.recurrent else 0
        return np.zeros((size,) if n is None else (n, size), np.float32)

    def _mask(self, obs: Any, action_mask: Any, rows: int) -> torch.Tensor | None:
        if action_mask is None and self.mask_source is not None and self.layout.has_mask:
            action_mask = self.layout.mask(obs)
        if action_mask is None:
            return None
        return torch.as_tensor(np.asarray(action_mask, bool).reshape(rows, -1), device=self.device)


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

    def _params(self, batch: np.ndarray, state: Any = None, mask: torch.Tensor | None = None):
        """The distribution's parameters, and for a recurrent agent its new state `(B, S)`."""
        if self.obs_norm is not None:
            batch = self.obs_norm(batch)
        obs = torch.as_tensor(batch, device=self.device)
        if self.recurrent:
            state = (torch.zeros(len(batch), self.model.state_size, device=self.device) if state is None
                     else torch.as_tensor(np.asarray(state, np.float32).reshape(len(batch), -1), device=self.device))
            return self.model.policy_params(obs, state, mask)
        return self.model.policy_params(obs) if mask is None else self.model.policy_params(obs, mask)

    @torch.no_grad()
    def policy_params(self, batch: Any, *, state: Any = None, action_mask: Any = None):
        """The action distribution's parameters (logits, or mean and log-std) for a batch of
        observations as the env returns them (masked where a mask applies)."""
        rows, _ = self._batch(batch)
        params = self._params(rows, state, self._mask(batch, action_mask, len(rows)))
        return params[0] if self.recurrent else params

    @torch.no_grad()
    def predict(self, obs: Any, deterministic: bool = True, *, state: Any = _NO_STATE, action_mask: Any = None) -> Any:
        """The action for one observation, or the actions for a batch, in the env's format.

            env = agent.make_env()
            obs, _ = env.reset(seed=0)
            obs, reward, terminated, truncated, _ = env.step(agent.predict(obs))

        `obs` is what the env returns (a dict for a Dict space), or a batch as a vector env
        returns it (shape `(N, ...)`; a dict of stacked arrays). A Discrete action comes back
        as an `int`, a batch as an array; continuous actions are clipped to the space's bounds.
        `deterministic` takes the most likely action; False samples one. A wrong shape or
        dtype raises `LandersError` naming the expected one. A recurrent agent (`rnn`) takes and
        returns its state: `action, state = agent.predict(obs, state=state)`, `state=None` at an
        episode's start; `action_mask` forbids the actions where it is False.
        """
        if self.recurrent and state is _NO_STATE:
            raise LandersError(f"This agent has memory (rnn={self.model.kind}): call action, state = "
                               "agent.predict(obs, state=state), with state=None at an episode's start.")
        space = self.action_space
        batch, single = self._batch(obs)
        mask = self._mask(obs, action_mask, len(batch))
        if mask is not None and not bool(mask.any(-1).all()):
            raise LandersError("The action mask given to predict allows no action: at least one must be true.")
        params = self._params(batch, None if state is _NO_STATE else state, mask)
        if self.recurrent:
            params, new_state = params
        actions = (self.model.dist.mode(params) if deterministic else self.model.dist.sample(params)).cpu().numpy()
        actions = self._to_env(actions)
        if isinstance(space, gym.spaces.Box):
            actions = np.clip(actions, space.low, space.high).astype(space.dtype)
        if single:
            actions = int(actions[0]) if isinstance(space, gym.spaces.Discrete) else actions[0]
        if not self.recurrent:
            return actions
        new_state = new_state.cpu().numpy()
        return actions, (new_state[0] if single else new_state)

    def env_mask(self, env: gym.Env, obs: Any, info: dict) -> np.ndarray | None:
        """The action mask a single env offers for `obs` where the mask is not in the observation
        (info or method) and this agent obeys masks; None otherwise (`predict` reads the observation's)."""
        if self.mask_source == "info":
            return info.get(MASK_KEY)
        if self.mask_source == "method":
            return np.asarray(env.get_wrapper_attr(MASK_METHOD)())
        return None

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
        other = Agent(self.model, source, self.observation_space, self.action_space, self.obs_norm, self.info,
                      mask_source=self.mask_source)
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


class EpisodeActor:
    """`agent` acting in one (non-vector) env, episode after episode: carries a recurrent agent's
    state (`reset` at each episode's start) and gives it the env's action mask; what `record`,
    `play` and export's self-check step envs with."""

    def __init__(self, agent: Agent, env: gym.Env, deterministic: bool = True):
        self.agent, self.env, self.deterministic = agent, env, deterministic
        self.state = None

    def reset(self) -> None:
        self.state = None

    def __call__(self, obs: Any, info: dict) -> Any:
        mask = self.agent.env_mask(self.env, obs, info)
        if not self.agent.recurrent:
            return self.agent.predict(obs, self.deterministic, action_mask=mask)
        action, self.state = self.agent.predict(obs, self.deterministic, state=self.state, action_mask=mask)
        return action

"""A trained policy as users hold it: `landers.load(path).predict(obs)`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from landers import checkpoint
from landers.errors import LandersError
from landers.networks import ActorCritic, CNNActorCritic, is_image
from landers.normalize import ObsNormalizer


def space_to_json(space: gym.Space) -> dict[str, Any]:
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.Box):
        def bound(a: np.ndarray):
            flat = a.reshape(-1)
            return float(flat[0]) if np.all(flat == flat[0]) else a.tolist()
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
                "low": bound(space.low), "high": bound(space.high)}
    raise LandersError(f"Unsupported space {space}.")


def space_from_json(data: dict[str, Any]) -> gym.Space:
    if data["type"] == "Discrete":
        return gym.spaces.Discrete(data["n"], start=data.get("start", 0))
    dtype = np.dtype(data["dtype"])
    shape = tuple(data["shape"])
    return gym.spaces.Box(np.broadcast_to(np.asarray(data["low"], dtype), shape),
                          np.broadcast_to(np.asarray(data["high"], dtype), shape), shape, dtype)


def build_model(cfg: Any, observation_space: gym.Space, action_space: gym.Space) -> ActorCritic:
    """An MLP actor-critic for flat observations, the Nature CNN for stacked frames."""
    shape = observation_space.shape
    if is_image(observation_space):
        if shape[0] > 16 or min(shape[1:]) < 36:
            raise LandersError(f"Image observations of shape {shape} are not supported: the CNN takes stacked "
                               "frames channels-first (at most 16 channels, at least 36x36 pixels).")
        return CNNActorCritic(tuple(shape), action_space)
    if len(shape) != 1:
        raise LandersError(f"Observations of shape {shape} are not supported: flat vectors or stacked "
                           "uint8 frames (channels, height, width) only.")
    return ActorCritic(int(observation_space.shape[0]), action_space, tuple(cfg.hidden_sizes),
                       cfg.activation, cfg.shared_network, cfg.init_log_std)


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
    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray | int:
        obs = np.asarray(obs)
        if not is_image(self.observation_space):
            obs = obs.astype(np.float32)
        single = obs.shape == self.observation_space.shape
        batch = obs[None] if single else obs
        if self.obs_norm is not None:
            batch = self.obs_norm(batch)
        params = self.model.policy_params(torch.as_tensor(batch, device=self.device))
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
        from landers import atari

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


def load(path: str | Path, device: str = "cpu") -> Agent:
    """The agent saved at `path`: a run directory (its `checkpoints/last`) or a checkpoint directory."""
    from landers.algos import get_algo, make_model

    tensors, state = checkpoint.read(Path(path))
    try:
        algo = get_algo(state["algo"])
        cfg = algo.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["run"]["hparams"].items()})
        obs_space, act_space = space_from_json(state["observation_space"]), space_from_json(state["action_space"])
        model = make_model(algo, cfg, obs_space, act_space)
        model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        raise LandersError(f"Checkpoint '{path}' does not match this version of landers ({e}).") from None
    obs_norm = None
    if "obs_norm.mean" in tensors:
        obs_norm = ObsNormalizer(obs_space.shape)
        obs_norm.rms.load({k: v.numpy() for k, v in tensors.items()}, "obs_norm")
    return Agent(model.to(device), state["env_id"], obs_space, act_space, obs_norm, info=state)

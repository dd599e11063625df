"""Algorithms: the registry, the small protocol each one's module follows, and `load`, which
rebuilds an algorithm's agent from a checkpoint. Imports `landers.core` and below.

An algorithm module provides:
- `Config`: a frozen dataclass of its hyperparameters (usually extending `BaseConfig`);
- `update(model, optimizer, rollout, cfg, progress) -> dict[str, float]`: learn from one
  rollout; `progress` in [0, 1) is the fraction of the run done, for schedules;
and optionally:
- `COLLECT = "episodes"` to be given whole episodes (`Collector.collect_episodes`) instead of
  a `(T, N)` rollout of `num_envs * num_steps` steps;
- `make_model(cfg, observation_space, action_space)` and `make_optimizer(model, cfg)` when
  the defaults (an `ActorCritic` MLP, Adam) do not fit;
- `METRICS`: names of extra per-update metrics for metrics.csv.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from landers.core import checkpoint
from landers.core.config import unknown_key_error
from landers.envs.source import EnvSource
from landers.envs.spaces import space_from_json
from landers.errors import LandersError
from landers.policy.agent import Agent
from landers.policy.networks import build_model
from landers.policy.normalize import ObsNormalizer
from landers.policy.spaces import ObsLayout

ALGOS = {
    "ppo": "landers.algos.ppo",
    "a2c": "landers.algos.a2c",
    "trpo": "landers.algos.trpo",
    "reinforce": "landers.algos.reinforce",
    "random": "landers.algos.random",
}


def get_algo(name: str) -> ModuleType:
    if name not in ALGOS:
        raise unknown_key_error(name, list(ALGOS), "algorithm")
    return importlib.import_module(ALGOS[name])


def make_model(algo: ModuleType, cfg: Any, observation_space, action_space) -> torch.nn.Module:
    if hasattr(algo, "make_model"):
        return algo.make_model(cfg, observation_space, action_space)
    return build_model(cfg, observation_space, action_space)


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam with eps 1e-5 (the PPO implementations' value, not torch's 1e-8); the fused
    kernel where this torch has one for the device: 4x faster steps for small MLPs on CPU."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, eps=1e-5, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, eps=1e-5)


def make_optimizer(algo: ModuleType, model: torch.nn.Module, cfg: Any) -> torch.optim.Optimizer:
    if hasattr(algo, "make_optimizer"):
        return algo.make_optimizer(model, cfg)
    return make_adam(model.parameters(), cfg.lr)


def collect(algo: ModuleType, collector, model: torch.nn.Module, cfg: Any):
    if getattr(algo, "COLLECT", "steps") == "episodes":
        return collector.collect_episodes(model, cfg.batch_size)
    return collector.collect(model)


def annealed(value: float, progress: float, anneal: bool) -> float:
    """`value` decayed linearly to 0 over the run when `anneal`, else `value`."""
    return value * (1.0 - progress) if anneal else value


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> float:
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def load(path: str | Path, device: str = "cpu", env: Any = None) -> Agent:
    """The agent saved at `path`: a run directory (its `checkpoints/last`) or a checkpoint directory.

    Its env is rebuilt from the run's record (id, kwargs, wrappers, factory import path); `env`
    (an id, EnvSpec, factory or EnvSource with the same spaces) replaces it, as it must for a
    run whose factory had no import path."""
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
        layout = ObsLayout(obs_space)
        obs_norm = ObsNormalizer(layout.shape, columns=layout.vector_columns)
        obs_norm.rms.load({k: v.numpy() for k, v in tensors.items()}, "obs_norm")
    run = state.get("run", {})
    source = EnvSource(state["env_id"], run.get("env_kwargs") or {}, tuple(run.get("wrappers") or ()),
                       run.get("env_factory"))
    agent = Agent(model.to(device), source, obs_space, act_space, obs_norm, info=state)
    return agent if env is None else agent.with_env(env)

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
- `METRICS`: names of extra per-update metrics for metrics.csv;
- `SEARCH_SPACE` (`landers.core.search`) for `landers tune`, and `constrain(params, defaults)`
  when some combinations of its values are invalid (it returns a valid set).
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from landers.core import checkpoint
from landers.core.config import from_json, unknown_key_error
from landers.envs.source import EnvSource
from landers.envs.spaces import space_from_json
from landers.errors import Diverged, LandersError, first_line
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


MAX_SPACE_SIZE = 2**26  # elements of an observation or action; far above any env landers trains


def get_algo(name: str) -> ModuleType:
    """The algorithm's module; names are case-insensitive (`PPO` is `ppo`)."""
    if not isinstance(name, str) or name.lower() not in ALGOS:
        raise unknown_key_error(str(name), list(ALGOS), "algorithm", plural="algorithms")
    return importlib.import_module(ALGOS[name.lower()])


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


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, params, max_grad_norm: float) -> None:
    """Backpropagate `loss`, clip the global gradient norm and step, unless the loss or the
    gradient norm is not finite: then raise `Diverged` before the step writes NaN or inf into
    the parameters and the optimizer's moments (the trainer keeps the last finite state)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = nn.utils.clip_grad_norm_(params, max_grad_norm)
    # One check of the sum costs one device sync per step; which one failed matters only then.
    if not torch.isfinite(norm + loss.detach()):
        name, value = ("loss", loss) if not torch.isfinite(loss) else ("gradient norm", norm)
        raise Diverged(f"the {name} became {float(value.detach())}")
    optimizer.step()


def load(path: str | Path, device: str = "cpu", env: Any = None) -> Agent:
    """The agent saved at `path`: a run directory (its `checkpoints/last`) or a checkpoint directory.

    Its env is rebuilt from the run's record (id, kwargs, wrappers, factory import path); `env`
    (an id, EnvSpec, factory or EnvSource with the same spaces) replaces it, as it must for a
    run whose factory had no import path."""
    tensors, state = checkpoint.read(Path(path))
    algo = get_algo(state["algo"])
    cfg = from_json(algo.Config, state["run"]["hparams"], f"Checkpoint '{path}' (run.hparams)")
    try:
        for key in ("observation_space", "action_space"):
            shape = state[key].get("shape", [])
            # A Box allocates its bounds: a corrupt shape must not exhaust memory first.
            if isinstance(shape, list) and all(isinstance(n, int) for n in shape) and math.prod(shape) > MAX_SPACE_SIZE:
                raise ValueError(f"{key} of shape {shape}")
        obs_space, act_space = space_from_json(state["observation_space"]), space_from_json(state["action_space"])
    except (KeyError, TypeError, ValueError, IndexError, OverflowError) as e:
        raise LandersError(f"Checkpoint '{path}' has a corrupt space description ({first_line(e)}).") from None
    try:
        with torch.device("meta"):  # shapes only, no memory: the saved tensors must fit them first
            checkpoint.check_tensors(tensors, make_model(algo, cfg, obs_space, act_space).state_dict(), "model.", path)
        model = make_model(algo, cfg, obs_space, act_space)
    except LandersError:  # the algorithm's own sentence (e.g. TRPO on pixels)
        raise
    except (TypeError, ValueError, RuntimeError) as e:
        raise LandersError(f"Checkpoint '{path}' describes a network this version cannot build "
                           f"({first_line(e)}).") from None
    model.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    obs_norm = None
    if "obs_norm.mean" in tensors:
        layout = ObsLayout(obs_space)
        obs_norm = ObsNormalizer(layout.shape, columns=layout.vector_columns)
        checkpoint.check_tensors(tensors, obs_norm.rms.state(""), "obs_norm", path)
        obs_norm.rms.load({k: v.numpy() for k, v in tensors.items()}, "obs_norm")
    run = state.get("run", {})
    kwargs, wrappers, factory = run.get("env_kwargs") or {}, run.get("wrappers") or [], run.get("env_factory")
    if not (isinstance(kwargs, dict) and isinstance(wrappers, list) and all(isinstance(w, str) for w in wrappers)
            and (factory is None or isinstance(factory, str))):
        raise LandersError(f"Checkpoint '{path}' has a corrupt env description (run.env_kwargs, run.wrappers "
                           "or run.env_factory).")
    source = EnvSource(state["env_id"], kwargs, tuple(wrappers), factory)
    agent = Agent(model.to(device), source, obs_space, act_space, obs_norm, info=state)
    return agent if env is None else agent.with_env(env)

"""Algorithms: the registry, the contract each one's module keeps (`Algorithm`), and `load`,
which rebuilds an algorithm's agent from a checkpoint. Imports `landers.core` and below.

Every algorithm module provides every member of `Algorithm`; those most algorithms share have
defaults here (`default_model`, `default_optimizer`, `no_constraint`) that a module names, so
that nothing is probed for with `getattr` and a missing member is one sentence at lookup.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from typing import Any, Literal, Protocol

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
from landers.policy.sde import build_sde_model
from landers.policy.spaces import ObsLayout

ALGOS = {
    "ppo": "landers.algos.ppo",
    "a2c": "landers.algos.a2c",
    "trpo": "landers.algos.trpo",
    "reinforce": "landers.algos.reinforce",
    "random": "landers.algos.random",
}


MAX_SPACE_SIZE = 2**26  # elements of an observation or action; far above any env landers trains


class Algorithm(Protocol):
    """What an algorithm module provides (a module satisfies a Protocol structurally)."""

    Config: type
    """A frozen dataclass of its hyperparameters (usually extending `core.config.BaseConfig`)."""
    COLLECT: Literal["steps", "episodes"]
    """"steps": a `(T, N)` rollout of num_envs * num_steps steps (`Collector.collect`); "episodes":
    whole episodes of at least that many steps (`Collector.collect_episodes`)."""
    METRICS: list[str]
    """Names of its extra per-update metrics for metrics.csv."""
    SEARCH_SPACE: dict
    """What `landers tune` searches (`landers.core.search`); {} for nothing."""
    MASKS: bool
    """Whether its update obeys action masks (`Minibatch.masks`); False refuses a masked env."""

    def update(self, model: nn.Module, optimizer: Any, rollout: Any, cfg: Any, progress: float) -> dict[str, float]:
        """Learn from one rollout; `progress` in [0, 1) is the fraction of the run done, for schedules."""

    def make_model(self, cfg: Any, observation_space: Any, action_space: Any) -> nn.Module:
        """The network (`default_model`: an `ActorCritic`)."""

    def make_optimizer(self, model: nn.Module, cfg: Any) -> Any:
        """The optimizer, or None (`default_optimizer`: Adam)."""

    def constrain(self, params: dict, defaults: Any) -> dict:
        """A valid set of hyperparameters from searched `params` (`no_constraint`: unchanged)."""


ALGORITHM_MEMBERS = ("Config", "COLLECT", "METRICS", "SEARCH_SPACE", "MASKS", "update", "make_model", "make_optimizer",
                     "constrain")


def get_algo(name: str) -> Algorithm:
    """The algorithm's module; names are case-insensitive (`PPO` is `ppo`)."""
    if not isinstance(name, str) or name.lower() not in ALGOS:
        raise unknown_key_error(str(name), list(ALGOS), "algorithm", plural="algorithms")
    name = name.lower()
    module = importlib.import_module(ALGOS[name])
    missing = [member for member in ALGORITHM_MEMBERS if not hasattr(module, member)]
    if missing:
        raise LandersError(f"Algorithm module {ALGOS[name]} lacks {', '.join(missing)} (see landers.algos.Algorithm).")
    return module  # type: ignore[return-value]  # a module satisfies the Protocol structurally


def default_model(cfg: Any, observation_space, action_space) -> nn.Module:
    """An `ActorCritic` MLP, or the Nature CNN for pixels (`networks.build_model`); with `sde`, the
    MLP with state-dependent exploration (`sde.build_sde_model`); without `ortho_init`, with
    PyTorch's default initialization."""
    model = (build_sde_model if cfg.sde else build_model)(cfg, observation_space, action_space)
    if not cfg.ortho_init:  # rl-baselines3-zoo's ortho_init=False, as in its MountainCarContinuous PPO
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d, nn.LSTM, nn.GRU)):
                module.reset_parameters()
    return model


def default_optimizer(model: nn.Module, cfg: Any) -> torch.optim.Optimizer:
    return make_adam(model.parameters(), cfg.lr)


def no_constraint(params: dict, defaults: Any) -> dict:
    return params


def make_model(algo: Algorithm, cfg: Any, observation_space, action_space) -> torch.nn.Module:
    return algo.make_model(cfg, observation_space, action_space)


def make_adam(params, lr: float) -> torch.optim.Adam:
    """Adam with eps 1e-5 (the PPO implementations' value, not torch's 1e-8); the fused
    kernel where this torch has one for the device: 4x faster steps for small MLPs on CPU."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, eps=1e-5, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(params, lr=lr, eps=1e-5)


def make_optimizer(algo: Algorithm, model: torch.nn.Module, cfg: Any) -> torch.optim.Optimizer | None:
    return algo.make_optimizer(model, cfg)


def collect(algo: Algorithm, collector, model: torch.nn.Module, cfg: Any):
    if collector.mask is not None and not algo.MASKS:
        raise LandersError(f"{collector.envs.source.describe()} offers an action mask, which {algo.__name__.rsplit('.')[-1]} "
                           "does not apply; use ppo or a2c, or ignore the mask with --set mask=false.")
    if algo.COLLECT == "episodes":
        return collector.collect_episodes(model, cfg.batch_size)
    return collector.collect(model)


def mean_metrics(sums: dict[str, torch.Tensor], steps: int) -> dict[str, float]:
    """Per-minibatch loss metrics summed as tensors over an update, as floats averaged over
    `steps`: one device sync per update instead of one per minibatch and metric."""
    return {key: float(value) / steps for key, value in sums.items()} if steps else {}


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
    mask_source = state.get("action_mask")  # absent from checkpoints before masks: no mask
    if mask_source not in (None, "obs", "info", "method"):
        raise LandersError(f"Checkpoint '{path}' has a corrupt action_mask ({str(mask_source)[:40]!r}).")
    agent = Agent(model.to(device), source, obs_space, act_space, obs_norm, info=state, mask_source=mask_source)
    return agent if env is None else agent.with_env(env)

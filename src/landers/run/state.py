"""The one named state that trains and is checkpointed: `TrainState` (model, optimizer,
normalization statistics, RNG states, step counters) and the tensors/JSON it saves as.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landers.core import checkpoint
from landers.errors import LandersError, first_line
from landers.policy.normalize import ObsNormalizer, RewardScaler
from landers.policy.sde import ExplorationNoise


@dataclass
class TrainState:
    """Everything that trains and is checkpointed."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer | None  # None for the random policy
    obs_norm: ObsNormalizer | None
    reward_scaler: RewardScaler | None
    noise: ExplorationNoise | None = None  # gSDE's exploration matrices (`sde`)
    global_step: int = 0
    updates: int = 0
    train_time: float = 0.0  # seconds in rollouts and updates, evaluation excluded
    best_eval: float | None = None
    next_eval: int = 0

    def tensors(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors: dict[str, Any] = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        optim_meta = None
        if self.optimizer is not None:
            optim_tensors, optim_meta = checkpoint.optimizer_state(self.optimizer)
            tensors.update(optim_tensors)
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available():  # sampling on a GPU draws from its own generator
            tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        if self.obs_norm is not None:
            tensors.update(self.obs_norm.rms.state("obs_norm"))
        if self.reward_scaler is not None:
            tensors.update(self.reward_scaler.rms.state("reward_rms"))
        if self.noise is not None:
            tensors.update(self.noise.state("sde"))
        meta = {"global_step": self.global_step, "updates": self.updates, "train_time": self.train_time,
                "best_eval": self.best_eval, "next_eval": self.next_eval, "optimizer": optim_meta}
        return tensors, meta

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], where: Path) -> None:
        """Load a checkpoint read by `checkpoint.read`; one sentence if its tensors do not fit."""
        checkpoint.check_tensors(tensors, self.model.state_dict(), "model.", where)
        for prefix, norm in (("obs_norm", self.obs_norm), ("reward_rms", self.reward_scaler)):
            if norm is not None:
                checkpoint.check_tensors(tensors, norm.rms.state(""), prefix, where)
        try:
            self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
            if self.optimizer is not None:
                checkpoint.load_optimizer_state(self.optimizer, tensors, meta["optimizer"])
            torch.set_rng_state(tensors["rng.torch"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as e:
            raise LandersError(f"Checkpoint '{where}' does not fit this run ({first_line(e)}).") from None
        cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
        if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        numpy_tensors = {k: v.numpy() for k, v in tensors.items()}
        if self.obs_norm is not None:
            self.obs_norm.rms.load(numpy_tensors, "obs_norm")
        if self.reward_scaler is not None:
            self.reward_scaler.rms.load(numpy_tensors, "reward_rms")
        if self.noise is not None:
            self.noise.load(tensors, "sde")
        for key in ("global_step", "updates", "train_time", "best_eval", "next_eval"):
            setattr(self, key, meta[key])

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A copy of `tensors()` that later training does not change: what a failed update
        saves instead of its own half-done state."""
        tensors, meta = self.tensors()
        return ({k: v.detach().clone() if torch.is_tensor(v) else np.array(v) for k, v in tensors.items()},
                copy.deepcopy(meta))

    def nonfinite(self) -> str | None:
        """The name of the first quantity of the state that is not finite, or None."""
        params = [p.detach().isfinite().all() for p in self.model.parameters()]
        if params and not bool(torch.stack(params).all()):
            return "the network's parameters"
        for name, norm in (("observation", self.obs_norm), ("reward", self.reward_scaler)):
            if norm is not None and not (np.isfinite(norm.rms.mean).all() and np.isfinite(norm.rms.var).all()):
                return f"the {name} normalization statistics"
        return None

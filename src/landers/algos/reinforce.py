"""REINFORCE (Williams 1992): Monte-Carlo policy gradient on whole episodes with reward-to-go
returns, an optional learned state-value baseline and optional return normalization."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from landers.algos import (
    annealed,
    default_model,
    default_optimizer,
    mean_metrics,
    no_constraint,
    optimizer_step,
    set_lr,
)
from landers.core.advantages import explained_variance, gae
from landers.core.buffer import Minibatch, Rollout
from landers.core.config import BaseConfig, doc, redefault
from landers.core.search import Choice, Float
from landers.errors import LandersError

COLLECT = "episodes"
METRICS: list[str] = []
MASKS = False
make_model, make_optimizer, constrain = default_model, default_optimizer, no_constraint


@dataclass(frozen=True)
class ReinforceConfig(BaseConfig):
    """REINFORCE hyperparameters. An update uses complete episodes only, at least
    num_envs * num_steps steps of them."""

    num_steps: int = doc(256, "steps per environment per update, at least (whole episodes are used)")
    lr: float = redefault(BaseConfig, "lr", 1e-3)
    anneal_lr: bool = redefault(BaseConfig, "anneal_lr", False)
    baseline: bool = doc(True, "subtract a learned state-value baseline, fitted by regression on the returns")
    norm_returns: bool = doc(True, "normalize the (baselined) returns over each batch")
    ent_coef: float = doc(0.0, "entropy bonus coefficient")
    vf_coef: float = doc(0.5, "baseline regression loss coefficient")

    def __post_init__(self):
        super().__post_init__()
        if self.rnn:
            raise LandersError("REINFORCE has no recurrent policies (rnn); use ppo or a2c for memory.")


Config = ReinforceConfig


# Searched by `landers tune reinforce` (narrow or replace it with --space FILE).
SEARCH_SPACE = {
    "lr": Float(1e-4, 3e-3, log=True),
    "num_envs": Choice((4, 8, 16)),
    "num_steps": Choice((128, 256, 512, 1024)),
    "gamma": Choice((0.98, 0.99, 0.995, 0.999)),
    "ent_coef": Float(0.0, 0.02),
    "baseline": Choice((True, False)),
    "norm_returns": Choice((True, False)),
    "norm_obs": Choice((True, False)),
}


def reinforce_loss(model: nn.Module, batch: Minibatch, cfg: ReinforceConfig):
    """-mean(log pi(a|s) * weight) with weight (`batch.advantages`) the reward-to-go (minus the
    baseline), plus the baseline's regression loss when there is one: (loss, metrics as tensors)."""
    params, values = model(batch.obs)
    logp = model.dist.log_prob(params, batch.actions)
    entropy = model.dist.entropy(params).mean()
    policy_loss = -(logp * batch.advantages).mean()
    loss = policy_loss - cfg.ent_coef * entropy
    value_loss = torch.zeros(())
    if cfg.baseline:
        value_loss = 0.5 * (values - batch.returns).pow(2).mean()
        loss = loss + cfg.vf_coef * value_loss
    return loss, {"policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(), "entropy": entropy.detach()}


def update(model: nn.Module, optimizer: torch.optim.Optimizer, rollout: Rollout, cfg: ReinforceConfig,
           progress: float) -> dict[str, float]:
    lr = set_lr(optimizer, annealed(cfg.lr, progress, cfg.anneal_lr))
    # Reward-to-go is GAE with lambda 1; without a baseline the values are zero, so a
    # truncated episode's return simply ends at the time limit.
    values = rollout.values if cfg.baseline else torch.zeros_like(rollout.values)
    weights, returns = gae(rollout.rewards, values, rollout.next_values, rollout.terminated,
                           rollout.truncated, cfg.gamma, 1.0)
    batch = Minibatch(*rollout.flat(rollout.obs, rollout.actions, rollout.logp, values, weights, returns))
    if cfg.norm_returns and batch.advantages.numel() > 1:
        weights = batch.advantages
        batch = batch._replace(advantages=(weights - weights.mean()) / (weights.std() + 1e-8))
    loss, metrics = reinforce_loss(model, batch, cfg)
    optimizer_step(optimizer, loss, model.parameters(), cfg.max_grad_norm)
    ev = explained_variance(batch.values, batch.returns) if cfg.baseline else float("nan")
    return {**mean_metrics(metrics, 1), "lr": lr, "gradient_steps": 1, "explained_variance": ev}

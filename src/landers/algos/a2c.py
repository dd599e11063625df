"""Synchronous advantage actor-critic (A2C; Mnih et al. 2016, the synchronous variant of A3C):
one gradient step per rollout on n-step (gae_lambda=1) or GAE advantages."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from landers.algos import annealed, default_model, make_adam, mean_metrics, no_constraint, optimizer_step, set_lr
from landers.core.advantages import explained_variance, gae
from landers.core.buffer import Minibatch, Rollout, evaluate_batch
from landers.core.config import BaseConfig, doc, must_be, redefault
from landers.core.search import Choice, Float


@dataclass(frozen=True)
class A2CConfig(BaseConfig):
    """A2C hyperparameters; defaults follow Stable-Baselines3's A2C."""

    num_steps: int = doc(5, "steps per environment per rollout (n of the n-step return)")
    lr: float = redefault(BaseConfig, "lr", 7e-4)
    anneal_lr: bool = redefault(BaseConfig, "anneal_lr", False)
    gae_lambda: float = doc(1.0, "1.0 gives n-step returns; below 1, GAE(lambda)")
    ent_coef: float = doc(0.0, "entropy bonus coefficient")
    vf_coef: float = doc(0.5, "value loss coefficient")
    norm_adv: bool = doc(False, "normalize advantages per rollout")
    optimizer: str = doc("rmsprop", "rmsprop (alpha 0.99, eps 1e-5, as in A3C) or adam")

    def __post_init__(self):
        super().__post_init__()
        must_be(self, ("optimizer",), lambda v: v in ("rmsprop", "adam"), "must be rmsprop or adam")
        must_be(self, ("gae_lambda",), lambda v: 0 <= v <= 1, "must be in [0, 1]")


Config = A2CConfig
COLLECT = "steps"
METRICS: list[str] = []
MASKS = True
make_model, constrain = default_model, no_constraint


# Searched by `landers tune a2c` (narrow or replace it with --space FILE).
SEARCH_SPACE = {
    "lr": Float(1e-4, 3e-3, log=True),
    "num_envs": Choice((4, 8, 16)),
    "num_steps": Choice((5, 8, 16, 32)),
    "gamma": Choice((0.98, 0.99, 0.995, 0.999)),
    "gae_lambda": Choice((0.9, 0.95, 1.0)),
    "ent_coef": Float(0.0, 0.02),
    "max_grad_norm": Choice((0.5, 1.0)),
    "norm_adv": Choice((True, False)),
    "norm_obs": Choice((True, False)),
    "norm_reward": Choice((True, False)),
}


def make_optimizer(model: nn.Module, cfg: A2CConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return make_adam(model.parameters(), cfg.lr)
    return torch.optim.RMSprop(model.parameters(), lr=cfg.lr, alpha=0.99, eps=1e-5)


def a2c_loss(model: nn.Module, batch: Minibatch, cfg: A2CConfig):
    """Policy gradient with the advantage as its weight, value regression, entropy bonus:
    (loss, metrics as tensors)."""
    params, values = evaluate_batch(model, batch)
    batch = batch.rows()
    advantages, returns = batch.advantages, batch.returns
    logp = model.dist.log_prob(params, batch.actions)
    entropy = model.dist.entropy(params).mean()
    if cfg.norm_adv and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = -(logp * advantages).mean()
    value_loss = 0.5 * (values - returns).pow(2).mean()
    loss = policy_loss - cfg.ent_coef * entropy + cfg.vf_coef * value_loss
    return loss, {"policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(), "entropy": entropy.detach()}


def update(model: nn.Module, optimizer: torch.optim.Optimizer, rollout: Rollout, cfg: A2CConfig,
           progress: float) -> dict[str, float]:
    lr = set_lr(optimizer, annealed(cfg.lr, progress, cfg.anneal_lr))
    advantages, returns = gae(rollout.rewards, rollout.values, rollout.next_values,
                              rollout.terminated, rollout.truncated, cfg.gamma, cfg.gae_lambda)
    batch = rollout.batch(advantages, returns)
    loss, metrics = a2c_loss(model, batch, cfg)
    optimizer_step(optimizer, loss, model.parameters(), cfg.max_grad_norm)
    rows = batch.rows()
    return {**mean_metrics(metrics, 1), "lr": lr, "gradient_steps": 1,
            "explained_variance": explained_variance(rows.values, rows.returns)}

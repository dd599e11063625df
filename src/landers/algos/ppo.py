"""Proximal Policy Optimization (Schulman et al. 2017), clipped-surrogate variant.

Only what is specific to PPO lives here: its config, its loss and its update. Rollouts,
advantages, networks, checkpoints and logging are shared with the other algorithms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from landers.algos import annealed, default_model, default_optimizer, mean_metrics, optimizer_step, set_lr
from landers.core.advantages import explained_variance, gae
from landers.core.buffer import Minibatch, Rollout, evaluate_batch
from landers.core.config import BaseConfig, doc, must_be, redefault
from landers.core.search import Choice, Float, Int, largest_divisor_at_most
from landers.errors import LandersError


@dataclass(frozen=True)
class PPOConfig(BaseConfig):
    """PPO hyperparameters (the shared ones are in `BaseConfig`). The defaults are what an env
    with no preset trains with: one `landers tune` study across CartPole, Acrobot, Pendulum and
    LunarLander chose them, and a `landers bench` of every classic, Box2D and MuJoCo env checked
    them (bench/tuning/defaults/, issue 22). Tuned presets per env live in `landers/presets/`."""

    num_envs: int = redefault(BaseConfig, "num_envs", 16)
    num_steps: int = redefault(BaseConfig, "num_steps", 64)
    gamma: float = redefault(BaseConfig, "gamma", 0.999)
    lr: float = redefault(BaseConfig, "lr", 1e-3)
    max_grad_norm: float = redefault(BaseConfig, "max_grad_norm", 1.0)
    hidden_sizes: tuple[int, ...] = redefault(BaseConfig, "hidden_sizes", (64, 64, 64))
    norm_obs: bool = doc(True, "normalize vector observations with running statistics (the default only where the "
                               "env has some: pixels, categories and bits are left as they are)")
    norm_reward: bool = redefault(BaseConfig, "norm_reward", True)
    num_minibatches: int = doc(8, "minibatches per epoch; must divide num_envs * num_steps (with rnn, at most "
                                      "num_envs); left unset, rounded down to fit")
    update_epochs: int = doc(6, "passes over each rollout")
    gae_lambda: float = doc(0.98, "GAE lambda: 0 is one-step TD, 1 is Monte Carlo")
    clip_coef: float = doc(0.1, "surrogate clipping range epsilon")
    anneal_clip: bool = doc(False, "decay the clipping range linearly to 0 over the run")
    clip_vloss: bool = doc(False, "clip the value update around the old values with clip_coef")
    ent_coef: float = doc(0.003, "entropy bonus coefficient")
    vf_coef: float = doc(0.5, "value loss coefficient")
    target_kl: float | None = doc(None, "stop the epochs of an update once approx_kl exceeds this")
    norm_adv: bool = doc(True, "normalize advantages per minibatch")

    def __post_init__(self):
        super().__post_init__()
        must_be(self, ("num_minibatches", "update_epochs", "clip_coef"), lambda v: v > 0, "must be positive")
        must_be(self, ("gae_lambda",), lambda v: 0 <= v <= 1, "must be in [0, 1]")
        if self.batch_size % self.num_minibatches:
            raise LandersError(
                f"num_minibatches={self.num_minibatches} does not divide the batch "
                f"num_envs * num_steps = {self.batch_size}.")
        if self.rnn and self.num_minibatches > self.num_envs:
            raise LandersError(f"With rnn a minibatch is a group of whole env sequences: num_minibatches="
                               f"{self.num_minibatches} must be at most num_envs={self.num_envs}.")

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches


Config = PPOConfig
COLLECT = "steps"
METRICS: list[str] = []
MASKS = True
make_model, make_optimizer = default_model, default_optimizer


# Searched by `landers tune ppo` (narrow or replace it with --space FILE).
SEARCH_SPACE = {
    "lr": Float(1e-4, 3e-3, log=True),
    "num_envs": Choice((8, 16, 32)),
    "num_steps": Choice((64, 128, 256, 512)),
    "num_minibatches": Choice((4, 8, 16, 32)),
    "update_epochs": Int(3, 10),
    "gamma": Choice((0.98, 0.99, 0.995, 0.999)),
    "gae_lambda": Choice((0.9, 0.95, 0.98)),
    "clip_coef": Choice((0.1, 0.2, 0.3)),
    "ent_coef": Float(0.0, 0.02),
    "max_grad_norm": Choice((0.5, 1.0)),
    "norm_obs": Choice((True, False)),
    "norm_reward": Choice((True, False)),
}


def constrain(params: dict, defaults: PPOConfig) -> dict:
    """num_minibatches must divide the batch: round it down to the nearest divisor (with rnn, to
    at most num_envs too: a recurrent minibatch is a group of whole env sequences)."""
    num_envs = params.get("num_envs", defaults.num_envs)
    batch = num_envs * params.get("num_steps", defaults.num_steps)
    wanted = params.get("num_minibatches", defaults.num_minibatches)
    if params.get("rnn", defaults.rnn):
        wanted = min(wanted, num_envs)
    params["num_minibatches"] = largest_divisor_at_most(batch, wanted)
    return params


def ppo_loss(model: nn.Module, batch: Minibatch, cfg: PPOConfig, clip_coef: float):
    """The PPO objective on one minibatch, as a pure function: (loss, metrics as tensors).

    Clipped surrogate (PPO paper eq. 7), value loss optionally clipped around the old values,
    entropy bonus (eq. 9).
    """
    params, values = evaluate_batch(model, batch)
    batch = batch.rows()
    advantages, returns, old_values = batch.advantages, batch.returns, batch.values
    logp = model.dist.log_prob(params, batch.actions)
    entropy = model.dist.entropy(params).mean()
    log_ratio = logp - batch.logp
    ratio = log_ratio.exp()
    if cfg.norm_adv and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = torch.max(-advantages * ratio,
                            -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()
    value_loss = (values - returns).pow(2)
    if cfg.clip_vloss:
        clipped = old_values + (values - old_values).clamp(-clip_coef, clip_coef)
        value_loss = torch.max(value_loss, (clipped - returns).pow(2))
    value_loss = 0.5 * value_loss.mean()
    loss = policy_loss - cfg.ent_coef * entropy + cfg.vf_coef * value_loss
    with torch.no_grad():
        # Low-variance KL(old || new) estimator, http://joschu.net/blog/kl-approx.html
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipfrac = ((ratio - 1).abs() > clip_coef).float().mean()
    metrics = {"policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
               "entropy": entropy.detach(), "approx_kl": approx_kl, "clipfrac": clipfrac}
    return loss, metrics


def update(model: nn.Module, optimizer: torch.optim.Optimizer, rollout: Rollout,
           cfg: PPOConfig, progress: float) -> dict[str, float]:
    """Several epochs of minibatch steps on one rollout; `progress` in [0, 1) drives annealing."""
    lr = set_lr(optimizer, annealed(cfg.lr, progress, cfg.anneal_lr))
    clip_coef = annealed(cfg.clip_coef, progress, cfg.anneal_clip)
    advantages, returns = gae(rollout.rewards, rollout.values, rollout.next_values,
                              rollout.terminated, rollout.truncated, cfg.gamma, cfg.gae_lambda)
    batch = rollout.batch(advantages, returns)
    # A recurrent policy's minibatches are groups of whole env sequences, replayed from their states.
    sequences = batch.state is not None
    n = batch.obs.shape[1] if sequences else batch.obs.shape[0]
    params = list(model.parameters())  # walking the modules once per minibatch costs ~1% of an update
    sums: dict[str, torch.Tensor] = {}
    steps, stopped = 0, False
    for _ in range(cfg.update_epochs):
        perm = torch.randperm(n, device=batch.obs.device)
        minibatches = ([batch.envs(index) for index in perm.chunk(cfg.num_minibatches)] if sequences
                       else batch.shuffled(perm, cfg.num_minibatches))
        for minibatch in minibatches:
            loss, metrics = ppo_loss(model, minibatch, cfg, clip_coef)
            # The one sync per minibatch that stopping early needs; none without target_kl.
            if cfg.target_kl is not None and metrics["approx_kl"] > cfg.target_kl:
                stopped = True
                break
            optimizer_step(optimizer, loss, params, cfg.max_grad_norm)
            for key, value in metrics.items():
                sums[key] = sums.get(key, 0.0) + value
            steps += 1
        if stopped:
            break
    out = mean_metrics(sums, steps)
    rows = batch.rows()
    out.update(lr=lr, clip_coef=clip_coef, gradient_steps=steps,
               explained_variance=explained_variance(rows.values, rows.returns))
    return out

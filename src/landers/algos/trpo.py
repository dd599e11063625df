"""Trust Region Policy Optimization (Schulman et al. 2015): a natural-gradient step on the
surrogate objective, scaled to the KL limit, found with conjugate gradient on Fisher-vector
products and accepted by a backtracking line search; the value function is fitted by
regression with Adam."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from landers.core.advantages import explained_variance, gae
from landers.algos import annealed, make_adam, optimizer_step, set_lr
from landers.core.config import BaseConfig, doc, must_be
from landers.core.search import Choice, Float, Int
from landers.errors import Diverged, LandersError
from landers.core.rollout import Rollout

METRICS = ["kl", "line_search_steps", "improvement"]


@dataclass(frozen=True)
class TRPOConfig(BaseConfig):
    """TRPO hyperparameters; `lr` is the value function's (the policy step is set by max_kl)."""

    num_steps: int = doc(256, "steps per environment per rollout (T)")
    lr: float = doc(1e-3, "value-function Adam learning rate")
    anneal_lr: bool = doc(False, "decay the value learning rate linearly to 0 over the run")
    max_kl: float = doc(0.01, "trust region: the largest mean KL(old || new) a step may reach")
    cg_iters: int = doc(10, "conjugate-gradient iterations")
    cg_damping: float = doc(0.1, "damping added to the Fisher matrix, for stable CG")
    line_search_steps: int = doc(10, "backtracking line-search attempts")
    line_search_decay: float = doc(0.8, "step shrink factor per line-search attempt")
    gae_lambda: float = doc(0.95, "GAE lambda")
    vf_epochs: int = doc(10, "value-function epochs per rollout")
    vf_minibatches: int = doc(16, "value-function minibatches per epoch")
    norm_adv: bool = doc(True, "normalize advantages over the rollout")

    def __post_init__(self):
        super().__post_init__()
        if self.shared_network:
            raise LandersError("TRPO needs separate actor and critic networks (shared_network=false).")
        must_be(self, ("max_kl", "cg_iters", "line_search_steps", "vf_epochs", "vf_minibatches"), lambda v: v > 0,
                "must be positive")
        must_be(self, ("cg_damping",), lambda v: v >= 0, "must be >= 0")
        must_be(self, ("line_search_decay",), lambda v: 0 < v < 1, "must be in (0, 1)")


Config = TRPOConfig


# Searched by `landers tune trpo` (narrow or replace it with --space FILE).
SEARCH_SPACE = {
    "max_kl": Float(0.003, 0.05, log=True),
    "num_envs": Choice((4, 8, 16, 32)),
    "num_steps": Choice((64, 128, 256, 512)),
    "gamma": Choice((0.98, 0.99, 0.995, 0.999)),
    "gae_lambda": Choice((0.9, 0.95, 0.98)),
    "lr": Float(1e-4, 3e-3, log=True),
    "vf_epochs": Int(3, 10),
    "norm_obs": Choice((True, False)),
    "norm_reward": Choice((True, False)),
}


def make_optimizer(model: nn.Module, cfg: TRPOConfig) -> torch.optim.Optimizer:
    """Adam for the value function only: the policy moves by the natural-gradient step."""
    if model.shares_features:  # a CNN for pixels feeds both: the value fit would move the policy
        raise LandersError("TRPO needs separate actor and critic networks; image observations go through a CNN "
                           "that both share.")
    return make_adam(model.critic_parameters(), cfg.lr)


def conjugate_gradient(matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iters: int,
                       tol: float = 1e-10) -> torch.Tensor:
    """Approximately solve A x = b for symmetric positive-definite A given as `matvec`."""
    x = torch.zeros_like(b)
    r, p = b.clone(), b.clone()
    rr = r @ r
    for _ in range(iters):
        Ap = matvec(p)
        alpha = rr / (p @ Ap)
        x += alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        if rr_new < tol:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def _flat_grad(y: torch.Tensor, params: list[nn.Parameter], **kw) -> torch.Tensor:
    return torch.cat([g.reshape(-1) for g in torch.autograd.grad(y, params, **kw)])


def _set_flat(params: list[nn.Parameter], flat: torch.Tensor) -> None:
    i = 0
    for p in params:
        p.data.copy_(flat[i:i + p.numel()].view_as(p))
        i += p.numel()


def policy_step(model: nn.Module, obs, actions, advantages, cfg: TRPOConfig) -> dict[str, float]:
    """One trust-region step of the policy; returns the KL reached and line-search attempts."""
    actor = model.actor_parameters()
    dist = model.dist
    with torch.no_grad():
        old_params = model.policy_params(obs)
        old_logp = dist.log_prob(old_params, actions)

    def surrogate():
        params = model.policy_params(obs)
        return (torch.exp(dist.log_prob(params, actions) - old_logp) * advantages).mean(), params

    surr, _ = surrogate()
    g = _flat_grad(surr, actor)
    if not torch.isfinite(g).all():  # the line search would reject every step, silently
        raise Diverged(f"the policy gradient became {'nan' if g.isnan().any() else 'inf'}")

    def fisher_vector(v: torch.Tensor) -> torch.Tensor:
        kl = dist.kl(old_params, model.policy_params(obs)).mean()
        grad_kl = _flat_grad(kl, actor, create_graph=True)
        return _flat_grad(grad_kl @ v, actor) + cfg.cg_damping * v

    direction = conjugate_gradient(fisher_vector, g, cfg.cg_iters)
    shs = 0.5 * direction @ fisher_vector(direction)
    # KL ~ 0.5 d^T F d, so this scale puts the full step on the trust-region boundary.
    full_step = direction * torch.sqrt(cfg.max_kl / shs.clamp_min(1e-12))
    old_flat = torch.cat([p.data.reshape(-1) for p in actor])
    with torch.no_grad():
        for attempt in range(1, cfg.line_search_steps + 1):
            _set_flat(actor, old_flat + cfg.line_search_decay ** (attempt - 1) * full_step)
            new_surr, new_params = surrogate()
            kl = dist.kl(old_params, new_params).mean()
            if kl <= cfg.max_kl and new_surr > surr:
                return {"kl": kl.item(), "line_search_steps": attempt, "improvement": (new_surr - surr).item(),
                        "policy_loss": -new_surr.item(), "entropy": dist.entropy(new_params).mean().item()}
        _set_flat(actor, old_flat)  # no acceptable step: keep the old policy
        return {"kl": 0.0, "line_search_steps": cfg.line_search_steps, "improvement": 0.0,
                "policy_loss": -surr.item(), "entropy": dist.entropy(old_params).mean().item()}


def update(model: nn.Module, optimizer: torch.optim.Optimizer, rollout: Rollout, cfg: TRPOConfig,
           progress: float) -> dict[str, float]:
    lr = set_lr(optimizer, annealed(cfg.lr, progress, cfg.anneal_lr))
    advantages, returns = gae(rollout.rewards, rollout.values, rollout.next_values,
                              rollout.terminated, rollout.truncated, cfg.gamma, cfg.gae_lambda)
    obs, actions, values, advantages, returns = rollout.flat(rollout.obs, rollout.actions, rollout.values,
                                                             advantages, returns)
    if cfg.norm_adv and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    metrics = policy_step(model, obs, actions, advantages, cfg)
    value_loss, steps = 0.0, 0
    critic = model.critic_parameters()
    for _ in range(cfg.vf_epochs):
        for index in torch.randperm(len(obs), device=obs.device).chunk(cfg.vf_minibatches):
            loss = 0.5 * (model.value(obs[index]) - returns[index]).pow(2).mean()
            optimizer_step(optimizer, loss, critic, cfg.max_grad_norm)
            value_loss += loss.item()
            steps += 1
    return {**metrics, "value_loss": value_loss / steps, "lr": lr, "gradient_steps": steps,
            "explained_variance": explained_variance(values, returns)}



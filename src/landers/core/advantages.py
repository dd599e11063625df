"""Returns and advantages as pure functions of `(T, N)` tensors."""

from __future__ import annotations

import torch


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
        terminated: torch.Tensor, truncated: torch.Tensor, gamma: float, lam: float):
    """Generalized advantage estimation (Schulman et al. 2016, eq. 16), termination-aware.

    rewards, values, terminated, truncated: (T, N); next_values: (N,), the value of the
    observation after the last step. `values[t + 1]` is the value of the observation that
    followed step t; when step t ended an episode, that is the episode's final observation
    (NEXT_STEP autoreset), so a truncated step bootstraps from it: the time limit is not part
    of the task (Pardo et al. 2018). A terminated step does not bootstrap. Neither propagates
    advantages across the episode boundary.
    Returns (advantages, returns), each (T, N).
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    not_terminated = (~terminated).to(rewards.dtype)
    not_done = (~(terminated | truncated)).to(rewards.dtype)
    last = torch.zeros_like(next_values)
    for t in reversed(range(T)):
        following = next_values if t == T - 1 else values[t + 1]
        delta = rewards[t] + gamma * following * not_terminated[t] - values[t]
        last = delta + gamma * lam * not_done[t] * last
        advantages[t] = last
    return advantages, advantages + values


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float:
    """1 - Var(target - predicted) / Var(target): 1 is perfect, 0 no better than a constant."""
    var = target.var()
    return float("nan") if var == 0 else float(1 - (target - predicted).var() / var)

"""Action distributions: categorical, diagonal Gaussian, a categorical per dimension, a Bernoulli
per bit, and action masks on the categorical ones.

They are written out instead of using `torch.distributions`: a few lines each, and skipping its
argument validation and object construction keeps per-step inference cheap in the rollout loop.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from landers.policy.spaces import env_actions

# The logit of a masked action: exp() of it underflows to exactly 0, so it is never sampled and
# adds nothing to the entropy or KL, while 0 * log p stays 0 (with -inf it would be NaN).
MASKED_LOGIT = -1e8


def masked(params, mask: torch.Tensor | None):
    """Logits with the actions `mask` forbids (False) made impossible; `mask` is `(B, n)` for
    Discrete, `(B, sum(nvec))` for MultiDiscrete (one mask per dimension, concatenated)."""
    return params if mask is None else params.masked_fill(~mask, MASKED_LOGIT)



class Categorical:
    """Discrete actions from logits `(B, n)`."""

    def __init__(self, space: gym.spaces.Discrete):
        self.out_dim = int(space.n)

    def sample(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.multinomial(torch.softmax(logits, -1), 1).squeeze(-1)

    def mode(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(-1)

    def log_prob(self, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(logits, -1).gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self, logits: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(logits, -1)
        return -(logp.exp() * logp).sum(-1)

    def kl(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """KL(old || new) per sample."""
        old_logp, new_logp = torch.log_softmax(old, -1), torch.log_softmax(new, -1)
        return (old_logp.exp() * (old_logp - new_logp)).sum(-1)


class DiagGaussian:
    """Continuous actions: mean from the network, state-independent log-std parameter."""

    def __init__(self, space: gym.spaces.Box):
        self.out_dim = int(np.prod(space.shape))

    def sample(self, params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        mean, log_std = params
        return mean + log_std.exp() * torch.randn_like(mean)

    def mode(self, params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return params[0]

    def log_prob(self, params, actions: torch.Tensor) -> torch.Tensor:
        mean, log_std = params
        z = (actions - mean) * torch.exp(-log_std)
        return (-0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def entropy(self, params) -> torch.Tensor:
        mean, log_std = params
        return (log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum(-1).expand(mean.shape[0])

    def kl(self, old, new) -> torch.Tensor:
        """KL(old || new) per sample, for diagonal Gaussians."""
        (mu0, ls0), (mu1, ls1) = old, new
        return (ls1 - ls0 + ((2 * ls0).exp() + (mu0 - mu1).pow(2)) / (2 * (2 * ls1).exp()) - 0.5).sum(-1)


class MultiCategorical:
    """MultiDiscrete actions: an independent categorical per dimension over logits `(B, sum(nvec))`;
    an action is `(B, k)` category indices and its log-probability the sum over dimensions."""

    def __init__(self, space: gym.spaces.MultiDiscrete):
        self.nvec = [int(n) for n in space.nvec.reshape(-1)]
        self.out_dim = sum(self.nvec)

    def _split(self, logits: torch.Tensor) -> list[torch.Tensor]:
        return [torch.log_softmax(part, -1) for part in logits.split(self.nvec, -1)]

    def sample(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.stack([torch.multinomial(logp.exp(), 1).squeeze(-1) for logp in self._split(logits)], -1)

    def mode(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.stack([part.argmax(-1) for part in logits.split(self.nvec, -1)], -1)

    def log_prob(self, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        actions = actions.long()
        return sum(logp.gather(-1, actions[:, i:i + 1]).squeeze(-1) for i, logp in enumerate(self._split(logits)))

    def entropy(self, logits: torch.Tensor) -> torch.Tensor:
        return sum(-(logp.exp() * logp).sum(-1) for logp in self._split(logits))

    def kl(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """KL(old || new) per sample: the dimensions are independent, so their KLs add."""
        return sum((o.exp() * (o - n)).sum(-1) for o, n in zip(self._split(old), self._split(new), strict=False))


class Bernoulli:
    """MultiBinary actions: an independent Bernoulli per bit with logits `(B, bits)`; an action is
    `(B, bits)` of 0.0 / 1.0 and its log-probability the sum over bits."""

    def __init__(self, space: gym.spaces.MultiBinary):
        self.out_dim = int(np.prod(space.shape))

    def sample(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.bernoulli(torch.sigmoid(logits))

    def mode(self, logits: torch.Tensor) -> torch.Tensor:
        return (logits > 0).float()

    def log_prob(self, logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        # log sigmoid(l) for bits set, log sigmoid(-l) for bits clear.
        return -nn.functional.binary_cross_entropy_with_logits(logits, actions.float(), reduction="none").sum(-1)

    def entropy(self, logits: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits)
        return nn.functional.binary_cross_entropy_with_logits(logits, p, reduction="none").sum(-1)

    def kl(self, old: torch.Tensor, new: torch.Tensor) -> torch.Tensor:
        """KL(old || new) per sample, summed over the independent bits."""
        p = torch.sigmoid(old)
        logsig = nn.functional.logsigmoid
        return (p * (logsig(old) - logsig(new)) + (1 - p) * (logsig(-old) - logsig(-new))).sum(-1)


def make_dist(space: gym.Space) -> Categorical | DiagGaussian | MultiCategorical | Bernoulli:
    env_actions(space)  # refuses, in one sentence, a space with no distribution here
    if isinstance(space, gym.spaces.Discrete):
        return Categorical(space)
    if isinstance(space, gym.spaces.Box):
        return DiagGaussian(space)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return MultiCategorical(space)
    return Bernoulli(space)

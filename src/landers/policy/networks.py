"""Actor-critic networks and the two action distributions (categorical, diagonal Gaussian).

The distributions are written out instead of using `torch.distributions`: they are a few lines
each, and skipping its argument validation and object construction keeps per-step inference
cheap in the rollout loop.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from landers.errors import LandersError

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def layer(in_dim: int, out_dim: int, gain: float) -> nn.Linear:
    """Orthogonal weights, zero bias (Engstrom et al. 2020, 'Implementation Matters')."""
    linear = nn.Linear(in_dim, out_dim)
    nn.init.orthogonal_(linear.weight, gain)
    nn.init.zeros_(linear.bias)
    return linear


def mlp(in_dim: int, hidden: tuple[int, ...], activation: str) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [layer(in_dim, size, math.sqrt(2)), ACTIVATIONS[activation]()]
        in_dim = size
    return nn.Sequential(*layers)


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


def is_image(space: gym.Space) -> bool:
    """Stacked frames, channels first, kept as uint8 (the CNN scales them)."""
    return len(space.shape or ()) == 3 and space.dtype == np.uint8


def make_dist(space: gym.Space) -> Categorical | DiagGaussian:
    if isinstance(space, gym.spaces.Discrete):
        return Categorical(space)
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return DiagGaussian(space)
    raise ValueError(f"unsupported action space {space}")


class ActorCritic(nn.Module):
    """Policy and value function over flat observations; separate MLPs or a shared trunk.

    Output layers use the usual gains: 0.01 for the policy (near-uniform initial policy),
    1.0 for the value head.
    """

    def __init__(self, obs_dim: int, action_space: gym.Space, hidden: tuple[int, ...],
                 activation: str = "tanh", shared: bool = False, init_log_std: float = 0.0):
        super().__init__()
        self.dist = make_dist(action_space)
        width = hidden[-1] if hidden else obs_dim
        self.actor_body = mlp(obs_dim, hidden, activation)
        self.critic_body = self.actor_body if shared else mlp(obs_dim, hidden, activation)
        self.shared = shared
        self.actor_head = layer(width, self.dist.out_dim, 0.01)
        self.critic_head = layer(width, 1, 1.0)
        self.log_std = (
            nn.Parameter(torch.full((self.dist.out_dim,), float(init_log_std)))
            if isinstance(self.dist, DiagGaussian) else None
        )

    def _params(self, features: torch.Tensor):
        out = self.actor_head(features)
        return (out, self.log_std.expand_as(out)) if self.log_std is not None else out

    def forward(self, obs: torch.Tensor):
        """obs (B, obs_dim) -> (distribution parameters, values (B,))."""
        actor_features = self.actor_body(obs)
        critic_features = actor_features if self.shared else self.critic_body(obs)
        return self._params(actor_features), self.critic_head(critic_features).squeeze(-1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic_head(self.critic_body(obs)).squeeze(-1)

    def policy_params(self, obs: torch.Tensor):
        return self._params(self.actor_body(obs))

    def act(self, obs: torch.Tensor, deterministic: bool = False):
        """Rollout step: (actions, log-probs, values), each with leading dim B."""
        params, values = self(obs)
        actions = self.dist.mode(params) if deterministic else self.dist.sample(params)
        return actions, self.dist.log_prob(params, actions), values

    def actor_parameters(self) -> list[nn.Parameter]:
        params = list(self.actor_body.parameters()) + list(self.actor_head.parameters())
        return params + ([self.log_std] if self.log_std is not None else [])

    def critic_parameters(self) -> list[nn.Parameter]:
        """The value function's own parameters (a shared trunk belongs to the actor)."""
        body = [] if self.shared else list(self.critic_body.parameters())
        return body + list(self.critic_head.parameters())


class CNNActorCritic(ActorCritic):
    """The Nature-DQN convolutional trunk (Mnih et al. 2015) shared by a policy head and a
    value head, for stacked 84x84 uint8 frames; pixels are scaled to [0, 1] inside."""

    def __init__(self, obs_shape: tuple[int, ...], action_space: gym.Space):
        nn.Module.__init__(self)
        self.dist = make_dist(action_space)
        channels = obs_shape[0]
        conv = lambda i, o, k, s: nn.Conv2d(i, o, k, s)  # noqa: E731
        self.trunk = nn.Sequential(
            conv(channels, 32, 8, 4), nn.ReLU(), conv(32, 64, 4, 2), nn.ReLU(), conv(64, 64, 3, 1), nn.ReLU(),
            nn.Flatten())
        with torch.no_grad():
            flat = self.trunk(torch.zeros(1, *obs_shape)).shape[1]
        self.trunk.append(layer(flat, 512, math.sqrt(2)))
        self.trunk.append(nn.ReLU())
        for module in self.trunk:
            if isinstance(module, nn.Conv2d):
                nn.init.orthogonal_(module.weight, math.sqrt(2))
                nn.init.zeros_(module.bias)
        self.actor_body = self.critic_body = self.trunk
        self.shared = True
        self.actor_head = layer(512, self.dist.out_dim, 0.01)
        self.critic_head = layer(512, 1, 1.0)
        self.log_std = (nn.Parameter(torch.zeros(self.dist.out_dim))
                        if isinstance(self.dist, DiagGaussian) else None)

    def _features(self, obs: torch.Tensor) -> torch.Tensor:
        return self.trunk(obs.float() / 255.0)

    def forward(self, obs: torch.Tensor):
        features = self._features(obs)
        return self._params(features), self.critic_head(features).squeeze(-1)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic_head(self._features(obs)).squeeze(-1)

    def policy_params(self, obs: torch.Tensor):
        return self._params(self._features(obs))


def build_model(cfg: Any, observation_space: gym.Space, action_space: gym.Space) -> ActorCritic:
    """An MLP actor-critic for flat observations, the Nature CNN for stacked frames."""
    shape = observation_space.shape
    if is_image(observation_space):
        if shape[0] > 16 or min(shape[1:]) < 36:
            raise LandersError(f"Image observations of shape {shape} are not supported: the CNN takes stacked "
                               "frames channels-first (at most 16 channels, at least 36x36 pixels).")
        return CNNActorCritic(tuple(shape), action_space)
    if len(shape) != 1:
        raise LandersError(f"Observations of shape {shape} are not supported: flat vectors or stacked "
                           "uint8 frames (channels, height, width) only.")
    return ActorCritic(int(observation_space.shape[0]), action_space, tuple(cfg.hidden_sizes),
                       cfg.activation, cfg.shared_network, cfg.init_log_std)

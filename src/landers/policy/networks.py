"""Actor-critic networks, the observation encoder and the action distributions (categorical,
diagonal Gaussian, a categorical per dimension, a Bernoulli per bit).

The distributions are written out instead of using `torch.distributions`: they are a few lines
each, and skipping its argument validation and object construction keeps per-step inference
cheap in the rollout loop.

Every network takes observations in the stored form of `spaces.ObsLayout` (one flat float32
row, or one uint8 image) and keeps `forward` tensor-only, so that it traces for export.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from landers.errors import LandersError
from landers.policy.spaces import ObsLayout, env_actions

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
CNN_FEATURES = 512  # width of the Nature CNN's last layer


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


def run_layers(body: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """`body(x)` for an `mlp`, calling each layer's function directly: `nn.Module.__call__`'s
    bookkeeping is about half the cost of a rollout step's forward pass through these small
    layers (63 -> 34 us for PPO's two 64x64 MLPs on 32 rows, bench/RESULTS.md). The same
    kernels in the same order, so the same numbers, gradients included."""
    for layer in body:
        x = nn.functional.linear(x, layer.weight, layer.bias) if type(layer) is nn.Linear else layer.forward(x)
    return x


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
        return sum((o.exp() * (o - n)).sum(-1) for o, n in zip(self._split(old), self._split(new), strict=True))


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


def nature_cnn(obs_shape: tuple[int, ...]) -> nn.Sequential:
    """The Nature-DQN convolutional trunk (Mnih et al. 2015) for channels-first frames scaled to
    [0, 1], ending in a 512-wide ReLU layer."""
    channels = obs_shape[0]
    conv = lambda i, o, k, s: nn.Conv2d(i, o, k, s)  # noqa: E731
    trunk = nn.Sequential(
        conv(channels, 32, 8, 4), nn.ReLU(), conv(32, 64, 4, 2), nn.ReLU(), conv(64, 64, 3, 1), nn.ReLU(),
        nn.Flatten())
    with torch.no_grad():
        flat = trunk(torch.zeros(1, *obs_shape)).shape[1]
    trunk.append(layer(flat, CNN_FEATURES, math.sqrt(2)))
    trunk.append(nn.ReLU())
    for module in trunk:
        if isinstance(module, nn.Conv2d):
            nn.init.orthogonal_(module.weight, math.sqrt(2))
            nn.init.zeros_(module.bias)
    return trunk


def channels_first(shape: tuple[int, ...], channels: str) -> tuple[int, ...]:
    return tuple(shape) if channels == "first" else (shape[2], shape[0], shape[1])


class ObsEncoder(nn.Module):
    """Flat observation rows `(B, D)` -> features `(B, out_dim)`: Box and bit columns as they are,
    category columns one-hot, each image part through its own Nature CNN (images and the other
    parts meet in the MLP above, one network). The column indices are buffers fixed at
    construction and not saved in checkpoints, so `forward` is tensor-only."""

    def __init__(self, layout: ObsLayout):
        super().__init__()
        plain = [np.arange(p.offset, p.offset + p.size) for p in layout.parts if p.kind in ("vector", "binary")]
        plain_columns = np.concatenate(plain) if plain else np.zeros(0, np.int64)
        self.register_buffer("plain_columns", torch.as_tensor(plain_columns, dtype=torch.long), persistent=False)
        onehot = [(p.offset + i, n) for p in layout.parts if p.kind == "onehot" for i, n in enumerate(p.nvec)]
        self.register_buffer("onehot_columns", torch.as_tensor([c for c, _ in onehot], dtype=torch.long),
                             persistent=False)
        # Category k of one-hot column j lands at feature onehot_offsets[j] + k.
        sizes = [n for _, n in onehot]
        self.register_buffer("onehot_offsets", torch.as_tensor(np.cumsum([0] + sizes[:-1]), dtype=torch.long),
                             persistent=False)
        self.onehot_width = sum(sizes)
        self.images = [(p.offset, p.size, tuple(p.shape), p.channels) for p in layout.parts if p.kind == "image"]
        self.cnns = nn.ModuleList(nature_cnn(channels_first(shape, ch)) for _, _, shape, ch in self.images)
        self.out_dim = len(plain_columns) + self.onehot_width + CNN_FEATURES * len(self.images)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        features = [obs.index_select(1, self.plain_columns)]
        if self.onehot_width:
            index = obs.index_select(1, self.onehot_columns).long() + self.onehot_offsets
            features.append(torch.zeros(obs.shape[0], self.onehot_width, device=obs.device).scatter_(1, index, 1.0))
        for (offset, size, shape, channels), cnn in zip(self.images, self.cnns, strict=True):
            pixels = obs[:, offset:offset + size].reshape(-1, *shape)
            if channels == "last":
                pixels = pixels.permute(0, 3, 1, 2)
            features.append(cnn(pixels / 255.0))
        return torch.cat(features, 1)


class ActorCritic(nn.Module):
    """Policy and value function over flat observations; separate MLPs or a shared trunk,
    optionally above an `ObsEncoder` (one-hot and image parts) that both share.

    Output layers use the usual gains: 0.01 for the policy (near-uniform initial policy),
    1.0 for the value head.
    """

    def __init__(self, obs_dim: int, action_space: gym.Space, hidden: tuple[int, ...],
                 activation: str = "tanh", shared: bool = False, init_log_std: float = 0.0,
                 encoder: ObsEncoder | None = None):
        super().__init__()
        self.dist = make_dist(action_space)
        # None for flat observations: the common case pays nothing for structured spaces.
        self.encoder = encoder
        in_dim = encoder.out_dim if encoder is not None else obs_dim
        width = hidden[-1] if hidden else in_dim
        self.actor_body = mlp(in_dim, hidden, activation)
        self.critic_body = self.actor_body if shared else mlp(in_dim, hidden, activation)
        self.shared = shared
        self.actor_head = layer(width, self.dist.out_dim, 0.01)
        self.critic_head = layer(width, 1, 1.0)
        self.log_std = (
            nn.Parameter(torch.full((self.dist.out_dim,), float(init_log_std)))
            if isinstance(self.dist, DiagGaussian) else None
        )

    @property
    def shares_features(self) -> bool:
        """Whether a trained layer feeds both the policy and the value (a shared trunk or CNN)."""
        return self.shared or (self.encoder is not None and any(True for _ in self.encoder.parameters()))

    def _params(self, features: torch.Tensor):
        out = nn.functional.linear(features, self.actor_head.weight, self.actor_head.bias)
        return (out, self.log_std.expand_as(out)) if self.log_std is not None else out

    def _value(self, features: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(features, self.critic_head.weight, self.critic_head.bias).squeeze(-1)

    def _encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.encoder is None else self.encoder(obs)

    def forward(self, obs: torch.Tensor):
        """obs (B, obs_dim) -> (distribution parameters, values (B,))."""
        obs = self._encode(obs)
        actor_features = run_layers(self.actor_body, obs)
        critic_features = actor_features if self.shared else run_layers(self.critic_body, obs)
        return self._params(actor_features), self._value(critic_features)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self._value(run_layers(self.critic_body, self._encode(obs)))

    def policy_params(self, obs: torch.Tensor):
        return self._params(run_layers(self.actor_body, self._encode(obs)))

    def act(self, obs: torch.Tensor, deterministic: bool = False):
        """Rollout step: (actions, log-probs, values), each with leading dim B."""
        params, values = self(obs)
        actions = self.dist.mode(params) if deterministic else self.dist.sample(params)
        return actions, self.dist.log_prob(params, actions), values

    def actor_parameters(self) -> list[nn.Parameter]:
        """The policy's parameters; a trunk or encoder shared with the value belongs here."""
        params = list(self.actor_body.parameters()) + list(self.actor_head.parameters())
        if self.encoder is not None:
            params += list(self.encoder.parameters())
        return params + ([self.log_std] if self.log_std is not None else [])

    def critic_parameters(self) -> list[nn.Parameter]:
        """The value function's own parameters (a shared trunk belongs to the actor)."""
        body = [] if self.shared else list(self.critic_body.parameters())
        return body + list(self.critic_head.parameters())


class CNNActorCritic(ActorCritic):
    """The Nature-DQN convolutional trunk shared by a policy head and a value head, for uint8
    frames (channels first, or last as most pixel envs give them); pixels are scaled to [0, 1]
    inside."""

    def __init__(self, obs_shape: tuple[int, ...], action_space: gym.Space, channels: str = "first"):
        nn.Module.__init__(self)
        self.dist = make_dist(action_space)
        self.channels_last = channels == "last"
        self.trunk = nature_cnn(channels_first(obs_shape, channels))
        self.actor_body = self.critic_body = self.trunk
        self.shared = True
        self.encoder = None
        self.actor_head = layer(CNN_FEATURES, self.dist.out_dim, 0.01)
        self.critic_head = layer(CNN_FEATURES, 1, 1.0)
        self.log_std = (nn.Parameter(torch.zeros(self.dist.out_dim))
                        if isinstance(self.dist, DiagGaussian) else None)

    def _features(self, obs: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            obs = obs.permute(0, 3, 1, 2)
        return self.trunk(obs.float() / 255.0)

    def forward(self, obs: torch.Tensor):
        features = self._features(obs)
        return self._params(features), self._value(features)

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self._value(self._features(obs))

    def policy_params(self, obs: torch.Tensor):
        return self._params(self._features(obs))


def build_model(cfg: Any, observation_space: gym.Space, action_space: gym.Space) -> ActorCritic:
    """The Nature CNN for an image observation, else an MLP actor-critic over the flattened
    observation, with an `ObsEncoder` below it when parts need one-hot or a CNN."""
    layout = ObsLayout(observation_space)
    if layout.image:
        return CNNActorCritic(tuple(observation_space.shape), action_space, layout.image)
    encoder = ObsEncoder(layout) if layout.needs_encoder else None
    return ActorCritic(layout.width, action_space, tuple(cfg.hidden_sizes), cfg.activation, cfg.shared_network,
                       cfg.init_log_std, encoder=encoder)

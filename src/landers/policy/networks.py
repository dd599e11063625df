"""Actor-critic networks (feed-forward, CNN, recurrent) and the observation encoder; the action
distributions are in distributions.py.

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

from landers.policy.distributions import DiagGaussian, make_dist, masked
from landers.policy.spaces import ObsLayout

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

    recurrent = False

    def policy_params(self, obs: torch.Tensor, mask: torch.Tensor | None = None):
        return masked(self._params(run_layers(self.actor_body, self._encode(obs))), mask)

    def act(self, obs: torch.Tensor, deterministic: bool = False, mask: torch.Tensor | None = None):
        """Rollout step: (actions, log-probs, values), each with leading dim B; `mask` (B, n)
        forbids the actions where it is False."""
        params, values = self(obs)
        params = masked(params, mask)
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

    def policy_params(self, obs: torch.Tensor, mask: torch.Tensor | None = None):
        return masked(self._params(self._features(obs)), mask)


class PixelEncoder(nn.Module):
    """A whole-image observation (uint8, channels first or last) through the Nature CNN."""

    def __init__(self, obs_shape: tuple[int, ...], channels: str):
        super().__init__()
        self.channels_last = channels == "last"
        self.trunk = nature_cnn(channels_first(obs_shape, channels))
        self.out_dim = CNN_FEATURES

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            obs = obs.permute(0, 3, 1, 2)
        return self.trunk(obs.float() / 255.0)


class RecurrentActorCritic(nn.Module):
    """obs -> encoder (none for flat vectors, `ObsEncoder` for Dict / Tuple / categories, the
    Nature CNN for pixels) -> an LSTM or GRU core -> MLP -> head, one core for the policy and one
    for the value (one for both with `shared_network`, as the MLPs): a shared core's gradient
    is the value loss's, whose scale (returns in the hundreds) drowns the policy's.

    The state is one flat tensor `(B, state_size)`: each core's state side by side (an LSTM's h
    and c), so that it is stored, passed to `predict` and exported as one array; zeros begin an
    episode. `starts` `(B,)` marks observations that begin one: their state is zeroed first.
    """

    recurrent = True
    shares_features = True  # the encoder, or a shared core, feeds both heads

    def __init__(self, layout: ObsLayout, action_space: gym.Space, cfg: Any):
        super().__init__()
        self.dist = make_dist(action_space)
        if layout.image:
            self.encoder: nn.Module | None = PixelEncoder(tuple(layout.shape), layout.image)
            in_dim = self.encoder.out_dim
        elif layout.needs_encoder:
            self.encoder = ObsEncoder(layout)
            in_dim = self.encoder.out_dim
        else:
            self.encoder, in_dim = None, layout.width
        self.kind, self.size = cfg.rnn, cfg.rnn_size
        self.shared = cfg.shared_network
        # Sequence modules: the update replays a batch of sequences in one fused call.
        module = nn.LSTM if self.kind == "lstm" else nn.GRU
        self.cores = nn.ModuleList([module(in_dim, self.size)] + ([] if self.shared else [module(in_dim, self.size)]))
        for name, param in self.cores.named_parameters():
            (nn.init.orthogonal_ if "weight" in name else nn.init.zeros_)(param)
        self.core_state = 2 * self.size if self.kind == "lstm" else self.size
        self.state_size = self.core_state * len(self.cores)
        hidden = tuple(cfg.hidden_sizes)
        self.actor_body = mlp(self.size, hidden, cfg.activation)
        self.critic_body = self.actor_body if self.shared else mlp(self.size, hidden, cfg.activation)
        width = hidden[-1] if hidden else self.size
        self.actor_head = layer(width, self.dist.out_dim, 0.01)
        self.critic_head = layer(width, 1, 1.0)
        self.log_std = (nn.Parameter(torch.full((self.dist.out_dim,), float(cfg.init_log_std)))
                        if isinstance(self.dist, DiagGaussian) else None)

    def initial_state(self, n: int) -> torch.Tensor:
        device = self.critic_head.weight.device
        return torch.zeros(n, self.state_size, device=device)

    def _encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float() if self.encoder is None else self.encoder(obs)

    def _parts(self, state: torch.Tensor) -> list[torch.Tensor]:
        return list(state.split(self.core_state, -1))

    def _run(self, features: torch.Tensor, state: torch.Tensor):
        """The cores over sequences `(L, B, F)` from `state` `(B, S)`: ([outputs `(L, B, size)`
        per core], new state)."""
        outs, states = [], []
        for core, part in zip(self.cores, self._parts(state), strict=False):
            if self.kind == "lstm":
                out, (h, c) = core(features, (part[None, :, :self.size].contiguous(),
                                              part[None, :, self.size:].contiguous()))
                states.append(torch.cat([h[0], c[0]], 1))
            else:
                out, h = core(features, part[None].contiguous())
                states.append(h[0])
            outs.append(out)
        return outs, torch.cat(states, 1)

    def _cell(self, features: torch.Tensor, state: torch.Tensor, cores: int | None = None):
        """One step of the first `cores` cores (default all): ([output h `(B, size)` per core], new
        state). The cell functions on the modules' weights, the same arithmetic as `_run`, without
        the sequence modules' per-call overhead (2-4x per rollout step)."""
        outs, states = [], []
        parts = self._parts(state)
        for k, (core, part) in enumerate(zip(self.cores, parts, strict=False)):
            if cores is not None and k >= cores:
                states.append(part)
                continue
            weights = (core.weight_ih_l0, core.weight_hh_l0, core.bias_ih_l0, core.bias_hh_l0)
            if self.kind == "lstm":
                h, c = torch.lstm_cell(features, (part[:, :self.size], part[:, self.size:]), *weights)
                states.append(torch.cat([h, c], 1))
            else:
                h = torch.gru_cell(features, part, *weights)
                states.append(h)
            outs.append(h)
        return outs, torch.cat(states, 1)

    @staticmethod
    def _restart(state: torch.Tensor, starts: torch.Tensor | None) -> torch.Tensor:
        return state if starts is None else torch.where(starts.unsqueeze(-1), torch.zeros_like(state), state)

    def _params(self, h: torch.Tensor):
        out = nn.functional.linear(run_layers(self.actor_body, h), self.actor_head.weight, self.actor_head.bias)
        return (out, self.log_std.expand_as(out)) if self.log_std is not None else out

    def _heads(self, outs: list[torch.Tensor]):
        """(distribution parameters, values) from the cores' outputs."""
        actor = run_layers(self.actor_body, outs[0])
        critic = actor if self.shared else run_layers(self.critic_body, outs[-1])
        out = nn.functional.linear(actor, self.actor_head.weight, self.actor_head.bias)
        params = (out, self.log_std.expand_as(out)) if self.log_std is not None else out
        value = nn.functional.linear(critic, self.critic_head.weight, self.critic_head.bias).squeeze(-1)
        return params, value

    def step(self, obs: torch.Tensor, state: torch.Tensor, starts: torch.Tensor | None = None):
        """One step of B envs: (distribution parameters, values (B,), new state)."""
        outs, state = self._cell(self._encode(obs), self._restart(state, starts))
        params, values = self._heads(outs)
        return params, values, state

    def act(self, obs, state, starts=None, deterministic: bool = False, mask: torch.Tensor | None = None):
        """Rollout step: (actions, log-probs, values, new state)."""
        params, values, state = self.step(obs, state, starts)
        params = masked(params, mask)
        actions = self.dist.mode(params) if deterministic else self.dist.sample(params)
        return actions, self.dist.log_prob(params, actions), values, state

    def value(self, obs: torch.Tensor, state: torch.Tensor, starts: torch.Tensor | None = None) -> torch.Tensor:
        return self.step(obs, state, starts)[1]

    def policy_params(self, obs: torch.Tensor, state: torch.Tensor, mask: torch.Tensor | None = None):
        """(distribution parameters, new state): what `Agent.predict` and the exported graph use.
        Only the policy's core steps; the value's part of the state passes through unchanged."""
        outs, state = self._cell(self._encode(obs), state, cores=1)
        return masked(self._params(outs[0]), mask), state

    def unroll(self, obs: torch.Tensor, state: torch.Tensor, starts: torch.Tensor):
        """Replay sequences: obs `(T, B, ...)` from `state` `(B, S)`, zeroed where `starts`
        `(T, B)`, as the rollout stepped them: (parameters, values) for the `T * B` rows, time-major.

        Each env's steps are cut into fragments at its episode starts; the fragments, padded at
        their ends to one length, run through the cores as one batch of sequences (one fused call
        forward and backward, as sb3-contrib pads episodes), each from its own first state: the
        stored state for an env's first fragment (unless it starts an episode), zeros for the rest."""
        T, B = starts.shape
        features = self._encode(obs.reshape(T * B, *obs.shape[2:])).reshape(T, B, -1)
        begins = starts.clone()
        begins[0] = True
        flat = begins.t().reshape(-1)                         # env-major: row b * T + t
        fragment = flat.long().cumsum(0) - 1                  # the fragment each row belongs to
        first = flat.nonzero().squeeze(-1)                    # each fragment's first row
        position = torch.arange(T * B, device=flat.device) - first[fragment]
        count = first.shape[0]
        length = int(torch.bincount(fragment, minlength=count).max())
        padded = features.new_zeros(length, count, features.shape[-1])
        padded[position, fragment] = features.transpose(0, 1).reshape(T * B, -1)
        initial = state.new_zeros(count, state.shape[-1])
        initial[fragment[torch.arange(B, device=flat.device) * T]] = self._restart(state, starts[0])
        outs, _ = self._run(padded, initial)
        return self._heads([out[position, fragment].reshape(B, T, -1).transpose(0, 1).reshape(T * B, -1)
                            for out in outs])

    def actor_parameters(self) -> list[nn.Parameter]:
        params = (list(self.cores[0].parameters()) + list(self.actor_body.parameters())
                  + list(self.actor_head.parameters()))
        if self.encoder is not None:
            params += list(self.encoder.parameters())
        return params + ([self.log_std] if self.log_std is not None else [])

    def critic_parameters(self) -> list[nn.Parameter]:
        own = [] if self.shared else list(self.cores[1].parameters()) + list(self.critic_body.parameters())
        return own + list(self.critic_head.parameters())


def build_model(cfg: Any, observation_space: gym.Space, action_space: gym.Space) -> ActorCritic:
    """The Nature CNN for an image observation, else an MLP actor-critic over the flattened
    observation, with an `ObsEncoder` below it when parts need one-hot or a CNN."""
    layout = ObsLayout(observation_space)
    if cfg.rnn:
        return RecurrentActorCritic(layout, action_space, cfg)
    if layout.image:
        return CNNActorCritic(tuple(observation_space.shape), action_space, layout.image)
    encoder = ObsEncoder(layout) if layout.needs_encoder else None
    return ActorCritic(layout.width, action_space, tuple(cfg.hidden_sizes), cfg.activation, cfg.shared_network,
                       cfg.init_log_std, encoder=encoder)

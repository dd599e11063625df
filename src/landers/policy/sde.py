"""Generalized state-dependent exploration (gSDE; Raffin et al. 2021, "Smooth Exploration for
Robotic Reinforcement Learning"), the `sde` option for continuous (Box) actions.

Each env explores with a matrix E `(F, A)` drawn from N(0, sigma^2), sigma = exp(sde_log_std) a
learned `(F, A)` parameter: its action is mean(s) + f(s) @ E, with f(s) the actor's last hidden
layer `(F,)`, detached so that the noise does not train the features (the paper's default).
Given s that action is Gaussian with variance (f(s)^2) @ sigma^2 per action dimension, so the
losses' log-probability, entropy and KL are `DiagGaussian`'s with that state-dependent std. E is
kept for `sde_sample_freq` steps (or a whole rollout): an env's consecutive actions then vary
smoothly with its state instead of jittering step to step (the paper's section 3).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from torch import nn

from landers.errors import LandersError
from landers.policy.networks import ActorCritic, ObsEncoder, run_layers
from landers.policy.spaces import ObsLayout

# Added to the variance: where every feature is 0 the std would be 0 and its log -inf.
VARIANCE_EPS = 1e-6


class SDEActorCritic(ActorCritic):
    """An `ActorCritic` MLP whose Gaussian has the state-dependent std of gSDE: distribution
    parameters are (mean, log-std), both `(B, A)`, as for the plain Gaussian policy, so the
    losses, `Agent` and export take it unchanged; `act` explores with given exploration matrices.
    `init_log_std` is the initial log of every entry of sigma."""

    def __init__(self, obs_dim: int, action_space: gym.spaces.Box, hidden: tuple[int, ...],
                 activation: str = "tanh", shared: bool = False, init_log_std: float = 0.0,
                 encoder: ObsEncoder | None = None):
        super().__init__(obs_dim, action_space, hidden, activation, shared, init_log_std, encoder)
        self.log_std = None  # replaced by the per-feature sde_log_std
        self.sde_log_std = nn.Parameter(torch.full((self.actor_head.in_features, self.dist.out_dim),
                                                   float(init_log_std)))

    def state_log_std(self, features: torch.Tensor) -> torch.Tensor:
        """The log-std `(B, A)` of the action given the actor's features `(B, F)`:
        0.5 log((f^2) @ sigma^2 + eps)."""
        variance = features.detach().pow(2) @ (2 * self.sde_log_std).exp()
        return 0.5 * (variance + VARIANCE_EPS).log()

    def _params(self, features: torch.Tensor):
        mean = nn.functional.linear(features, self.actor_head.weight, self.actor_head.bias)
        return mean, self.state_log_std(features)

    def act(self, obs: torch.Tensor, deterministic: bool = False, mask: torch.Tensor | None = None,
            noise: torch.Tensor | None = None):
        """Rollout step: (actions, log-probs, values). `noise` `(B, F, A)` holds each row's
        exploration matrix: the action is mean + f @ E. Without it a non-deterministic action is
        drawn from the Gaussian afresh (what `Agent.predict(obs, deterministic=False)` does);
        a deterministic one is the mean. Box actions have no mask: `mask` is unused."""
        obs = self._encode(obs)
        features = run_layers(self.actor_body, obs)
        critic_features = features if self.shared else run_layers(self.critic_body, obs)
        params, values = self._params(features), self._value(critic_features)
        if deterministic:
            actions = params[0]
        elif noise is None:
            actions = self.dist.sample(params)
        else:
            actions = params[0] + torch.bmm(features.detach().unsqueeze(1), noise).squeeze(1)
        return actions, self.dist.log_prob(params, actions), values

    def exploration_matrices(self, n: int) -> torch.Tensor:
        """`n` exploration matrices `(n, F, A)`, each entry drawn from N(0, sigma^2)."""
        sigma = self.sde_log_std.detach().exp()
        return torch.randn(n, *sigma.shape, device=sigma.device) * sigma

    def actor_parameters(self) -> list[nn.Parameter]:
        return super().actor_parameters() + [self.sde_log_std]


class ExplorationNoise:
    """The exploration matrices the envs act with, `matrices` `(N, F, A)`, and when they are
    drawn anew: at the start of every rollout, and every `sample_freq` steps within it where
    that is positive (-1: one draw per rollout). Part of the checkpointed `TrainState`."""

    def __init__(self, model: SDEActorCritic, num_envs: int, sample_freq: int):
        self.sample_freq = sample_freq
        param = model.sde_log_std
        self.matrices = torch.zeros(num_envs, *param.shape, device=param.device)

    def due(self, t: int) -> bool:
        """Whether step `t` of a rollout (0 first) acts with new matrices."""
        return t == 0 or (self.sample_freq > 0 and t % self.sample_freq == 0)

    def resample(self, model: SDEActorCritic, envs: slice) -> None:
        """New matrices for the envs `envs`, from the model's current sigma."""
        self.matrices[envs] = model.exploration_matrices(self.matrices[envs].shape[0])

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        return {f"{prefix}.matrices": self.matrices}

    def load(self, tensors: dict[str, torch.Tensor], prefix: str) -> None:
        """The saved matrices, where they fit: a run resumed with another num_envs draws its
        own at the next rollout's start, as every rollout does (so nothing is lost)."""
        saved = tensors.get(f"{prefix}.matrices")
        if saved is not None and saved.shape == self.matrices.shape:
            self.matrices.copy_(saved)


def build_sde_model(cfg: Any, observation_space: gym.Space, action_space: gym.Space) -> SDEActorCritic:
    """The gSDE policy for `cfg` (`sde` on), or one sentence where the spaces do not allow it."""
    if not isinstance(action_space, gym.spaces.Box):
        raise LandersError(f"sde (state-dependent exploration) is for continuous Box actions; this env's actions "
                           f"are {action_space}: set sde=false.")
    layout = ObsLayout(observation_space)
    if layout.image:
        raise LandersError("sde explores with an MLP policy's features; image observations go through a CNN, "
                           "which it does not support: set sde=false.")
    encoder = ObsEncoder(layout) if layout.needs_encoder else None
    return SDEActorCritic(layout.width, action_space, tuple(cfg.hidden_sizes), cfg.activation, cfg.shared_network,
                          cfg.init_log_std, encoder=encoder)

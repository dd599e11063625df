"""The rollout buffer `(T, N)` and what a loss is given (`Minibatch`): named tensors at the seam
between collecting and learning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch

from landers.policy.distributions import masked


class Minibatch(NamedTuple):
    """What a loss is given. Flat: rows `(B, ...)` of a rollout's valid steps. Sequences (a
    recurrent policy's): every field `(T, B, ...)` for B whole env columns, with `state` `(B, S)`
    the state the rollout began them with, `starts` where an episode began and `valid` the rows
    to learn from; `rows()` gives the valid rows of a sequence batch as a flat one."""

    obs: torch.Tensor         # (B, *obs_shape)
    actions: torch.Tensor     # (B,) or (B, A)
    logp: torch.Tensor        # (B,) log-probability under the behaviour policy
    values: torch.Tensor      # (B,) the behaviour policy's values
    advantages: torch.Tensor  # (B,)
    returns: torch.Tensor     # (B,)
    masks: torch.Tensor | None = None   # (B, n) bool action masks, True = allowed
    state: torch.Tensor | None = None   # sequences: (B, S)
    starts: torch.Tensor | None = None  # sequences: (T, B) bool
    valid: torch.Tensor | None = None   # sequences: (T, B) bool

    def shuffled(self, perm: torch.Tensor, parts: int) -> list[Minibatch]:
        """The rows in the order of `perm`, cut into `parts` minibatches (views of one shuffled
        copy per tensor: the same minibatches as indexing each with its chunk of `perm`)."""
        rows = self[:6] if self.masks is None else self[:7]
        return [Minibatch(*chunks) for chunks in zip(*(t[perm].chunk(parts) for t in rows), strict=False)]

    def envs(self, index: torch.Tensor) -> Minibatch:
        """The env columns `index` of a sequence batch."""
        return Minibatch(*(None if t is None else t[index] if name == "state" else t[:, index]
                           for name, t in zip(self._fields, self, strict=False)))

    def rows(self) -> Minibatch:
        """The valid rows, flat (a flat batch is returned as it is)."""
        if self.valid is None:
            return self
        index = self.valid.reshape(-1).nonzero().squeeze(-1)
        flat = [None if t is None else t.reshape(-1, *t.shape[2:])[index] for t in self[:7]]
        return Minibatch(*flat)


def evaluate_batch(model, batch: Minibatch):
    """The model's (distribution parameters, values) on a minibatch's valid rows, masked where the
    batch has masks: a recurrent model replays its sequences from the states the rollout saw."""
    if batch.state is None:
        params, values = model(batch.obs)
        return (params if batch.masks is None else masked(params, batch.masks)), values
    params, values = model.unroll(batch.obs, batch.state, batch.starts)
    index = batch.valid.reshape(-1).nonzero().squeeze(-1)
    params = tuple(p[index] for p in params) if isinstance(params, tuple) else params[index]
    if batch.masks is not None:
        params = masked(params, batch.masks.reshape(-1, batch.masks.shape[-1])[index])
    return params, values[index]


@dataclass
class Rollout:
    """One rollout, time-major. `valid` is False for autoreset steps (see `envs`), whose
    action was ignored by the env; those rows only supply the bootstrap value of the
    preceding truncated step."""

    obs: torch.Tensor          # (T, N, *obs_shape) in the stored form of `ObsLayout` (Dict / Tuple
                               # observations flattened to rows), normalized if obs normalization is on
    actions: torch.Tensor      # (T, N) for Discrete, (T, N, A) for Box (unclipped samples, flat),
                               # MultiDiscrete (category per dimension) and MultiBinary (0/1 per bit)
    logp: torch.Tensor         # (T, N) log-probability of `actions` under the behaviour policy
    values: torch.Tensor       # (T, N)
    rewards: torch.Tensor      # (T, N) training rewards (scaled if reward scaling is on)
    terminated: torch.Tensor   # (T, N) bool
    truncated: torch.Tensor    # (T, N) bool
    valid: torch.Tensor        # (T, N) bool
    next_values: torch.Tensor  # (N,) value of the observation after the last step
    masks: torch.Tensor | None = None   # (T, N, n) bool action masks the actions obeyed
    state: torch.Tensor | None = None   # (N, S) a recurrent policy's state before step 0
    starts: torch.Tensor | None = None  # (T, N) bool: obs[t] begins an episode (its state was zeroed)

    def flat(self, *tensors: torch.Tensor) -> list[torch.Tensor]:
        """The valid rows of each `(T, N, ...)` tensor, flattened to `(B, ...)`."""
        index = self.valid.reshape(-1).nonzero().squeeze(-1)
        return [t.reshape(-1, *t.shape[2:])[index] for t in tensors]

    def batch(self, advantages: torch.Tensor, returns: torch.Tensor) -> Minibatch:
        """This rollout and its `(T, N)` advantages and returns as one `Minibatch`: the valid rows,
        flat; for a recurrent policy, whole env sequences (`Minibatch.envs` cuts them)."""
        if self.state is not None:
            return Minibatch(self.obs, self.actions, self.logp, self.values, advantages, returns, self.masks,
                             self.state, self.starts, self.valid)
        if self.masks is not None:
            return Minibatch(*self.flat(self.obs, self.actions, self.logp, self.values, advantages, returns,
                                        self.masks))
        return Minibatch(*self.flat(self.obs, self.actions, self.logp, self.values, advantages, returns))

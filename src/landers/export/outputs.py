"""Export's action outputs (`action_output`, where a new action space plugs in): the env's
action, or with `stochastic_params` the distribution's parameters, and how to compare them with
the agent's own.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from landers.errors import LandersError
from landers.export.inputs import torch_dtype
from landers.policy.agent import Agent

# Continuous outputs must agree this closely (absolute and relative); float32 matrix products
# summed in another order differ by about 1e-7 relative.
TOLERANCE = 1e-5


def _far(want: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Per observation: does any entry differ by more than TOLERANCE (or the shapes)?"""
    n = len(want)
    if got.shape != want.shape:
        return np.ones(n, bool)
    close = np.isclose(got.reshape(n, -1).astype(np.float64), want.reshape(n, -1).astype(np.float64),
                       rtol=TOLERANCE, atol=TOLERANCE)
    return ~close.all(-1)


def _numpy(params) -> tuple[np.ndarray, ...]:
    return tuple(p.detach().cpu().numpy() for p in (params if isinstance(params, tuple) else (params,)))


class ParamsOutput(nn.Module):
    """The distribution's parameters (`--stochastic-params`): each parameter tensor in the action
    space's shape, or for MultiDiscrete the logits cut into one output per dimension."""

    def __init__(self, names: tuple[str, ...], meaning: str, shape: tuple = (), split: list[int] | None = None):
        super().__init__()
        self.names, self.meaning, self.shape, self.split = names, meaning, tuple(shape), split

    def forward(self, params):
        params = params if isinstance(params, tuple) else (params,)
        if self.split:
            return tuple(params[0].split(self.split, -1))
        outputs = tuple(p.reshape(-1, *self.shape) for p in params)
        return outputs if len(outputs) > 1 else outputs[0]

    def reference(self, agent: Agent, obs) -> tuple[np.ndarray, ...]:
        params = _numpy(agent.policy_params(obs))
        if self.split:
            return tuple(np.split(params[0], np.cumsum(self.split)[:-1], axis=-1))
        return tuple(p.reshape(-1, *self.shape) for p in params)

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        return np.any([_far(w, g) for w, g in zip(want, got, strict=True)], axis=0)


class DiscreteAction(nn.Module):
    """Discrete and MultiDiscrete actions: the most likely category of each dimension, numbered
    from that dimension's `start`, in the space's shape and dtype."""

    names = ("action",)

    def __init__(self, space: gym.spaces.Discrete | gym.spaces.MultiDiscrete):
        super().__init__()
        self.nvec = [int(n) for n in np.asarray(space.n if isinstance(space, gym.spaces.Discrete) else space.nvec).reshape(-1)]
        self.register_buffer("start", torch.as_tensor(np.asarray(space.start, np.int64).reshape(-1)))
        self.shape, self.dtype = tuple(space.shape), space.dtype
        self.out_dtype = torch_dtype(space.dtype)
        self.meaning = (f"action: argmax of the logits + {int(space.start)} ({np.dtype(space.dtype).name})"
                        if isinstance(space, gym.spaces.Discrete) else
                        f"action: argmax of each dimension's logits + its start, shape {list(self.shape)} "
                        f"({np.dtype(space.dtype).name})")

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        index = torch.stack([part.argmax(-1) for part in logits.split(self.nvec, -1)], -1)
        return (index + self.start).reshape(-1, *self.shape).to(self.out_dtype)

    def reference(self, agent: Agent, obs) -> tuple[np.ndarray, ...]:
        return (np.asarray(agent.predict(obs), self.dtype),)

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        """Actions must be identical, except in a dimension where the two chosen categories' logits
        tie within float rounding: such a tie may break either way in either runtime."""
        (want,), (got,) = want, got
        n, start = len(want), self.start.numpy()
        if got.shape != want.shape:
            return np.ones(n, bool)
        want, got = want.reshape(n, -1).astype(np.int64) - start, got.reshape(n, -1).astype(np.int64) - start
        bad = want != got
        tie_candidates = bad & (got >= 0) & (got < np.asarray(self.nvec))
        if tie_candidates.any():
            logits = _numpy(agent.policy_params(obs))[0]
            rows, dims = np.nonzero(tie_candidates)
            offsets = np.cumsum([0] + self.nvec[:-1])[dims]
            mine, theirs = logits[rows, offsets + want[rows, dims]], logits[rows, offsets + got[rows, dims]]
            bad[rows, dims] = ~np.isclose(mine, theirs, rtol=TOLERANCE, atol=TOLERANCE)
        return bad.any(-1)


class BinaryAction(nn.Module):
    """MultiBinary actions: each bit set where its logit is positive, int8 in the space's shape."""

    names = ("action",)

    def __init__(self, space: gym.spaces.MultiBinary):
        super().__init__()
        self.shape = tuple(space.shape)
        self.meaning = f"action: 1 where the bit's logit > 0, shape {list(self.shape)} (int8)"

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return (logits > 0).to(torch.int8).reshape(-1, *self.shape)

    def reference(self, agent: Agent, obs) -> tuple[np.ndarray, ...]:
        return (np.asarray(agent.predict(obs), np.int8),)

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        """Bits must be identical, except where the logit is zero within float rounding."""
        (want,), (got,) = want, got
        n = len(want)
        if got.shape != want.shape:
            return np.ones(n, bool)
        bad = want.reshape(n, -1) != got.reshape(n, -1)
        if bad.any():
            logits = _numpy(agent.policy_params(obs))[0].reshape(n, -1)
            bad &= np.abs(logits) > TOLERANCE
        return bad.any(-1)


class BoxAction(nn.Module):
    """The Gaussian's mean in the space's shape, clipped to the bounds, in the space's dtype.

    Clipping happens in the dtype numpy's `np.clip(float32 actions, low, high)` computes in
    (`Agent.predict`), so that float64 bounds such as 0.1 clip the same way."""

    names = ("action",)

    def __init__(self, space: gym.spaces.Box):
        super().__init__()
        clip_dtype = np.result_type(np.float32, space.dtype)
        self.register_buffer("low", torch.from_numpy(space.low.astype(clip_dtype)))
        self.register_buffer("high", torch.from_numpy(space.high.astype(clip_dtype)))
        self.shape, self.out_dtype = tuple(space.shape), torch_dtype(space.dtype)
        self.meaning = f"action: the mean clipped to the bounds, shape {list(self.shape)} ({space.dtype})"

    def forward(self, params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        mean = params[0].reshape(-1, *self.shape).to(self.low.dtype)
        return torch.minimum(torch.maximum(mean, self.low), self.high).to(self.out_dtype)

    def reference(self, agent: Agent, obs) -> tuple[np.ndarray, ...]:
        return (np.asarray(agent.predict(obs)),)

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        return _far(want[0], got[0])


def action_output(space: gym.Space, stochastic_params: bool) -> nn.Module:
    """The graph output for an action space: add a space here."""
    if isinstance(space, gym.spaces.Discrete):
        if stochastic_params:
            return ParamsOutput(("logits",), f"logits (float32); the action is the sampled index + {int(space.start)}",
                                (int(space.n),))
        return DiscreteAction(space)
    if isinstance(space, gym.spaces.MultiDiscrete):
        if stochastic_params:
            nvec = [int(n) for n in space.nvec.reshape(-1)]
            return ParamsOutput(
                tuple(f"logits.{i}" for i in range(len(nvec))),
                f"logits.0 ... logits.{len(nvec) - 1} (float32, {nvec} categories): one categorical per dimension "
                f"of the action, in row-major order; add each dimension's start to its sampled index and "
                f"reshape to {list(space.shape)}", split=nvec)
        return DiscreteAction(space)
    if isinstance(space, gym.spaces.MultiBinary):
        if stochastic_params:
            return ParamsOutput(("logits",), f"logits (float32, shape {list(space.shape)}): one Bernoulli per bit, "
                                "the bit is 1 with probability sigmoid(logit)", space.shape)
        return BinaryAction(space)
    if isinstance(space, gym.spaces.Box):
        if stochastic_params:
            return ParamsOutput(("mean", "log_std"), f"mean and log_std of a diagonal Gaussian (float32, shape "
                                f"{list(space.shape)}), unclipped; clip samples to the action space's bounds",
                                space.shape)
        return BoxAction(space)
    # `Agent` refuses every other action space (spaces.env_actions), so no agent gets here.
    raise LandersError(f"Export does not know {type(space).__name__} actions.")



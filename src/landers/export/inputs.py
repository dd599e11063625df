"""Export's observation inputs: one graph input per leaf of the observation space (`obs` for a
plain one; `obs.position`, `obs.0`, ... inside a Dict or Tuple), each in the leaf's dtype and
shape, turned into what the network receives exactly as `Agent.predict` does it; and how to
sample observations for the self-check. A new observation space plugs into `ObsLayout`.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from landers.envs.vector import MASK_KEY
from landers.errors import LandersError
from landers.policy.spaces import ObsLayout

# Bounds wider than this are cut here when sampling the observation space: float32-max bounds
# stand for "unbounded", and a network fed 1e38 overflows to inf and NaN in both runtimes.
SAMPLE_BOUND = 1e3


def input_name(path: tuple) -> str:
    """The graph input of one leaf: `obs` for a whole observation, `obs.position`, `obs.0`, ..."""
    return "obs" + "".join(f".{key}" for key in path)


def torch_dtype(dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype)).dtype


class ObservationInput(nn.Module):
    """The observation as the env returns it, one graph input per leaf of a Dict / Tuple (each in
    its own dtype and shape), turned into what the network receives exactly as `Agent.predict`
    does it in numpy (`ObsLayout.flatten`, then `ObsNormalizer`):

    - a whole image stays uint8 (the CNN scales it);
    - otherwise each leaf becomes float32 columns, categories counted from 0, and the Box leaves
      are normalized with the run's statistics in float64, as `ObsNormalizer` does, so that the
      network sees bit-identical inputs; the columns are concatenated in the layout's order.
    """

    def __init__(self, layout: ObsLayout, obs_norm):
        super().__init__()
        self.layout, self.parts = layout, layout.parts
        self.names = tuple(input_name(p.path) for p in self.parts)
        if len(set(self.names)) < len(self.names):
            raise LandersError(f"Export names one graph input per observation part, and the parts of "
                               f"{layout.space} give clashing names {list(self.names)}; rename the Dict keys.")
        # Per leaf: the start its categories count from, and the normalization statistics of its
        # columns, as buffers so that they become constants of the graph.
        for i, part in enumerate(self.parts):
            self.register_buffer(f"start{i}", torch.as_tensor(np.asarray(part.start, np.int64).reshape(-1)))
        self.norm_parts: set[int] = set()
        if obs_norm is not None and not layout.image:  # an image's "normalization" only casts to float
            # The statistics cover the Box parts' columns in layout order (`vector_columns`), or every
            # column when those are all of them: one slice per normalized part.
            mean, std = obs_norm.rms.mean, np.sqrt(obs_norm.rms.var + 1e-8)
            at = 0
            for i, part in enumerate(self.parts):
                if layout.vector_columns is None or part.kind == "vector":
                    self.register_buffer(f"mean{i}", torch.as_tensor(mean[at:at + part.size], dtype=torch.float64))
                    self.register_buffer(f"std{i}", torch.as_tensor(std[at:at + part.size], dtype=torch.float64))
                    self.norm_parts.add(i)
                    at += part.size
            self.clip = float(obs_norm.clip)

    def columns(self, leaves: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each leaf `(B, *shape)` -> its float32 columns `(B, size)`."""
        out = []
        for i, (part, leaf) in enumerate(zip(self.parts, leaves, strict=False)):
            x = leaf.reshape(-1, part.size)
            x = (x - getattr(self, f"start{i}")).float() if part.kind == "onehot" else x.float()
            if i in self.norm_parts:
                mean, std = getattr(self, f"mean{i}"), getattr(self, f"std{i}")
                x = ((x.double() - mean) / std).clamp(-self.clip, self.clip).float()
            out.append(x)
        return out

    def forward(self, *leaves: torch.Tensor) -> torch.Tensor:
        if self.layout.image:
            return leaves[0]
        columns = self.columns(list(leaves))
        return columns[0] if len(columns) == 1 else torch.cat(columns, 1)

    def example(self, batch: int) -> tuple[torch.Tensor, ...]:
        """Valid observations to trace with (a one-hot of a category out of range would fail)."""
        return tuple(torch.from_numpy(leaf) for leaf in self.sample(batch, np.random.default_rng(0)))

    def sample(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        """`n` observations uniform within each leaf's space (Box bounds cut at ±SAMPLE_BOUND)."""
        return [_sample_leaf(p.space, n, rng) for p in self.parts]

    def describe(self) -> list[dict]:
        """The inputs in the graph's order, for the metadata."""
        return [{"name": name, "path": list(p.path), "dtype": np.dtype(p.space.dtype).name, "shape": list(p.shape)}
                for name, p in zip(self.names, self.parts, strict=False)]


def _sample_leaf(space: gym.Space, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, gym.spaces.Box):
        low = np.maximum(space.low.astype(np.float64), -SAMPLE_BOUND)
        high = np.minimum(space.high.astype(np.float64), SAMPLE_BOUND)
        if np.issubdtype(space.dtype, np.integer):
            return np.minimum(np.floor(rng.uniform(low, high + 1, (n, *space.shape))), high).astype(space.dtype)
        return rng.uniform(low, high, (n, *space.shape)).astype(space.dtype)
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, n).astype(space.dtype)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return (space.start + rng.integers(0, space.nvec, (n, *space.shape))).astype(space.dtype)
    return rng.integers(0, 2, (n, *space.shape)).astype(space.dtype)  # MultiBinary: the layout takes no other




class MaskInput:
    """The action mask as a graph input: a Dict observation's `obs.action_mask` leaf (in its own
    dtype), or `action_mask` (bool) where the env's info or `action_masks()` method gives it;
    nonzero allows an action, one column per action (per dimension, concatenated)."""

    def __init__(self, agent):
        space = agent.action_space
        self.width = int(space.n) if isinstance(space, gym.spaces.Discrete) else int(np.sum(space.nvec))
        self.sizes = [self.width] if isinstance(space, gym.spaces.Discrete) else [int(n) for n in space.nvec.reshape(-1)]
        if agent.mask_source == "obs":
            self.name, self.numpy_dtype = input_name((MASK_KEY,)), np.dtype(agent.observation_space[MASK_KEY].dtype)
        else:
            self.name, self.numpy_dtype = MASK_KEY, np.dtype(bool)
        self.dtype = torch_dtype(self.numpy_dtype)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Random masks that allow at least one action per dimension."""
        mask = rng.random((n, self.width)) < 0.5
        at = 0
        for size in self.sizes:
            part = mask[:, at:at + size]
            part[np.arange(n), rng.integers(size, size=n)] |= ~part.any(1)
            at += size
        return mask

    def describe(self) -> dict:
        return {"name": self.name, "dtype": self.numpy_dtype.name, "shape": [self.width],
                "meaning": "the action mask: nonzero allows an action"}


def mask_input(agent) -> MaskInput | None:
    """The mask input the agent's graph takes, or None when it obeys no mask."""
    return MaskInput(agent) if agent.mask_source is not None else None

"""What a Gymnasium space means to a policy: how an observation becomes network input, and
how the policy's actions become the env's.

Observations are stored and fed to the networks in one of two forms (`ObsLayout`):
- a single image the CNN takes, kept as it comes (uint8, `(C, H, W)` or `(H, W, C)`);
- otherwise one flat float32 row per observation. Every part of the observation (a `Box` of any
  shape, `Discrete`, `MultiDiscrete`, `MultiBinary`, and these nested in `Dict` / `Tuple`)
  gets a fixed slice of columns: Box values flattened, category indices counted from 0 (one
  column per categorical dimension), bits as 0/1, images inside a Dict flattened pixel by pixel
  (stored as float32, four times the memory of uint8: the price of one buffer tensor).

Flattening happens in numpy (`ObsLayout.flatten`), outside the networks, so that the rollout
buffer, minibatch indexing and every algorithm see one tensor of shape `(..., D)` whatever
the space, and the flat-Box case (most envs) needs no work at all. `networks.ObsEncoder` turns
such rows into features inside the network with static slices only (one-hot, image reshape +
CNN), so that the model traces for export.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from landers.errors import LandersError

MIN_IMAGE_SIDE, MAX_IMAGE_CHANNELS = 36, 16  # what the Nature CNN's 8/4, 4/2, 3/1 convolutions take

DROP_HINT = ("drop it with a wrapper, e.g. --wrap 'gymnasium.wrappers:FilterObservation:"
             "{\"filter_keys\": [...]}' keeping the keys landers can encode")


def image_layout(space: gym.Space) -> str | None:
    """'first' or 'last' (where the channels are) for a uint8 Box the Nature CNN takes, else None."""
    if not (isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3):
        return None
    shape = space.shape
    if shape[0] <= MAX_IMAGE_CHANNELS and min(shape[1:]) >= MIN_IMAGE_SIDE:
        return "first"
    if shape[2] <= MAX_IMAGE_CHANNELS and min(shape[:2]) >= MIN_IMAGE_SIDE:
        return "last"
    return None


def is_image(space: gym.Space) -> bool:
    """A uint8 Box of stacked frames the CNN takes; pixels stay uint8 until the CNN scales them."""
    return image_layout(space) is not None


@dataclass(frozen=True)
class Part:
    """One leaf of an observation and its columns in the flat row."""

    path: tuple            # keys / indices from the observation to this leaf; () for the whole
    kind: str              # "vector" (Box values), "image", "onehot" (categories), "binary"
    shape: tuple           # the leaf's shape in one observation
    offset: int            # its first column
    size: int              # its number of columns
    nvec: tuple = ()       # "onehot": the number of categories of each column
    start: Any = 0         # "onehot": subtracted so that categories count from 0
    channels: str = ""     # "image": "first" or "last"
    space: Any = field(default=None, compare=False, repr=False)  # the leaf's own space

    @property
    def name(self) -> str:
        return "/".join(str(p) for p in self.path) or "the observation"


def _leaves(space: gym.Space, path: tuple):
    """(path, space) of every leaf, in the order Gymnasium iterates Dict and Tuple spaces."""
    if isinstance(space, gym.spaces.Dict):
        for key, sub in space.spaces.items():
            yield from _leaves(sub, path + (key,))
    elif isinstance(space, gym.spaces.Tuple):
        for i, sub in enumerate(space.spaces):
            yield from _leaves(sub, path + (i,))
    else:
        yield path, space


def _part(path: tuple, space: gym.Space, offset: int) -> Part:
    name = "/".join(str(p) for p in path)
    if isinstance(space, gym.spaces.Box):
        channels = image_layout(space)
        if channels:
            return Part(path, "image", space.shape, offset, int(np.prod(space.shape)), channels=channels)
        return Part(path, "vector", space.shape, offset, int(np.prod(space.shape)))
    if isinstance(space, gym.spaces.Discrete):
        return Part(path, "onehot", (), offset, 1, nvec=(int(space.n),), start=int(space.start))
    if isinstance(space, gym.spaces.MultiDiscrete):
        return Part(path, "onehot", space.shape, offset, int(space.nvec.size),
                    nvec=tuple(int(n) for n in space.nvec.reshape(-1)), start=space.start.reshape(-1).copy())
    if isinstance(space, gym.spaces.MultiBinary):
        return Part(path, "binary", space.shape, offset, int(np.prod(space.shape)))
    where = f"Observation key '{name}'" if name else "The observation"
    raise LandersError(f"{where} is a {type(space).__name__} space, which landers cannot encode; "
                       f"{DROP_HINT if name else 'wrap the env so that it returns Box, Discrete, MultiDiscrete, MultiBinary or a Dict / Tuple of them'}.")


class ObsLayout:
    """How observations of one space are stored and batched (see the module docstring)."""

    def __init__(self, space: gym.Space):
        self.space = space
        self.image = image_layout(space)  # the whole observation is one image: kept as it is
        # A 1-D Box is already a flat row: only its dtype may change (the hot path: no flattening).
        self.identity = isinstance(space, gym.spaces.Box) and len(space.shape) == 1
        parts, offset = [], 0
        for path, leaf in _leaves(space, ()):
            part = replace(_part(path, leaf, offset), space=leaf)
            parts.append(part)
            offset += part.size
        if offset == 0:
            raise LandersError(f"The observation space {space} has no values to learn from.")
        self.parts = tuple(parts)
        self.width = offset
        self.shape = tuple(space.shape) if self.image else (offset,)
        self.dtype = np.uint8 if self.image else np.float32
        vector = [np.arange(p.offset, p.offset + p.size) for p in parts if p.kind == "vector"]
        columns = np.concatenate(vector) if vector else np.zeros(0, np.int64)
        # The columns observation normalization applies to (None: all of them).
        self.vector_columns = None if len(columns) == offset else columns
        self.needs_encoder = any(p.kind in ("onehot", "image") for p in parts) and not self.image

    @property
    def has_vector(self) -> bool:
        return self.vector_columns is None or len(self.vector_columns) > 0

    def signature(self) -> list:
        """What the networks depend on (not Box bounds): equal signatures, interchangeable envs."""
        return [(p.path, p.kind, tuple(p.shape), p.nvec) for p in self.parts]

    def flatten(self, obs: Any) -> np.ndarray:
        """A batch of observations as the (vector) env returns them -> `(B, *self.shape)`."""
        if self.image or self.identity:
            return np.asarray(obs, dtype=self.dtype)
        leaves = self.leaves(obs)
        batch = np.shape(leaves[0])[0]
        out = np.empty((batch, self.width), np.float32)
        for part, leaf in zip(self.parts, leaves, strict=True):
            leaf = np.asarray(leaf)
            if leaf.shape[1:] != tuple(part.shape) or leaf.shape[0] != batch:
                raise LandersError(f"Observation part '{part.name}' has shape {leaf.shape[1:]} per observation, "
                                   f"not {tuple(part.shape)} as its space says.")
            values = leaf.reshape(batch, part.size)
            out[:, part.offset:part.offset + part.size] = values - part.start if part.kind == "onehot" else values
        return out

    def leaves(self, obs: Any) -> list:
        """The parts of an observation (or of a batch), in the order of `parts`."""
        return [_get(obs, p.path) for p in self.parts]

    def nest(self, leaves: list) -> Any:
        """The inverse of `leaves`: the observation (dicts and tuples as the space has them)."""
        rest = iter(leaves)

        def build(space: gym.Space) -> Any:
            if isinstance(space, gym.spaces.Dict):
                return {key: build(sub) for key, sub in space.spaces.items()}
            if isinstance(space, gym.spaces.Tuple):
                return tuple(build(sub) for sub in space.spaces)
            return next(rest)

        return build(self.space)

    def batch(self, obs: Any) -> tuple[np.ndarray, bool]:
        """One observation or a batch, as users hand them to `predict` -> (`(B, *self.shape)`, single)."""
        first = _get(obs, self.parts[0].path)
        single = np.ndim(first) == len(self.parts[0].shape)
        if single:
            obs = _map(obs, lambda leaf: np.asarray(leaf)[None])
        return self.flatten(obs), single


def _get(obs: Any, path: tuple) -> Any:
    for key in path:
        try:
            obs = obs[key]
        except (KeyError, IndexError, TypeError):
            raise LandersError(f"The observation has no part '{'/'.join(str(p) for p in path)}'.") from None
    return obs


def _map(obs: Any, fn: Callable) -> Any:
    if isinstance(obs, dict):
        return {k: _map(v, fn) for k, v in obs.items()}
    if isinstance(obs, tuple):
        return tuple(_map(v, fn) for v in obs)
    return fn(obs)


# ---------------------------------------------------------------- actions


def env_actions(space: gym.Space) -> Callable[[np.ndarray], np.ndarray]:
    """Policy actions `(B, ...)` (categories from 0, Box and bits flat) -> the env's batched format."""
    if isinstance(space, gym.spaces.Discrete):
        start = int(space.start)
        return (lambda a: a + start) if start else (lambda a: a)
    if isinstance(space, gym.spaces.Box):
        shape = space.shape
        return (lambda a: a) if len(shape) <= 1 else (lambda a: a.reshape(-1, *shape))
    if isinstance(space, gym.spaces.MultiDiscrete):
        shape, start, dtype = space.shape, space.start, space.dtype
        return lambda a: (a.reshape(-1, *shape) + start).astype(dtype)
    if isinstance(space, gym.spaces.MultiBinary):
        shape = space.shape
        return lambda a: a.reshape(-1, *shape).astype(np.int8)
    raise LandersError(f"The action space {space} is not supported: landers trains Discrete, Box, MultiDiscrete "
                       "and MultiBinary actions; wrap the env so that it takes one of these.")

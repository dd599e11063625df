"""Gymnasium spaces as JSON, so that checkpoints and exported files describe them without pickle.

Every space landers can train on round-trips: Box, Discrete, MultiDiscrete, MultiBinary, and
Dict / Tuple of these. A Dict is written as a list of [key, space] pairs so that its key order,
which fixes the layout of the flattened observation, comes back exactly.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from landers.errors import LandersError


def _array(a: np.ndarray) -> Any:
    """A scalar when every entry is the same (the usual Box bound), else nested lists."""
    flat = np.asarray(a).reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return flat[0].item()
    return np.asarray(a).tolist()


def space_to_json(space: gym.Space) -> dict[str, Any]:
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
                "low": _array(space.low), "high": _array(space.high)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist(),
                "dtype": str(space.dtype)}
    if isinstance(space, gym.spaces.MultiBinary):
        return {"type": "MultiBinary", "n": space.n if isinstance(space.n, int) else list(space.n)}
    if isinstance(space, gym.spaces.Dict):
        return {"type": "Dict", "spaces": [[key, space_to_json(sub)] for key, sub in space.spaces.items()]}
    if isinstance(space, gym.spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(sub) for sub in space.spaces]}
    raise LandersError(f"Unsupported space {space}.")


def space_from_json(data: dict[str, Any]) -> gym.Space:
    kind = data["type"]
    if kind == "Discrete":
        return gym.spaces.Discrete(data["n"], start=data.get("start", 0))
    if kind == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(np.asarray(data["nvec"]), dtype=data["dtype"], start=np.asarray(data["start"]))
    if kind == "MultiBinary":
        return gym.spaces.MultiBinary(data["n"])
    if kind == "Dict":
        return gym.spaces.Dict([(key, space_from_json(sub)) for key, sub in data["spaces"]])
    if kind == "Tuple":
        return gym.spaces.Tuple([space_from_json(sub) for sub in data["spaces"]])
    if kind != "Box":
        raise ValueError(f"unknown space type {kind!r}")
    dtype = np.dtype(data["dtype"])
    shape = tuple(data["shape"])
    return gym.spaces.Box(np.broadcast_to(np.asarray(data["low"], dtype), shape),
                          np.broadcast_to(np.asarray(data["high"], dtype), shape), shape, dtype)

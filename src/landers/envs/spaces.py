"""Gymnasium spaces as JSON, so that checkpoints and exported files describe them without pickle."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from landers.errors import LandersError


def space_to_json(space: gym.Space) -> dict[str, Any]:
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.Box):
        def bound(a: np.ndarray):
            flat = a.reshape(-1)
            return float(flat[0]) if np.all(flat == flat[0]) else a.tolist()
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
                "low": bound(space.low), "high": bound(space.high)}
    raise LandersError(f"Unsupported space {space}.")


def space_from_json(data: dict[str, Any]) -> gym.Space:
    if data["type"] == "Discrete":
        return gym.spaces.Discrete(data["n"], start=data.get("start", 0))
    dtype = np.dtype(data["dtype"])
    shape = tuple(data["shape"])
    return gym.spaces.Box(np.broadcast_to(np.asarray(data["low"], dtype), shape),
                          np.broadcast_to(np.asarray(data["high"], dtype), shape), shape, dtype)

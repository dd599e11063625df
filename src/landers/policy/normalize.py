"""Running statistics for observation normalization and reward scaling.

Both keep their state as float64 numpy arrays so that it goes into a checkpoint as tensors and
comes back bit-identical; evaluation and `Agent.predict` use the saved observation statistics.
"""

from __future__ import annotations

import numpy as np


class RunningMeanStd:
    """Mean and variance over all samples seen, merged batch by batch (Chan et al. 1979)."""

    def __init__(self, shape: tuple[int, ...] = ()):
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = np.array(1e-4)

    def update(self, batch: np.ndarray) -> None:
        batch_mean, batch_var, n = batch.mean(0), batch.var(0), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = np.asarray(self.mean + delta * n / total)
        self.var = np.asarray((self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total)
        self.count = np.asarray(total, np.float64)

    def state(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.mean": self.mean, f"{prefix}.var": self.var, f"{prefix}.count": self.count}

    def load(self, tensors: dict[str, np.ndarray], prefix: str) -> None:
        self.mean, self.var = tensors[f"{prefix}.mean"].astype(np.float64), tensors[f"{prefix}.var"].astype(np.float64)
        self.count = np.array(tensors[f"{prefix}.count"], np.float64)


class ObsNormalizer:
    """(obs - mean) / std, clipped to ±clip, over a batch `(B, *shape)`.

    `columns` restricts it to those columns of flat rows (the Box parts of a Dict observation:
    one-hot indices, bits and pixels pass unchanged); None normalizes everything."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, columns: np.ndarray | None = None):
        self.columns = columns
        self.rms = RunningMeanStd(shape if columns is None else (len(columns),))
        self.clip = clip

    def update(self, obs: np.ndarray) -> None:
        self.rms.update(obs if self.columns is None else obs[:, self.columns])

    def _normalize(self, obs: np.ndarray) -> np.ndarray:
        out = (obs - self.rms.mean) / np.sqrt(self.rms.var + 1e-8)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.columns is None:
            return self._normalize(obs)
        out = np.array(obs, np.float32)
        out[:, self.columns] = self._normalize(obs[:, self.columns])
        return out


class RewardScaler:
    """Divide rewards by the std of the discounted return (the 'reward scaling' of
    Engstrom et al. 2020); the mean is not subtracted, so the sign of rewards is kept."""

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0):
        self.rms = RunningMeanStd(())
        self.returns = np.zeros(num_envs, np.float64)
        self.gamma, self.clip = gamma, clip

    def __call__(self, rewards: np.ndarray, done: np.ndarray, envs: slice = slice(None)) -> np.ndarray:
        """Scaled `rewards` of the envs `envs` (all by default; a half when they step apart)."""
        returns = self.returns[envs]  # a view: updated in place
        returns *= self.gamma
        returns += rewards
        self.rms.update(returns)
        returns[done] = 0.0
        return np.clip(rewards / np.sqrt(self.rms.var + 1e-8), -self.clip, self.clip).astype(np.float32)

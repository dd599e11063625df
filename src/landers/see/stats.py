"""Aggregate statistics over seeds: interquartile mean and bootstrapped confidence intervals
(the recommendations of Agarwal et al. 2021, 'Deep RL at the Edge of the Statistical Precipice')."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% (cuts floor(n/4) scores at each end,
    as scipy.stats.trim_mean(x, 0.25) does, which rliable uses)."""
    x = np.sort(np.asarray(scores, dtype=np.float64))
    k = int(0.25 * len(x))
    return float(x[k:len(x) - k].mean())


def bootstrap_ci(scores: np.ndarray, statistic: Callable[[np.ndarray], float] = np.mean,
                 reps: int = 2000, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of `statistic`, resampling runs (seeds) with replacement."""
    x = np.asarray(scores, dtype=np.float64)
    if len(x) < 2:
        return float(statistic(x)), float(statistic(x))
    rng = np.random.default_rng(seed)
    samples = x[rng.integers(0, len(x), size=(reps, len(x)))]
    values = np.array([statistic(s) for s in samples])
    alpha = (1 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def bootstrap_band(curves: np.ndarray, reps: int = 1000, confidence: float = 0.95, seed: int = 0):
    """Mean over seeds of `curves (S, G)` and the percentile-bootstrap band of that mean, each (G,)."""
    curves = np.asarray(curves, dtype=np.float64)
    mean = curves.mean(0)
    if curves.shape[0] < 2:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    means = curves[rng.integers(0, curves.shape[0], size=(reps, curves.shape[0]))].mean(1)
    alpha = (1 - confidence) / 2
    return mean, np.quantile(means, alpha, axis=0), np.quantile(means, 1 - alpha, axis=0)


def smoothed_on_grid(x: np.ndarray, returns: np.ndarray, grid: np.ndarray, window: int = 20) -> np.ndarray:
    """Trailing mean of the last `window` episode returns, read at each grid point (episodes
    ending at x); NaN before the first episode ends."""
    x, returns = np.asarray(x, np.float64), np.asarray(returns, np.float64)
    if len(returns) == 0:
        return np.full(len(grid), np.nan)
    csum = np.concatenate([[0.0], np.cumsum(returns)])
    idx = np.arange(1, len(returns) + 1)
    trailing = (csum[idx] - csum[np.maximum(idx - window, 0)]) / np.minimum(idx, window)
    position = np.searchsorted(x, grid, side="right")  # episodes finished by each grid point
    out = np.full(len(grid), np.nan)
    out[position > 0] = trailing[position[position > 0] - 1]
    return out

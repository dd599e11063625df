"""Scores across a suite of envs, as Agarwal et al. 2021 ("Deep RL at the Edge of the Statistical
Precipice", the rliable library) recommend: each run's score normalized per env, aggregated over
all runs of all envs, with confidence intervals from a stratified bootstrap (runs are resampled
within each env, never across, so every resample still holds every env).

Pure functions of numpy arrays. A suite's scores are `per_task`: one 1-D array of run scores per
env (envs may have different numbers of runs, e.g. when a run failed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from landers.see.stats import iqm

Scores = Sequence[np.ndarray]  # one array of run scores per env (task)


def normalize(scores: np.ndarray | float, *, random: float, threshold: float) -> np.ndarray:
    """0 at the random policy's score, 1 at the env's threshold (scores may leave [0, 1])."""
    if threshold == random:
        raise ValueError("the threshold equals the random policy's score: nothing to normalize by")
    return (np.asarray(scores, dtype=np.float64) - random) / (threshold - random)


def aggregate_iqm(per_task: Scores) -> float:
    """Interquartile mean of all runs of all envs pooled (rliable's IQM)."""
    return iqm(np.concatenate([np.asarray(t, np.float64) for t in per_task]))


def aggregate_median(per_task: Scores) -> float:
    """Median over envs of each env's mean score."""
    return float(np.median([np.mean(t) for t in per_task]))


def aggregate_mean(per_task: Scores) -> float:
    """Mean over envs of each env's mean score."""
    return float(np.mean([np.mean(t) for t in per_task]))


def optimality_gap(per_task: Scores, gamma: float = 1.0) -> float:
    """How far runs fall short of `gamma` (the threshold, normalized), scores above it counting as
    `gamma`: `gamma - mean over envs of mean(min(score, gamma))`. Lower is better."""
    return float(gamma - np.mean([np.mean(np.minimum(t, gamma)) for t in per_task]))


AGGREGATES: dict[str, Callable[[Scores], float]] = {
    "iqm": aggregate_iqm, "median": aggregate_median, "mean": aggregate_mean, "optimality_gap": optimality_gap}


def stratified_resamples(per_task: Scores, *, reps: int, seed: int = 0):
    """`reps` resamples of `per_task`, each env's runs drawn with replacement from that env only."""
    rng = np.random.default_rng(seed)
    tasks = [np.asarray(t, np.float64) for t in per_task]
    draws = [t[rng.integers(0, len(t), size=(reps, len(t)))] for t in tasks]  # each (reps, runs of t)
    for i in range(reps):
        yield [d[i] for d in draws]


def stratified_bootstrap_ci(per_task: Scores, statistic: Callable[[Scores], float], *, reps: int = 2000,
                            confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(statistic, low, high): the statistic of the runs as they are and its percentile CI over
    stratified resamples."""
    point = float(statistic(per_task))
    values = np.array([statistic(sample) for sample in stratified_resamples(per_task, reps=reps, seed=seed)])
    alpha = (1 - confidence) / 2
    return point, float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def performance_profile(per_task: Scores, taus: np.ndarray) -> np.ndarray:
    """At each tau, the fraction of runs scoring above it, averaged over envs (each env weighs
    the same however many runs it has); (len(taus),)."""
    taus = np.asarray(taus, np.float64)
    return np.mean([(np.asarray(t, np.float64)[:, None] > taus[None, :]).mean(0) for t in per_task], axis=0)


def performance_profile_band(per_task: Scores, taus: np.ndarray, *, reps: int = 1000, confidence: float = 0.95,
                             seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(profile, low, high) at each tau, the band a percentile stratified bootstrap."""
    curves = np.array([performance_profile(s, taus) for s in stratified_resamples(per_task, reps=reps, seed=seed)])
    alpha = (1 - confidence) / 2
    return performance_profile(per_task, taus), np.quantile(curves, alpha, axis=0), np.quantile(curves, 1 - alpha, axis=0)


def probability_of_improvement(x_per_task: Scores, y_per_task: Scores) -> float:
    """P(X > Y): for each env, the chance that a run of X scores above a run of Y (ties count
    half; the Mann-Whitney U statistic over all pairs, divided by their number), averaged over envs."""
    if len(x_per_task) != len(y_per_task):
        raise ValueError("both algorithms need scores on the same envs")
    chances = []
    for x, y in zip(x_per_task, y_per_task, strict=True):
        x, y = np.asarray(x, np.float64)[:, None], np.asarray(y, np.float64)[None, :]
        chances.append(float(((x > y) + 0.5 * (x == y)).mean()))
    return float(np.mean(chances))


def probability_of_improvement_ci(x_per_task: Scores, y_per_task: Scores, *, reps: int = 1000,
                                  confidence: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """(P(X > Y), low, high): X's and Y's runs resampled independently, each within its env."""
    point = probability_of_improvement(x_per_task, y_per_task)
    xs = stratified_resamples(x_per_task, reps=reps, seed=seed)
    ys = stratified_resamples(y_per_task, reps=reps, seed=seed + 1)
    values = np.array([probability_of_improvement(x, y) for x, y in zip(xs, ys, strict=True)])
    alpha = (1 - confidence) / 2
    return point, float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))

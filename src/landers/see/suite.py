"""A suite's figures (`landers bench`): learning curves of every env in one grid, and the
aggregate statistics across envs (landers.see.aggregate) as rliable draws them: interval
estimates per metric, a performance profile with its band, the probability of improvement."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from landers.see.plots import draw_returns, pyplot, save

Interval = tuple[float, float, float]  # (point, low, high)


def plot_curve_grid(curves: dict[str, dict[str, list[dict[str, np.ndarray]]]], thresholds: dict[str, float | None],
                    out: Path, *, x: str = "steps") -> list[Path]:
    """`curves[env][algo]`: each seed's episodes.csv columns. One panel per env: each
    algorithm's mean over seeds with a 95% bootstrap band, and the env's threshold."""
    plt = pyplot()
    envs = list(curves)
    cols = min(3, len(envs)) or 1
    rows = math.ceil(len(envs) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False)
    key = "step" if x == "steps" else "time"
    algos = list(dict.fromkeys(a for groups in curves.values() for a in groups))
    for ax, env in zip(axes.flat, envs, strict=False):  # the grid may have spare panels
        for algo, runs in curves[env].items():
            draw_returns(ax, algo, runs, key, color=f"C{algos.index(algo)}", raw_points=False)
        if thresholds.get(env) is not None:
            ax.axhline(thresholds[env], color="gray", linestyle="--", linewidth=1)
        ax.set_title(env, fontsize=10)
        ax.set_xlabel("environment steps" if x == "steps" else "training time (s)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no episode ended yet", transform=ax.transAxes, ha="center", va="center", color="gray")
    for ax in list(axes.flat)[len(envs):]:
        ax.set_axis_off()
    fig.suptitle("episodic return (trailing mean of 20 episodes; mean and 95% CI over seeds; dashed: threshold)",
                 fontsize=10)
    fig.tight_layout()
    return save(fig, out)


def plot_aggregates(aggregates: dict[str, dict[str, Interval]], profiles: dict[str, tuple[np.ndarray, ...]],
                    improvements: dict[tuple[str, str], Interval], out: Path) -> list[Path]:
    """Across envs, on normalized scores (random policy 0, threshold 1): each metric's point
    and 95% stratified-bootstrap CI per algorithm; the performance profile (fraction of runs
    above each score) with its band; P(X > Y) for each pair of algorithms when there are several."""
    plt = pyplot()
    metrics = ["iqm", "median", "mean", "optimality_gap"]
    panels = len(metrics) + 1 + bool(improvements)
    fig = plt.figure(figsize=(3.2 * panels, 3.4))
    algos = list(aggregates)
    for i, metric in enumerate(metrics):
        ax = fig.add_subplot(1, panels, i + 1)
        for j, algo in enumerate(algos):
            point, low, high = aggregates[algo][metric]
            ax.errorbar([point], [j], xerr=[[point - low], [high - point]], fmt="o", color=f"C{j}", capsize=4)
        ax.set_yticks(range(len(algos)), algos if i == 0 else [""] * len(algos), fontsize=8)
        ax.set_ylim(-0.7, len(algos) - 0.3)
        ax.set_title(metric.replace("_", " ") + (" (lower is better)" if metric == "optimality_gap" else ""), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="x")
    ax = fig.add_subplot(1, panels, len(metrics) + 1)
    for j, algo in enumerate(algos):
        taus, profile, low, high = profiles[algo]
        ax.plot(taus, profile, color=f"C{j}", label=algo)
        ax.fill_between(taus, low, high, color=f"C{j}", alpha=0.2, linewidth=0)
    ax.set(xlabel="normalized score tau", ylabel="fraction of runs > tau", ylim=(-0.02, 1.02))
    ax.set_title("performance profile", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if improvements:
        ax = fig.add_subplot(1, panels, panels)
        pairs = list(improvements)
        for j, pair in enumerate(pairs):
            point, low, high = improvements[pair]
            ax.errorbar([point], [j], xerr=[[point - low], [high - point]], fmt="o", color="C0", capsize=4)
        ax.axvline(0.5, color="gray", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(pairs)), [f"P({a} > {b})" for a, b in pairs], fontsize=7)
        ax.set_xlim(-0.02, 1.02)
        ax.set_title("probability of improvement", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle("across envs, normalized scores (random policy 0, threshold 1); 95% stratified-bootstrap CIs",
                 fontsize=10)
    fig.tight_layout()
    return save(fig, out)

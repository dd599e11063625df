"""Learning curves and diagnostics as PNG and SVG (matplotlib, Agg backend; `landers[plots]`)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from landers.core.files import read_json_object, read_table
from landers.core.lock import lock_run_of
from landers.errors import LandersError
from landers.see.stats import bootstrap_band, smoothed_on_grid

DIAGNOSTICS = ["policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "explained_variance", "lr", "sps"]


def pyplot():
    try:
        import matplotlib
    except ImportError:
        raise LandersError("Plots need matplotlib: pip install 'landers[plots]'.") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # keep text as text in SVG: smaller, searchable

    return plt


def read_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns of a landers CSV as float arrays (empty cells become NaN). A torn last line or
    garbage rows (a crash, a full disk, a stray edit) are skipped with a warning that says how
    many."""
    header, rows, dropped = read_table(path)
    if dropped:
        print(f"warning: skipped {dropped} unreadable line{'s' * (dropped > 1)} of '{path}'.", file=sys.stderr)
    if not rows:
        return {}
    return {key: np.array([float(r[i]) if r[i] != "" else np.nan for r in rows]) for i, key in enumerate(header)}


def save(fig, out: Path) -> list[Path]:
    """Write `out` and its sibling in the other format (PNG <-> SVG)."""
    out = Path(out)
    paths = [out] + [out.with_suffix(s) for s in (".png", ".svg") if s != out.suffix]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for path in paths:
            fig.savefig(path, dpi=110, bbox_inches="tight")
    except OSError as e:
        raise LandersError(f"Cannot write the plot to '{out}': {e.strerror}.") from None
    finally:
        pyplot().close(fig)
    return paths


def curve_band(runs: list[dict[str, np.ndarray]], x_key: str, points: int = 200, window: int = 20):
    """(grid, mean, low, high) of the smoothed episodic return over several runs' episodes."""
    ends = [r[x_key][-1] for r in runs if len(r.get("return", []))]
    if not ends:
        return None
    grid = np.linspace(0, min(ends), points)
    curves = np.array([smoothed_on_grid(r[x_key], r["return"], grid, window) for r in runs if len(r.get("return", []))])
    keep = ~np.isnan(curves).any(0)
    return (grid[keep], *bootstrap_band(curves[:, keep])) if keep.any() else None


def draw_returns(ax, label: str, runs: list[dict[str, np.ndarray]], x_key: str, color=None, raw_points: bool = True):
    """Raw episodes as faint points (one run) or the seeds' mean with a 95% bootstrap band."""
    band = curve_band(runs, x_key)
    if raw_points and len(runs) == 1 and len(runs[0].get("return", [])):
        ax.scatter(runs[0][x_key], runs[0]["return"], s=3, alpha=0.15, color=color, linewidths=0)
    if band is not None:
        grid, mean, low, high = band
        n = len(runs)
        line, = ax.plot(grid, mean, color=color, label=f"{label} ({n} seed{'s' * (n > 1)})" if n > 1 else label)
        if n > 1:
            ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2, linewidth=0)


def x_label(x: str) -> str:
    return "environment steps" if x == "steps" else "training time (s)"


def plot_comparison(groups: dict[str, list[dict[str, np.ndarray]]], env_id: str, x: str, out: Path,
                    threshold: float | None = None) -> list[Path]:
    """Episodic return of each algorithm: mean over seeds with a bootstrapped 95% band."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    key = "step" if x == "steps" else "time"
    for label, runs in groups.items():
        draw_returns(ax, label, runs, key, raw_points=False)
    if threshold is not None:
        ax.axhline(threshold, color="gray", linestyle="--", linewidth=1, label=f"solved ({threshold:g})")
    ax.set(title=f"{env_id}: episodic return (mean, 95% bootstrap CI over seeds)", xlabel=x_label(x),
           ylabel="return (trailing mean of 20 episodes)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, out)


def plot_runs(run_dirs: list[Path], out: Path, x: str = "steps") -> list[Path]:
    """Returns panel and a diagnostics panel for one run, or several runs of one algorithm and
    env drawn as a mean with a 95% band."""
    plt = pyplot()
    key = "step" if x == "steps" else "time"
    groups: dict[str, list[dict]] = {}
    metrics: dict[str, list[dict]] = {}
    for run_dir in run_dirs:
        config_path = Path(run_dir) / "config.json"
        if not config_path.exists():
            raise LandersError(f"'{run_dir}' is not a landers run directory (no config.json).")
        config = read_json_object(config_path)
        label = f"{config.get('algo', '?')} {config.get('env_id', '?')}"
        groups.setdefault(label, []).append(read_csv(Path(run_dir) / "episodes.csv"))
        metrics.setdefault(label, []).append(read_csv(Path(run_dir) / "metrics.csv"))
    fig = plt.figure(figsize=(12, 8))
    grid = fig.add_gridspec(3, 4)
    ax = fig.add_subplot(grid[0, :])
    for label, runs in groups.items():
        draw_returns(ax, label, runs, key)
    ax.set(title="episodic return (points: episodes; line: trailing mean of 20)", xlabel=x_label(x), ylabel="return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    for i, name in enumerate(DIAGNOSTICS):
        sub = fig.add_subplot(grid[1 + i // 4, i % 4])
        for label, runs in metrics.items():
            for j, m in enumerate(runs):
                if name in m and key in m and not np.isnan(m[name]).all():
                    sub.plot(m[key], m[name], linewidth=0.8, alpha=0.8, color=f"C{list(metrics).index(label)}",
                             label=label if j == 0 else None)
        sub.set_title(name, fontsize=9)
        sub.tick_params(labelsize=7)
        sub.grid(alpha=0.3)
    fig.tight_layout()
    with lock_run_of(out):  # a plot written into a run is a write to that run
        return save(fig, out)

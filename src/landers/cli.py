"""The `landers` command line. Errors the user can fix end in one sentence and exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from landers.errors import LandersError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train, evaluate and inspect policy-optimization agents.")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def train(
    algo: Optional[str] = typer.Argument(None, help="algorithm: ppo"),
    env_id: Optional[str] = typer.Argument(None, help="Gymnasium env id, e.g. LunarLander-v3 or module:EnvId"),
    steps: Optional[int] = typer.Option(None, help="env steps to train for [default: the preset's budget]"),
    seed: Optional[int] = typer.Option(None, help="random seed [default: 0]"),
    preset: Optional[str] = typer.Option(None, help="preset name (see `landers presets`) [default: the env's tuned preset]"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a hyperparameter, KEY=VALUE (see `landers config`)"),
    envs: Optional[int] = typer.Option(None, help="number of parallel envs (same as --set num_envs=N)"),
    backend: Optional[str] = typer.Option(None, help="vector env backend: auto, gymnasium, envpool [default: auto]"),
    device: Optional[str] = typer.Option(None, help="auto, cpu or cuda [default: auto]"),
    run_dir: Optional[Path] = typer.Option(None, help="where to write the run [default: runs/<env>__<algo>__s<seed>__<time>]"),
    resume: Optional[Path] = typer.Option(None, help="continue the run in this directory from its last checkpoint"),
    eval_every: Optional[int] = typer.Option(None, help="env steps between evaluations [default: a tenth of the run]"),
    eval_episodes: Optional[int] = typer.Option(None, help="episodes per periodic evaluation [default: 10]"),
    record_every: Optional[int] = typer.Option(None, help="record a video every K evaluations into RUN_DIR/videos"),
    report: bool = typer.Option(False, "--report", help="write RUN_DIR/report.html at the end (plots, video, tables)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
) -> None:
    """Train ALGO on ENV_ID; prints the run directory and the final evaluation."""
    from rich.console import Console

    from landers.core import config as config_mod
    from landers.run import spec as spec_mod
    from landers.run import trainer as train_mod

    console = Console(stderr=True)
    try:
        if resume is not None:
            changed = [name for name, value in (("--seed", seed is not None), ("--preset", preset), ("--set", set_), ("--envs", envs),
                                                ("--backend", backend), ("--device", device),
                                                ("--run-dir", run_dir), ("--eval-every", eval_every),
                                                ("--eval-episodes", eval_episodes),
                                                ("--record-every", record_every)) if value]
            if changed:
                raise LandersError(f"{', '.join(changed)} cannot change when resuming; only --steps can.")
            run = train_mod.resume(resume, steps=steps, quiet=quiet, progress_console=console,
                                   expect_algo=algo, expect_env_id=env_id)
        else:
            if algo is None or env_id is None:
                raise LandersError("Give ALGO and ENV_ID (e.g. landers train ppo CartPole-v1), or --resume RUN_DIR.")
            overrides = config_mod.parse_assignments(set_)
            if envs is not None:
                overrides["num_envs"] = envs
            spec = spec_mod.make_spec(algo, env_id, preset=preset, overrides=overrides, steps=steps, seed=seed or 0,
                                       backend=backend, device=device, eval_every=eval_every,
                                       eval_episodes=eval_episodes, record_every=record_every)
            run = train_mod.start(spec, run_dir, quiet=quiet, progress_console=console)
        if report:
            from landers.see.report import write_report

            typer.echo(f"report: {write_report(run.run_dir)}")
    except train_mod.Interrupted as e:
        _fail(str(e), code=130)
    except LandersError as e:
        _fail(str(e))
    random_part = f"; random policy {run.random_eval.mean:.1f} ± {run.random_eval.std:.1f}" if run.random_eval else ""
    typer.echo(f"trained {run.global_step:,} steps in {run.train_time:.1f} s (evaluation excluded)")
    typer.echo(f"{run.run_dir}: eval {run.eval}{random_part}")


@app.command("eval")
def eval_(
    path: Path = typer.Argument(..., help="run directory or checkpoint directory"),
    episodes: int = typer.Option(100, help="number of episodes"),
    seed: Optional[int] = typer.Option(None, help="env seed [default: training seed + 10000]"),
    stochastic: bool = typer.Option(False, "--stochastic", help="sample actions instead of taking the most likely"),
    backend: str = typer.Option("auto", help="vector env backend"),
    env: Optional[str] = typer.Option(None, help="evaluate on this env id instead of the training env"),
    max_steps: Optional[int] = typer.Option(
        None, help="cap on an episode's steps, so a stuck agent cannot hang the evaluation; 0: none "
                   "[default: the run's eval_max_steps]"),
    as_json: bool = typer.Option(False, "--json", help="print {mean, std, episodes, returns} as JSON"),
) -> None:
    """Evaluate a trained agent over whole episodes (deterministic by default)."""
    from landers.algos import load
    from landers.policy.evaluation import EVAL_SEED_OFFSET, evaluate

    try:
        if episodes <= 0:
            raise LandersError(f"--episodes must be positive, got {episodes}.")
        if max_steps is not None and max_steps < 0:
            raise LandersError(f"--max-steps must be >= 0, got {max_steps}.")
        agent = load(path)
        run = agent.info.get("run", {})
        if seed is None:
            seed = run.get("seed", 0) + EVAL_SEED_OFFSET
        if max_steps is None:
            max_steps = run.get("eval_max_steps", 0)
        result = evaluate(agent, env, episodes=episodes, seed=seed, deterministic=not stochastic, backend=backend,
                          max_steps=max_steps or None)
    except LandersError as e:
        _fail(str(e))
    if as_json:
        data = result.to_json()
        typer.echo(json.dumps({k: data[k] for k in ("mean", "std", "episodes", "returns")}))
    else:
        mode = "stochastic" if stochastic else "deterministic"
        typer.echo(f"{env or agent.env_id} ({mode}, seed {seed}): {result}")


@app.command()
def presets() -> None:
    """List the shipped presets with their measured results."""
    from landers.core.config import all_presets

    for p in all_presets().values():
        typer.echo(f"{p.name}: {p.algo} on {p.env_id}, {p.steps:,} steps. {p.description}")
        if p.results:
            typer.echo(f"    measured: {p.results.get('summary', json.dumps(p.results))}")


@app.command()
def config(algo: str = typer.Argument("ppo", help="algorithm")) -> None:
    """List an algorithm's hyperparameters (for --set) and the run options, with defaults."""
    from landers.algos import get_algo
    from landers.core.config import field_docs
    from landers.run.spec import RUN_OPTIONS, RunSpec

    try:
        module = get_algo(algo)
    except LandersError as e:
        _fail(str(e))
    typer.echo(f"{algo} hyperparameters (--set KEY=VALUE):")
    for name, tp, default, help_ in field_docs(module.Config):
        typer.echo(f"  {name:<18} {tp:<16} {str(default):<10} {help_}")
    typer.echo("run options (--set KEY=VALUE or their own flags):")
    for name, tp, default, help_ in field_docs(RunSpec):
        if name in RUN_OPTIONS:
            typer.echo(f"  {name:<18} {tp:<16} {str(default):<10} {help_}")


@app.command()
def compare(
    env_id: str = typer.Argument(..., help="Gymnasium env id"),
    algos: str = typer.Option("ppo,trpo,a2c,reinforce,random", help="comma-separated algorithms"),
    seeds: int = typer.Option(5, help="seeds per algorithm (1..N)"),
    steps: Optional[int] = typer.Option(None, help="env steps per run [default: each algorithm's preset]"),
    out: Optional[Path] = typer.Option(None, help="output directory [default: runs/compare__<env>]"),
    address: Optional[str] = typer.Option(
        None, help="Ray cluster to run on: auto or HOST:PORT [default: a local Ray in this process]"),
    cpus_per_run: int = typer.Option(1, help="CPUs (and torch threads) each run gets from Ray"),
    storage: Optional[str] = typer.Option(
        None, help="where runs and Ray's checkpoints live: a path all nodes see, or a URI such as "
                   "s3://bucket/dir [default: --out]"),
    jobs: Optional[str] = typer.Option(None, hidden=True),
) -> None:
    """Run every algorithm x seed on ENV_ID as Ray Tune trials, then write curves and a results table."""
    import re

    if jobs is not None:
        _fail("--jobs is gone: Ray runs as many runs at once as the CPUs allow (see --cpus-per-run, --address).")
    from landers.run.trainer import Interrupted
    from landers.scale import compare as compare_mod

    out = out or Path("runs") / f"compare__{re.sub(r'[^A-Za-z0-9_.-]+', '_', env_id)}"
    try:
        names = [a.strip() for a in algos.split(",") if a.strip()]
        finished, failed = compare_mod.run_all(env_id, names, seeds, steps, out, address=address,
                                               cpus_per_run=cpus_per_run, storage=storage, echo=typer.echo)
        compare_mod.summarize(env_id, finished, out, failed)
    except Interrupted as e:
        _fail(str(e), code=130)
    except LandersError as e:
        _fail(str(e))
    typer.echo((out / "comparison.md").read_text())
    if finished:
        typer.echo(f"{out}: comparison.md, comparison.csv, curves_steps.png/.svg, curves_time.png/.svg")
    if failed:
        _fail(f"{len(failed)} run(s) failed ({failed[0][0].algo} seed {failed[0][0].seed}: {failed[0][1]}); "
              "the others are in the table, run the same command again to retry.", code=1)


@app.command()
def record(
    path: Path = typer.Argument(..., help="run directory or checkpoint directory"),
    episodes: int = typer.Option(1, help="episodes to record"),
    seed: int = typer.Option(0, help="env seed of the first episode"),
    fmt: str = typer.Option("mp4", "--format", help="mp4 or gif"),
    out: Optional[Path] = typer.Option(None, help="video file [default: RUN_DIR/videos/<checkpoint>.<format>]"),
    stochastic: bool = typer.Option(False, "--stochastic", help="sample actions instead of taking the most likely"),
) -> None:
    """Render episodes of a trained agent into a video with the running return on the frames."""
    from landers.core import checkpoint
    from landers.algos import load
    from landers.see.video import record as record_video

    try:
        agent = load(path)
        if out is None:
            ckpt = checkpoint.find(path)
            name = ckpt.name.removesuffix(".tmp").removesuffix(".old")
            out = ckpt.parent.parent / "videos" / f"{name}.{fmt}"
        result = record_video(agent, out, episodes=episodes, seed=seed, deterministic=not stochastic, fmt=fmt)
    except LandersError as e:
        _fail(str(e))
    returns = ", ".join(f"{r:.1f}" for r in result["returns"])
    typer.echo(f"{result['path']}: {result['frames']} frames at {result['fps']} fps; returns {returns}")


@app.command()
def plot(
    run_dirs: List[Path] = typer.Argument(..., help="one or more run directories"),
    out: Optional[Path] = typer.Option(None, help="image file, .png or .svg (both are written) [default: FIRST_RUN/plots.png]"),
    x: str = typer.Option("steps", help="x axis: steps or time"),
) -> None:
    """Episodic return and training diagnostics of runs; several runs of one algorithm and env
    are drawn as a mean with a 95% confidence band."""
    from landers.see.plots import plot_runs

    try:
        if x not in ("steps", "time"):
            raise LandersError(f"--x must be steps or time, got '{x}'.")
        paths = plot_runs(run_dirs, out or run_dirs[0] / "plots.png", x)
    except LandersError as e:
        _fail(str(e))
    typer.echo(" ".join(str(p) for p in paths))


@app.command()
def report(
    target: Path = typer.Argument(..., help="run directory or `landers compare` output directory"),
    out: Optional[Path] = typer.Option(None, help="HTML file [default: TARGET/report.html]"),
) -> None:
    """Write one self-contained HTML report: configuration, evaluation beside the random
    policy, plots and a video of the agent."""
    from landers.see.report import write_report

    try:
        path = write_report(target, out)
    except LandersError as e:
        _fail(str(e))
    typer.echo(str(path))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("error: interrupted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()

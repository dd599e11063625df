"""The `landers` command line. Every command ends with the exit code of EXIT_CODES (shown by
`landers --help`): an error is one sentence on stderr and the code of its class in
landers.errors, mapped here by `_fail_with`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from landers.errors import LandersError

# One table for every command; a script can tell "fix the command line" from "try again".
EXIT_CODES = {
    0: "done",
    1: "the work itself failed: the env raised, a file could not be written, the export's check failed, "
       "Ray stopped a study, a run or every trial failed",
    2: "bad usage or input: an unknown option, env or algorithm, a value out of range, a missing or "
       "corrupt file, a package or display the command needs is missing",
    3: "training diverged: a loss, gradient, parameter or the env's output was not finite",
    130: "interrupted (Ctrl-C); `landers play` ends with 0, Ctrl-C being how a viewer says enough",
}

# rich_markup_mode=None: help is plain text, since rich markup swallowed every "[default: ...]".
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Train, evaluate and inspect policy-optimization agents.",
                  epilog="Exit codes:\n\n" + "\n\n".join(f"{code}: {meaning}." for code, meaning in EXIT_CODES.items()))


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _fail_with(error: LandersError) -> None:
    """One sentence and the exit code of the error's class (EXIT_CODES). An env's own exception
    is the user's code: its traceback comes first."""
    from landers.errors import EnvCrashed

    if isinstance(error, EnvCrashed) and error.__cause__ is not None:
        import traceback

        traceback.print_exception(error.__cause__, file=sys.stderr)
    _fail(str(error), error.exit_code)


def _agent_path(path: str) -> Path:
    """A local run or checkpoint path as given, or for `hf://USER/NAME[@REV]` the verified
    snapshot of that Hub repository in huggingface_hub's cache."""
    if not path.startswith("hf://"):
        return Path(path)
    from landers.share.hub import resolve

    return resolve(path)


HELP_PATH = "run directory, checkpoint directory, or hf://USER/NAME (@REV for a branch, tag or commit), a repository `landers push` made"


ALGO_NAMES = "ppo, a2c, trpo, reinforce or random"  # written out: importing the registry imports torch
ENV_PATHS = ("module:EnvId or module:factory imports module from the current directory first (a cluster's workers "
             "get it with the job)")


@app.command()
def train(
    algo: str | None = typer.Argument(None, help=f"algorithm: {ALGO_NAMES} (any case)"),
    env_id: str | None = typer.Argument(
        None, help="Gymnasium env id, e.g. LunarLander-v3; module:EnvId or module:factory imports module "
                   "(from the current directory first), as config.json records a factory"),
    steps: int | None = typer.Option(None, help="env steps to train for [default: the preset's budget]"),
    seed: int | None = typer.Option(None, help="random seed [default: 0]"),
    preset: str | None = typer.Option(
        None, help="preset name or preset file (see `landers presets`), or none for the algorithm's general "
                   "defaults [default: the env's tuned preset]"),
    set_: list[str] | None = typer.Option(None, "--set", help="override a hyperparameter, KEY=VALUE (see `landers config`)"),
    env_kwargs: list[str] | None = typer.Option(
        None, "--env-kwargs", help="an argument of the env's constructor, KEY=VALUE with a JSON value (repeatable)"),
    wrap: list[str] | None = typer.Option(
        None, "--wrap", help="module:callable (or module:callable:{JSON kwargs}) applied to each env, in order (repeatable)"),
    envs: int | None = typer.Option(None, help="number of parallel envs (same as --set num_envs=N)"),
    backend: str | None = typer.Option(None, help="vector env backend: auto, gymnasium, envpool [default: auto]"),
    device: str | None = typer.Option(None, help="auto, cpu or cuda [default: auto]"),
    run_dir: Path | None = typer.Option(None, help="where to write the run [default: runs/<env>__<algo>__s<seed>__<time>]"),
    resume: Path | None = typer.Option(None, help="continue the run in this directory from its last checkpoint"),
    eval_every: int | None = typer.Option(None, help="env steps between evaluations [default: a tenth of the run]"),
    eval_episodes: int | None = typer.Option(None, help="episodes per periodic evaluation [default: 10]"),
    record_every: int | None = typer.Option(None, help="record a video every K evaluations into RUN_DIR/videos"),
    stop_return: float | None = typer.Option(
        None, help="end training once a periodic evaluation's mean return reaches this (saved and evaluated "
                   "as at the end)"),
    report: bool = typer.Option(False, "--report", help="write RUN_DIR/report.html at the end (plots, video, tables)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bar"),
    track: str | None = typer.Option(
        None, help="also log to an experiment tracker: wandb (Weights & Biases; WANDB_MODE=offline works "
                   "without its server); a resumed run continues the W&B run it had"),
    wandb_project: str | None = typer.Option(None, help="W&B project [default: WANDB_PROJECT, else landers]"),
    wandb_entity: str | None = typer.Option(None, help="W&B user or team [default: WANDB_ENTITY, else your login's]"),
    wandb_group: str | None = typer.Option(None, help="W&B group this run is shown in"),
) -> None:
    """Train ALGO on ENV_ID; prints the run directory and the final evaluation."""
    from rich.console import Console

    from landers.core import config as config_mod
    from landers.envs.source import parse_env_kwargs
    from landers.run import rundir
    from landers.run import spec as spec_mod
    from landers.run.hooks import Hooks
    from landers.run.trainer import Interrupted

    tracker, failed = None, True
    try:
        from landers.run import tracking

        tracker = tracking.tracker_for(tracking.from_options(track, wandb_project, wandb_entity, wandb_group,
                                                             job_type="train"), resume=resume)
        hooks = Hooks(console=Console(stderr=True), tracker=tracker)  # stdout is for the results
        if resume is not None:
            changed = [name for name, value in (("--seed", seed is not None), ("--preset", preset),
                                                ("--env-kwargs", env_kwargs), ("--wrap", wrap), ("--envs", envs),
                                                ("--backend", backend), ("--device", device),
                                                ("--run-dir", run_dir), ("--eval-every", eval_every),
                                                ("--eval-episodes", eval_episodes),
                                                ("--record-every", record_every)) if value]
            if stop_return is not None:
                set_ = [*(set_ or []), f"stop_return={stop_return}"]
            if changed:
                raise LandersError(f"{', '.join(changed)} cannot change when resuming; only --steps and --set can.")
            run = rundir.resume(resume, steps=steps, quiet=quiet, hooks=hooks,
                                expect_algo=algo.lower() if algo else None, expect_env_id=env_id,
                                overrides=config_mod.parse_assignments(set_))
        else:
            if algo is None or env_id is None:
                raise LandersError("Give ALGO and ENV_ID (e.g. landers train ppo CartPole-v1), or --resume RUN_DIR.")
            overrides = config_mod.parse_assignments(set_)
            if envs is not None:
                overrides["num_envs"] = envs
            spec = spec_mod.make_spec(algo, env_id, preset=preset, overrides=overrides, steps=steps,
                                       seed=seed or 0, env_kwargs=parse_env_kwargs(env_kwargs), wrappers=wrap or (),
                                       backend=backend, device=device, eval_every=eval_every,
                                       eval_episodes=eval_episodes, record_every=record_every,
                                       stop_return=stop_return)
            for name, was in spec_mod.fitted_values(spec, overrides).items():
                typer.echo(f"{name} {_show(getattr(spec.hparams, name))} (not {_show(was)}: fitted to this run; "
                           f"--set {name}=... to choose)")
            run = rundir.start(spec, run_dir=run_dir, quiet=quiet, hooks=hooks)
        if report:
            typer.echo(f"report: {_report(run.run_dir, tracker)}")
        failed = False
    except Interrupted as e:
        _fail(str(e), code=130)
    except LandersError as e:
        _fail_with(e)
    finally:  # the W&B run ends with the command, marked failed when the command does
        if tracker is not None:
            tracker.finish(failed=failed)
    random_part = f"; random policy {run.random_eval.mean:.1f} ± {run.random_eval.std:.1f}" if run.random_eval else ""
    if run.stopped:
        typer.echo(f"stopped at step {run.global_step:,}: {run.stopped}")
    typer.echo(f"trained {run.global_step:,} steps in {run.train_time:.1f} s (evaluation excluded)")
    typer.echo(f"{run.run_dir}: eval {run.eval}{random_part}")


def _report(run_dir: Path, tracker) -> Path:
    """report.html of the run, also among the tracker's files when there is one."""
    from landers.see.report import write_report

    path = write_report(run_dir)
    if tracker is not None:
        tracker.save(path)
    return path


@app.command("eval")
def eval_(
    path: str = typer.Argument(..., help=HELP_PATH),
    episodes: int = typer.Option(100, help="number of episodes"),
    seed: int | None = typer.Option(None, help="env seed [default: 10000 + 64 x the training seed]"),
    stochastic: bool = typer.Option(False, "--stochastic", help="sample actions instead of taking the most likely"),
    backend: str = typer.Option("auto", help="vector env backend"),
    env: str | None = typer.Option(None, help="evaluate on this env id instead of the training env"),
    max_steps: int | None = typer.Option(
        None, help="cap on an episode's steps, so a stuck agent cannot hang the evaluation; 0: none "
                   "[default: the run's eval_max_steps]"),
    as_json: bool = typer.Option(False, "--json", help="print {mean, std, episodes, returns} as JSON"),
) -> None:
    """Evaluate a trained agent over whole episodes (deterministic by default)."""
    from landers.algos import load
    from landers.policy.evaluation import eval_seed, evaluate

    try:
        if episodes <= 0:
            raise LandersError(f"--episodes must be positive, got {episodes}.")
        if max_steps is not None and max_steps < 0:
            raise LandersError(f"--max-steps must be >= 0, got {max_steps}.")
        agent = load(_agent_path(path))
        run = agent.info.get("run", {})
        if seed is None:
            seed = eval_seed(run.get("seed", 0))
        if max_steps is None:
            max_steps = run.get("eval_max_steps", 0)
        result = evaluate(agent, env, episodes=episodes, seed=seed, deterministic=not stochastic, backend=backend,
                          max_steps=max_steps or None)
    except LandersError as e:
        _fail_with(e)
    if as_json:
        data = result.to_json()
        typer.echo(json.dumps({k: data[k] for k in ("mean", "std", "episodes", "returns")}))
    else:
        mode = "stochastic" if stochastic else "deterministic"
        typer.echo(f"{env or agent.env_id} ({mode}, seed {seed}): {result}")


@app.command()
def presets(
    name: str | None = typer.Argument(None, help="a preset's name: print all it sets"),
    as_json: bool = typer.Option(False, "--json", help="print every preset (or NAME) in full as JSON"),
) -> None:
    """List the shipped presets: algorithm, env, step budget and measured result."""
    import dataclasses

    from landers.core.config import all_presets, unknown_key_error

    found = all_presets()
    try:
        if name is not None and name not in found:
            raise unknown_key_error(name, list(found), "preset", plural="presets")
    except LandersError as e:
        _fail_with(e)
    chosen = [found[name]] if name is not None else list(found.values())
    if as_json or name is not None:
        data = {p.name: {k: v for k, v in dataclasses.asdict(p).items() if k != "name"} for p in chosen}
        typer.echo(json.dumps(data if name is None else data[name], indent=2))
        return
    rows = [(p.name, p.algo, p.env_id if isinstance(p.env_id, str) else f"{p.env_id[0]} (+{len(p.env_id) - 1})",
             f"{p.steps:,}", _validated(p.validation) or _result_in_brief(p.results.get("summary", ""))) for p in chosen]
    widths = [max(len(r[i]) for r in rows + [PRESET_COLUMNS]) for i in range(4)]
    for row in [PRESET_COLUMNS, *rows]:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    typer.echo("landers presets NAME (or --json) prints what a preset sets and how its result was measured.")


PRESET_COLUMNS = ("name", "algo", "env", "steps", "measured")


def _validated(record: dict) -> str:
    """A validated preset's result in brief: its IQM over fresh seeds beside the mark it holds."""
    if not record:
        return ""
    ref = record.get("reference") or {}
    return (f"IQM {record['iqm']:g} over {len(record['seeds'])} new seeds"
            + (f" ({ref['library']} {ref['score']:g})" if ref else ""))


def _result_in_brief(summary: str, width: int = 60) -> str:
    """A preset's measured result, its first clause (the full text: `landers presets NAME`)."""
    first = summary.split(";")[0].strip()
    return first if len(first) <= width else first[: width - 3].rstrip() + "..."


@app.command()
def config(
    algo: str = typer.Argument("ppo", help=f"algorithm: {ALGO_NAMES}"),
    env: str | None = typer.Option(
        None, "--env", help="print the values a run on this env would use, and where each comes from"),
    preset: str | None = typer.Option(None, help="as for train: a preset name or file, or none"),
    set_: list[str] | None = typer.Option(None, "--set", help="as for train, KEY=VALUE"),
    env_kwargs: list[str] | None = typer.Option(None, "--env-kwargs", help="as for train (repeatable)"),
) -> None:
    """List an algorithm's hyperparameters (for --set) and the run options with their defaults;
    with --env, the values a `landers train ALGO ENV` would use and where each comes from
    (default, preset, --set)."""
    from landers.algos import get_algo
    from landers.core.config import field_docs
    from landers.run.spec import RUN_OPTIONS, RunSpec, make_spec, value_sources

    try:
        module = get_algo(algo)
        if env is None:
            if preset or set_ or env_kwargs:
                raise LandersError("--preset, --set and --env-kwargs describe a run: give its --env too.")
        else:
            from landers.core import config as config_mod
            from landers.envs.source import parse_env_kwargs

            overrides = config_mod.parse_assignments(set_)
            spec = make_spec(algo, env, preset=preset, overrides=dict(overrides),
                             env_kwargs=parse_env_kwargs(env_kwargs))
    except LandersError as e:
        _fail_with(e)
    if env is not None:
        sources = value_sources(spec, overrides)
        typer.echo(f"{spec.algo} on {spec.env.describe()}: preset {spec.preset or 'none'}")
        for section, names in (("hyperparameters", [n for n, *_ in field_docs(module.Config)]),
                               ("run options", RUN_OPTIONS)):
            typer.echo(f"{section}:")
            for key in names:
                value = getattr(spec.hparams if section == "hyperparameters" else spec, key)
                typer.echo(f"  {key:<20} {_show(value):<14} {sources[key]}")
        return
    typer.echo(f"{algo.lower()} hyperparameters (--set KEY=VALUE), general defaults; a preset may change them "
               f"(landers config {algo.lower()} --env ENV_ID shows a run's values):")
    for name, tp, default, help_ in field_docs(module.Config):
        typer.echo(f"  {name:<18} {tp:<16} {str(default):<10} {help_}")
    typer.echo("run options (--set KEY=VALUE or their own flags):")
    for name, tp, default, help_ in field_docs(RunSpec):
        if name in RUN_OPTIONS:
            typer.echo(f"  {name:<18} {tp:<16} {str(default):<10} {help_}")


def _show(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


@app.command()
def compare(
    env_id: str = typer.Argument(..., help=f"Gymnasium env id; {ENV_PATHS}"),
    algos: str = typer.Option("ppo,trpo,a2c,reinforce,random",
                              help="comma-separated algorithms; ALGO@PRESET trains with a preset name or file "
                                   "(e.g. ppo,ppo@runs/tune__ppo__LunarLander-v3/best.json)"),
    seeds: int = typer.Option(5, help="seeds per algorithm (FIRST_SEED .. FIRST_SEED + N - 1)"),
    first_seed: int = typer.Option(1, help="the seeds are FIRST_SEED .. FIRST_SEED + N - 1 (e.g. seeds a study did not tune on)"),
    steps: int | None = typer.Option(None, help="env steps per run [default: each algorithm's preset]"),
    out: Path | None = typer.Option(None, help="output directory [default: runs/compare__<env>]"),
    env_kwargs: list[str] | None = typer.Option(None, "--env-kwargs", help="as for train (repeatable)"),
    wrap: list[str] | None = typer.Option(None, "--wrap", help="as for train (repeatable)"),
    address: str | None = typer.Option(
        None, help="Ray cluster to run on: auto or HOST:PORT [default: a local Ray in this process]"),
    cpus_per_run: int = typer.Option(1, help="CPUs (and torch threads) each run gets from Ray; with 2 or more, a preset that overlaps env stepping does"),
    storage: str | None = typer.Option(
        None, help="where runs and Ray's checkpoints live: a path all nodes see, or a URI such as "
                   "s3://bucket/dir [default: --out]"),
    jobs: str | None = typer.Option(None, hidden=True),
    track: str | None = typer.Option(None, help="log every run to an experiment tracker: wandb, grouped"),
    wandb_project: str | None = typer.Option(None, help="W&B project [default: WANDB_PROJECT, else landers]"),
    wandb_entity: str | None = typer.Option(None, help="W&B user or team [default: WANDB_ENTITY, else your login's]"),
    wandb_group: str | None = typer.Option(None, help="W&B group of the runs [default: the output directory's name]"),
) -> None:
    """Run every algorithm x seed on ENV_ID as Ray Tune trials, then write curves and a results table."""
    import re

    if jobs is not None:
        _fail("--jobs is gone: Ray runs as many runs at once as the CPUs allow (see --cpus-per-run, --address).")
    from landers.envs.source import env_source, parse_env_kwargs
    from landers.run.trainer import Interrupted
    from landers.scale import compare as compare_mod

    out = out or Path("runs") / f"compare__{re.sub(r'[^A-Za-z0-9_.-]+', '_', env_id)}"
    try:
        kwargs = parse_env_kwargs(env_kwargs)
        env_source(env_id, kwargs, wrap or ()).check()  # bad env arguments: before any run
        from landers.run import tracking as tracking_mod

        tracking = tracking_mod.from_options(track, wandb_project, wandb_entity, wandb_group, job_type="compare",
                                             default_group=out.name)
        names = [a.strip() for a in algos.split(",") if a.strip()]
        finished, failed = compare_mod.run_all(env_id, names, seeds=seeds, steps=steps, out=out, address=address,
                                               cpus_per_run=cpus_per_run, storage=storage, env_kwargs=kwargs,
                                               wrappers=tuple(wrap or ()), first_seed=first_seed,
                                               tracking=tracking_mod.as_dict(tracking), echo=typer.echo)
        compare_mod.summarize(env_id, finished, out, failed=failed)
        if tracking is not None:
            tracking_mod.publish(tracking, out, [out / n for n in ("comparison.md", "comparison.csv", "curves_steps.png",
                                                                   "curves_time.png")], name=f"{out.name}-comparison")
    except Interrupted as e:
        _fail(str(e), code=130)
    except LandersError as e:
        _fail_with(e)
    typer.echo((out / "comparison.md").read_text())
    if finished:
        typer.echo(f"{out}: comparison.md, comparison.csv, curves_steps.png/.svg, curves_time.png/.svg")
    if failed:
        _fail(f"{len(failed)} run(s) failed ({failed[0][0].label} seed {failed[0][0].seed}: {failed[0][1]}); "
              "the others are in the table, run the same command again to retry.", code=1)


@app.command()
def bench(
    suite: str = typer.Argument(..., help=f"comma-separated suites (classic, box2d, mujoco, atari) and env ids; {ENV_PATHS}"),
    algos: str = typer.Option("ppo", help="comma-separated algorithms; ALGO@PRESET trains with a preset name or file"),
    seeds: int = typer.Option(5, help="seeds per env and algorithm (FIRST_SEED .. FIRST_SEED + N - 1)"),
    first_seed: int = typer.Option(1, help="the seeds are FIRST_SEED .. FIRST_SEED + N - 1"),
    steps: int | None = typer.Option(None, help="env steps per run [default: each preset's budget]"),
    out: Path | None = typer.Option(None, help="output directory [default: runs/bench__<suite>]"),
    address: str | None = typer.Option(
        None, help="Ray cluster to run on: auto or HOST:PORT [default: a local Ray in this process]"),
    cpus_per_run: int = typer.Option(1, help="CPUs (and torch threads) each run gets from Ray"),
    storage: str | None = typer.Option(
        None, help="where runs and Ray's checkpoints live: a path all nodes see, or a URI [default: --out]"),
) -> None:
    """Run every env x algorithm x seed of SUITE as Ray Tune trials (the same command again
    resumes), then write a report: per-env results beside published ones, and normalized scores
    aggregated across envs with stratified-bootstrap CIs."""
    import re

    from landers.run.trainer import Interrupted
    from landers.scale import bench as bench_mod

    out = out or Path("runs") / f"bench__{re.sub(r'[^A-Za-z0-9_.-]+', '_', suite)[:80]}"
    try:
        env_ids = bench_mod.parse_suite(suite)
        names = [a.strip() for a in algos.split(",") if a.strip()]
        finished, failed = bench_mod.run(env_ids, names, seeds=seeds, first_seed=first_seed, steps=steps, out=out,
                                         address=address, cpus_per_run=cpus_per_run, storage=storage,
                                         echo=typer.echo)
        bench_mod.summarize(env_ids, finished, out, failed=failed)
    except Interrupted as e:
        _fail(str(e), code=130)
    except LandersError as e:
        _fail_with(e)
    typer.echo((out / "bench.md").read_text())
    typer.echo(f"{out}: report.html, bench.md, bench.csv, curves.png/.svg, aggregate.png/.svg")
    if failed:
        _fail(f"{len(failed)} run(s) failed ({failed[0][0].env_id} {failed[0][0].label} seed {failed[0][0].seed}: "
              f"{failed[0][1]}); the others are in the report, run the same command again to retry.", code=1)


@app.command()
def tune(
    algo: str = typer.Argument(..., help="algorithm: ppo, a2c, trpo or reinforce"),
    env_id: str = typer.Argument(..., help="Gymnasium env id, or several comma-separated: a trial then scores the mean "
                                             f"over envs of its normalized score (random policy 0, threshold 1); {ENV_PATHS}"),
    trials: int = typer.Option(40, help="configurations to try; more than a finished study had continues it"),
    steps: int | None = typer.Option(None, help="env steps per seed of a trial [default: the preset's budget]"),
    seeds: int = typer.Option(3, help="seeds every configuration trains on (per env); its score is their mean, or --over-seeds"),
    objective: str = typer.Option("auc", help="auc (mean of the periodic evaluations), final (the final evaluation), "
                                               "auc-time (the curve's area over training seconds) or time-to-threshold "
                                               "(training seconds to the first evaluation >= --threshold)"),
    over_seeds: str = typer.Option("mean", help="how a trial combines its seeds' scores: mean, iqm (interquartile "
                                                "mean, as a bench validation reports; 4 seeds or more) or worst "
                                                "(the lowest seed's)"),
    threshold: float | None = typer.Option(None, help="time-to-threshold's score to reach [default: the env's threshold]"),
    space: Path | None = typer.Option(None, help="JSON/YAML file narrowing, extending or replacing tune's default search space"),
    preset: str | None = typer.Option(None, help="base preset the searched values are laid over [default: the env's]"),
    set_: list[str] | None = typer.Option(None, "--set", help="fix a hyperparameter or run option, KEY=VALUE"),
    out: Path | None = typer.Option(None, help="study directory [default: runs/tune__<algo>__<env>]"),
    resume: bool = typer.Option(False, "--resume", help="continue the study in --out (the same --out also does)"),
    address: str | None = typer.Option(None, help="Ray cluster: auto or HOST:PORT [default: a local Ray]"),
    storage: str | None = typer.Option(None, help="where Ray keeps the study's state [default: --out]"),
    cpus_per_trial: float | None = typer.Option(None, help="CPUs a trial's seeds share [default: one per seed, at most the cluster's]"),
    env_kwargs: list[str] | None = typer.Option(None, "--env-kwargs", help="as for train (repeatable)"),
    wrap: list[str] | None = typer.Option(None, "--wrap", help="as for train (repeatable)"),
    track: str | None = typer.Option(None, help="log every run to an experiment tracker: wandb, grouped"),
    wandb_project: str | None = typer.Option(None, help="W&B project [default: WANDB_PROJECT, else landers]"),
    wandb_entity: str | None = typer.Option(None, help="W&B user or team [default: WANDB_ENTITY, else your login's]"),
    wandb_group: str | None = typer.Option(None, help="W&B group of the runs [default: the study directory's name]"),
) -> None:
    """Search ALGO's hyperparameters on ENV_ID with Optuna (TPE) on Ray Tune, every configuration
    scored over several seeds; ends with OUT/best.json, a preset `landers train --preset` takes."""
    import re
    import shlex

    from landers.algos import get_algo
    from landers.core import config as config_mod
    from landers.core.search import load_space
    from landers.envs.source import env_source, parse_env_kwargs

    out = out or Path("runs") / f"tune__{algo}__{re.sub(r'[^A-Za-z0-9_.-]+', '_', env_id)}"
    try:
        module = get_algo(algo)
        if resume and "://" not in (storage or "") and not (Path(storage or out) / "ray" / "tune").exists():
            raise LandersError(f"--resume: '{out}' holds no study to continue.")
        options = config_mod.parse_assignments(set_)
        kwargs = parse_env_kwargs(env_kwargs)
        env_ids = tuple(e.strip() for e in env_id.split(",") if e.strip())
        for one in env_ids:
            env_source(one, kwargs, wrap or ()).check()  # bad env arguments: before Ray starts
        from landers.run import tracking as tracking_mod

        tracking = tracking_mod.from_options(track, wandb_project, wandb_entity, wandb_group, job_type="tune",
                                             default_group=out.name)
        from landers.scale import tune as tune_mod
        from landers.scale.study import format_params

        fixed = frozenset(options)
        from landers.run.spec import make_spec

        # the config the values go over: a recurrent one (--set rnn, the preset's) adds rnn_size
        base = make_spec(algo, env_ids[0], preset=preset, overrides=dict(options), steps=steps,
                         env_kwargs=kwargs, wrappers=tuple(wrap or ())).hparams if env_ids else None
        search_space = tune_mod.default_space(module, base=base, fixed=fixed)
        if space is not None:  # a file changes that space, or replaces it
            search_space = load_space(space, module, base=search_space, fixed=fixed)
        settings = tune_mod.StudySettings(algo=algo, env_ids=env_ids, trials=trials, seeds=seeds, objective=objective,
                                          over_seeds=over_seeds, steps=steps, threshold=threshold, space=search_space,
                                          preset=preset, options=options, env_kwargs=kwargs, wrappers=tuple(wrap or ()),
                                          cpus_per_trial=cpus_per_trial, tracking=tracking_mod.as_dict(tracking))
        best, interrupted = tune_mod.run(settings, out=out, address=address, storage=storage, echo=typer.echo)
        from landers.see.report import write_report

        report_path = write_report(out)
        if tracking is not None:
            tracking_mod.publish(tracking, out, [report_path, *(out / n for n in ("best.json", "trials.csv", "tune.png"))],
                    name=f"{out.name}-study")
    except LandersError as e:
        _fail_with(e)
    if best is not None:
        per_env = " per env" if len(env_ids) > 1 else ""
        typer.echo(f"best: trial {best.number}, score {best.score:.1f} ({over_seeds} over {seeds} seeds{per_env}: "
                   f"{', '.join(f'{s:.1f}' for s in best.seed_scores)}): {format_params(best.params)}")
        env_args = "".join(f" --env-kwargs {shlex.quote(a)}" for a in env_kwargs or ()) + "".join(
            f" --wrap {shlex.quote(w)}" for w in wrap or ())
        typer.echo(f"{out}: best.json, trials.csv, tune.png, report.html; train with it: "
                   f"landers train {algo} {env_id.split(',')[0].strip()} --preset {out / 'best.json'}{env_args}")
    if interrupted:
        _fail(f"Interrupted; run the same command again to resume the study in {out}.", code=130)
    if best is None:
        _fail("No trial completed; see trials.csv for why.", code=1)


@app.command()
def record(
    path: str = typer.Argument(..., help=HELP_PATH),
    episodes: int = typer.Option(1, help="episodes to record"),
    seed: int = typer.Option(0, help="env seed of the first episode"),
    fmt: str = typer.Option("mp4", "--format", help="mp4 or gif"),
    out: Path | None = typer.Option(None, help="video file [default: RUN_DIR/videos/<checkpoint>.<format>; "
                                                  "for hf://USER/NAME, NAME.<format> here]"),
    stochastic: bool = typer.Option(False, "--stochastic", help="sample actions instead of taking the most likely"),
) -> None:
    """Render episodes of a trained agent into a video with the running return on the frames."""
    from landers.algos import load
    from landers.core import checkpoint
    from landers.core.lock import lock_run_of
    from landers.see.video import record as record_video

    try:
        local = _agent_path(path)
        agent = load(local)
        if out is None and path.startswith("hf://"):  # not into huggingface_hub's cache
            out = Path(f"{path.split('/')[-1].replace('@', '-')}.{fmt}")
        elif out is None:
            ckpt = checkpoint.find(local)
            name = ckpt.name.removesuffix(".tmp").removesuffix(".old")
            out = ckpt.parent.parent / "videos" / f"{name}.{fmt}"
        with lock_run_of(out):  # into the run's videos/: a write to the run; elsewhere a read
            result = record_video(agent, out, episodes=episodes, seed=seed, deterministic=not stochastic, fmt=fmt)
    except LandersError as e:
        _fail_with(e)
    returns = ", ".join(f"{r:.1f}" for r in result["returns"])
    typer.echo(f"{result['path']}: {result['frames']} frames at {result['fps']} fps; returns {returns}")


def _final_eval(path: Path, agent) -> dict | None:
    """The run's final evaluation (eval.json) when it evaluated this very checkpoint."""
    from landers.core import checkpoint

    ckpt = checkpoint.find(path)
    try:
        data = json.loads((ckpt.parent.parent / "eval.json").read_text())
    except (OSError, ValueError):
        return None
    name = ckpt.name.removesuffix(".tmp").removesuffix(".old")
    if data.get("checkpoint") != name or data.get("step") != agent.info.get("global_step"):
        return None
    return {k: data[k] for k in ("mean", "std", "episodes", "deterministic", "seed") if k in data}


@app.command()
def export(
    path: str = typer.Argument(..., help=HELP_PATH),
    out: Path = typer.Option(Path("policy.onnx"), help="ONNX file to write"),
    stochastic_params: bool = typer.Option(
        False, "--stochastic-params",
        help="output the action distribution's parameters (logits, or mean and log_std) instead of the action"),
) -> None:
    """Write the policy as one ONNX graph from the env's observation to its action, which
    onnxruntime runs without torch; checked against the agent before it is written."""
    from landers.algos import load
    from landers.export.onnx_export import export as export_onnx
    from landers.export.onnx_export import require_onnx

    try:
        require_onnx()
        local = _agent_path(path)
        agent = load(local)
        result = export_onnx(agent, out, stochastic_params=stochastic_params, final_eval=_final_eval(local, agent))
    except LandersError as e:
        _fail_with(e)
    meta = result.metadata
    typer.echo(f"{result.path}: {meta['env_id']} policy -> {meta['outputs']}")
    typer.echo("inputs: " + ", ".join(f"{i['name']} ({i['dtype']}, shape {i['shape']})"
                                      for i in json.loads(meta["inputs"])))
    typer.echo(f"checked: onnxruntime matched the agent on {result.checked:,} observations "
               f"({result.from_env:,} from the env, the rest sampled from its observation space)")


@app.command()
def push(
    path: Path = typer.Argument(..., help="run directory or checkpoint directory"),
    repo: str = typer.Option(..., help="model repository on the Hugging Face Hub, USER/NAME (created if missing)"),
    private: bool = typer.Option(False, "--private", help="create the repository private"),
    token: str | None = typer.Option(None, help="Hugging Face token [default: HF_TOKEN, else `hf auth login`'s]"),
    dry_run: bool = typer.Option(False, "--dry-run", help="write the folder to --out and upload nothing"),
    out: Path | None = typer.Option(None, help="write the folder here (kept after an upload); --dry-run needs it"),
) -> None:
    """Publish a trained agent as a Hub model repository: its checkpoint (safetensors + JSON),
    config.json, eval.json, a replay video, the ONNX export and a model card; load it back with
    `landers eval hf://USER/NAME` or `landers.load("hf://USER/NAME")`."""
    from landers.share import hub

    try:
        staged, url = hub.push(path, repo_id=repo, private=private, token=token, out=out, dry_run=dry_run,
                               echo=lambda line: typer.echo(line, err=True))
    except LandersError as e:
        _fail_with(e)
    result = staged.eval
    typer.echo(f"eval {result['mean']:.2f} +/- {result['std']:.2f} over {result['episodes']} episodes; "
               f"random policy {result['random']['mean']:.2f} +/- {result['random']['std']:.2f}")
    if url is None:
        typer.echo(f"{staged.folder}: {', '.join(staged.files)} (dry run: nothing uploaded)")
    else:
        typer.echo(f"pushed {len(staged.files)} files to https://huggingface.co/{repo}: {url}")


@app.command()
def play(
    path: str = typer.Argument(..., help=HELP_PATH),
    episodes: int = typer.Option(3, help="episodes to play"),
    seed: int = typer.Option(0, help="env seed of the first episode"),
    stochastic: bool = typer.Option(False, "--stochastic", help="sample actions instead of taking the most likely"),
) -> None:
    """Watch the agent play in a window at the env's frame rate; Ctrl-C stops it."""
    from landers.algos import load
    from landers.see.play import play as play_episodes

    try:
        agent = load(_agent_path(path))
        returns, stopped = play_episodes(agent, episodes, seed, deterministic=not stochastic, echo=typer.echo)
    except LandersError as e:
        _fail_with(e)
    if returns:
        mean = sum(returns) / len(returns)
        typer.echo(f"{'stopped: ' if stopped else ''}mean return {mean:.1f} over {len(returns)} episodes")
    elif stopped:
        typer.echo("stopped before the first episode ended")


@app.command()
def plot(
    run_dirs: list[Path] = typer.Argument(..., help="one or more run directories"),
    out: Path | None = typer.Option(None, help="image file, .png or .svg (both are written) [default: FIRST_RUN/plots.png]"),
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
        _fail_with(e)
    typer.echo(" ".join(str(p) for p in paths))


@app.command()
def report(
    target: Path = typer.Argument(..., help="run directory or `landers compare` output directory"),
    out: Path | None = typer.Option(None, help="HTML file [default: TARGET/report.html]"),
) -> None:
    """Write one self-contained HTML report: configuration, evaluation beside the random
    policy, plots and a video of the agent."""
    from landers.see.report import write_report

    try:
        path = write_report(target, out)
    except LandersError as e:
        _fail_with(e)
    typer.echo(str(path))


def main() -> None:
    """The command line in this process, ending in SystemExit (for tools that run it in-process,
    such as bench/profile_train.py); the `landers` program is `run`."""
    import os

    # `module:EnvId` and `module:factory` import from the current directory first, as under
    # `python -m` (the `landers` script's own directory is first on sys.path instead).
    if sys.path[:1] not in ([""], [os.getcwd()]):
        sys.path.insert(0, os.getcwd())
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("error: interrupted.", err=True)
        sys.exit(130)


def run() -> None:
    """The `landers` program: `main`, then `_exit`."""
    try:
        main()
    except SystemExit as e:
        _exit(e.code)
    _exit(0)


def _exit(code: int | str | None) -> None:
    """End the process with `code` (as `sys.exit` reads it), skipping Python's teardown where
    nothing needs it: freeing torch's, torch._dynamo's and EnvPool's modules one by one takes
    ~0.85 s after a `landers train` (a sixth of a CartPole run on the 2-core VM, bench/RESULTS.md),
    and every file a command writes is closed when it returns. Exit hooks that stop something
    still running do matter: a command that imported Ray (whose hooks stop what its driver
    started), left a thread running or has child processes (an env's own, say) exits the usual
    way."""
    import os
    import threading

    children = "multiprocessing" in sys.modules and sys.modules["multiprocessing"].active_children()
    if "ray" in sys.modules or threading.active_count() > 1 or children:
        sys.exit(code)
    if code is not None and not isinstance(code, int):  # sys.exit("message") prints it and exits 1
        print(code, file=sys.stderr)
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (landers ... | head) has nothing left to lose
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    run()

"""landers: policy-optimization reinforcement learning that trains, evaluates, checkpoints and resumes.

    import landers
    run = landers.train("ppo", "CartPole-v1", steps=50_000, seed=1)
    agent = landers.load(run.run_dir)
    result = landers.evaluate(agent, "CartPole-v1", episodes=100)

Every mistake of the caller raises `landers.LandersError` (also a `ValueError`) with one
sentence; `landers.Interrupted` is a run stopped by Ctrl-C after saving its last checkpoint.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from landers.errors import LandersError
from landers.version import __version__

if TYPE_CHECKING:
    from landers.core.config import BaseConfig
    from landers.policy.agent import Agent
    from landers.policy.evaluation import EvalResult
    from landers.run.api import Run
    from landers.run.callbacks import Evaluation, Progress, StopAtReturn, StopWithoutImprovement, TimeLimit
    from landers.run.trainer import Interrupted

# A callback: fn(progress) after every update, or an object with on_update(progress) / on_eval(progress).
Callback = Callable[["Progress"], Any] | Any

__all__ = ["train", "resume", "load", "evaluate", "Run", "Agent", "EvalResult", "LandersError", "Interrupted",
           "Progress", "Evaluation", "StopAtReturn", "StopWithoutImprovement", "TimeLimit", "__version__"]

# Exported names that live next to torch: imported when first used, so that `import landers`
# (and the CLI's start) stays fast.
_LAZY = {"Run": "landers.run.api", "Interrupted": "landers.run.trainer", "Agent": "landers.policy.agent",
         "EvalResult": "landers.policy.evaluation", "Progress": "landers.run.callbacks",
         "Evaluation": "landers.run.callbacks", "StopAtReturn": "landers.run.callbacks",
         "StopWithoutImprovement": "landers.run.callbacks", "TimeLimit": "landers.run.callbacks"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'landers' has no attribute {name!r}")


def train(algo: str, env: Any, *, config: BaseConfig | dict[str, Any] | None = None, steps: int | None = None,
          seed: int = 0, num_envs: int | None = None, device: str = "auto", run_dir: str | Path | None = None,
          preset: str | None = "auto", quiet: bool = True, callbacks: Sequence[Callback] = (),
          env_kwargs: dict[str, Any] | None = None, wrappers: Sequence[Any] = (), backend: str | None = None,
          eval_every: int | None = None,
          eval_episodes: int | None = None, final_eval_episodes: int | None = None,
          eval_max_steps: int | None = None, stop_return: float | None = None, record_every: int | None = None,
          checkpoint_every_s: float | None = None, threads: int | None = None, env_threads: int | None = None,
          overlap: bool | None = None, **hyperparameters: Any) -> Run:
    """Train `algo` on `env` into a run directory and return the finished `Run` (`.run_dir`,
    `.agent`, `.eval`, `.random_eval`, `.global_step`).

        run = landers.train("ppo", "CartPole-v1", steps=50_000, seed=1, lr=1e-3)
        run = landers.train("PPO", "LunarLander-v3", preset=None, num_envs=16)  # no preset
        run = landers.train("a2c", lambda: MyEnv(size=5), steps=20_000)

    algo: ppo, a2c, trpo, reinforce or random (any case).
    env: a Gymnasium id (`"module:EnvId"` imports `module` first), a `gymnasium.EnvSpec`, an
        env class, or a factory returning a new `gymnasium.Env` (`lambda: MyEnv(...)`); not an
        env instance, since a run builds several. A class or function is recorded by import
        path, so that later uses of the run rebuild the env.
    config: the algorithm's hyperparameters as its Config dataclass (e.g.
        `landers.algos.ppo.Config(lr=1e-3)`, used whole: no preset goes under it) or a dict
        (layered over the preset like `**hyperparameters`).
    steps: env steps to train for [default: the preset's budget, else 100,000].
    seed: seed of the envs, the network's initialization and the sampling.
    num_envs: parallel envs (a hyperparameter: `num_envs=16` is the same).
    device: auto (CUDA when present), cpu, cuda or cuda:N.
    run_dir: where the run is written [default: runs/<env>__<algo>__s<seed>__<time>]; it must
        not hold a run already (continue one with `landers.resume`).
    preset: "auto" takes the tuned preset that ships for this algorithm and env (a factory's
        env: the preset of the id it registers as, if any); None trains with the algorithm's
        general defaults; else a preset name (`landers presets`) or a preset file's path.
    quiet: no progress bar.
    callbacks: callables `fn(progress)`, called after every update, or objects with
        `on_update(progress)` and/or `on_eval(progress)` (after each periodic evaluation);
        `progress` is a `landers.Progress` (step, updates, seconds, elapsed, metrics,
        last_eval). Returning False ends training after that update, saved and evaluated as
        at the end of a run, with `run.stopped` saying why. `StopAtReturn(r)`,
        `StopWithoutImprovement(n)` and `TimeLimit(seconds)` ship with landers.
    env_kwargs: the env's constructor arguments (JSON values: they are saved with the run).
    wrappers: `"module:callable"` strings or callables applied to each env, in order.
    backend: vector env backend, auto, gymnasium or envpool.
    eval_every, eval_episodes: env steps between periodic evaluations (0: a tenth of the run),
        and their episodes (10).
    final_eval_episodes: episodes of the final evaluation and of the random baseline (100).
    eval_max_steps: cap on an evaluation episode's steps (0: the env's own limit).
    stop_return: end training once a periodic evaluation's mean reaches this return
        (saved and evaluated as at the end of a run).
    record_every: record a video every K periodic evaluations into RUN_DIR/videos (0: never).
    checkpoint_every_s, threads, env_threads, overlap: see `landers config`.
    **hyperparameters: the algorithm's hyperparameters (`landers config ppo` lists them).

    Raises `LandersError` (one sentence) on any bad argument, before anything is written;
    `Interrupted` when Ctrl-C stops the run (its last checkpoint saved). The caller's torch
    thread count and global random states (torch, numpy, random) are as they were afterwards.
    """
    from landers.run import api
    from landers.run.spec import make_spec

    _require_type("run_dir", run_dir, (str, os.PathLike, type(None)), "a path")
    _require_type("env_kwargs", env_kwargs, (dict, type(None)), "a dict of the env's constructor arguments")
    _require_type("wrappers", wrappers, (list, tuple), "a list of wrappers")
    if num_envs is not None:
        hyperparameters["num_envs"] = num_envs
    options = dict(steps=steps, seed=seed, device=device, backend=backend, eval_every=eval_every,
                   eval_episodes=eval_episodes, final_eval_episodes=final_eval_episodes,
                   eval_max_steps=eval_max_steps, stop_return=stop_return, record_every=record_every,
                   checkpoint_every_s=checkpoint_every_s, threads=threads, env_threads=env_threads, overlap=overlap)
    spec = make_spec(algo, env, preset=_preset_name(preset), overrides=hyperparameters, config=config,
                     env_kwargs=env_kwargs, wrappers=wrappers, **options)
    if run_dir is not None:
        _refuse_existing_run(Path(run_dir))
    return api.train(spec, run_dir=Path(run_dir) if run_dir is not None else None, quiet=quiet, callbacks=callbacks)


def resume(run_dir: str | Path, *, steps: int | None = None, quiet: bool = True,
           callbacks: Sequence[Callback] = (), **changes: Any) -> Run:
    """Continue the run in `run_dir` from its last checkpoint, exactly as `landers train
    --resume` does, and return the finished `Run` (`run.resume(...)` is the same).

        run = landers.train("ppo", "CartPole-v1", steps=20_000, run_dir="runs/cp")
        run = landers.resume("runs/cp", steps=50_000)           # 30,000 more steps
        run = landers.resume("runs/cp", steps=80_000, lr=1e-4)  # with a smaller learning rate

    steps: the run's new total of env steps [default: its budget]; a total at or below the
        steps already done is refused in one sentence, and nothing is written.
    callbacks: as for `train`.
    **changes: hyperparameters or run options (e.g. `lr`, `stop_return`, `eval_every`) to
        change from here on, recorded in the run's config.json under "resumed"; those the
        checkpoint's network, statistics or env seeds depend on (hidden_sizes, norm_obs, seed,
        backend, ...) cannot change.
    `run_dir` may also name one of the run's checkpoints (RUN/checkpoints/best) to continue from.
    The caller's torch thread count and global random states are as they were afterwards.
    """
    from landers.run import api

    _require_type("run_dir", run_dir, (str, os.PathLike), "a path")
    if steps is not None:
        _require_int("steps", steps, minimum=1)
    return api.resume(run_dir, steps=steps, quiet=quiet, callbacks=callbacks, **changes)


def load(path: str | Path, *, device: str = "cpu", env: Any = None) -> Agent:
    """The agent saved in a run directory (its `checkpoints/last`), a checkpoint directory, or
    a model repository on the Hugging Face Hub that `landers push` made: `hf://USER/NAME` or
    `hf://USER/NAME@REV` (through huggingface_hub's cache; `landers[hub]`).

        agent = landers.load("runs/CartPole-v1__ppo__s1__20261204-101500")
        action = agent.predict(observation)

    device: where the network runs: cpu, cuda, cuda:N or auto.
    env: an id, EnvSpec, factory or env instance with the same spaces, replacing the recorded
        env; needed when the run's factory had no import path (a lambda).
    """
    from landers.algos import load as _load
    from landers.run.spec import resolve_device

    _require_type("path", path, (str, os.PathLike), "a path")
    _require_type("device", device, (str,), "cpu, cuda, cuda:N or auto")
    if isinstance(path, str) and path.startswith("hf://"):
        from landers.share.hub import resolve

        path = resolve(path)
    return _load(path, str(resolve_device(device)), env=env)


def evaluate(agent: Agent | str | Path, env: Any = None, *, episodes: int = 100, seed: int | None = None,
             deterministic: bool = True, backend: str = "auto", max_steps: int | None = None) -> EvalResult:
    """Mean, std and returns (an `EvalResult`) of `agent` over `episodes` whole episodes.

        result = landers.evaluate(landers.load(run_dir), episodes=20)
        print(result.mean, result.std, result.returns)
        result = landers.evaluate(agent, gymnasium.make("CartPole-v1"), episodes=5)

    agent: an `Agent` (`landers.load`), or the path of a run or checkpoint to load it from.
    env: the agent's own env [default], or an id, EnvSpec, factory or env instance with the
        same spaces (an instance plays its episodes one after the other).
    seed: the first episode's env seed [default: the run's own evaluation seeds, those its final
        evaluation and `landers eval` use, so the numbers agree].
    deterministic: take the most likely action instead of sampling one.
    max_steps: caps an episode's steps, so that a stuck agent cannot hang the evaluation.
    """
    from landers.policy.agent import Agent
    from landers.policy.evaluation import eval_seed
    from landers.policy.evaluation import evaluate as _evaluate

    if isinstance(agent, (str, os.PathLike)):
        agent = load(agent)
    if not isinstance(agent, Agent):
        raise LandersError(f"agent= is a {type(agent).__name__}; pass a landers.Agent (landers.load(run_dir)) "
                           "or the path of a run.")
    _require_int("episodes", episodes, minimum=1)
    if seed is None:
        seed = eval_seed(agent.info.get("run", {}).get("seed", 0))
    _require_int("seed", seed, minimum=0)
    if max_steps is not None:
        _require_int("max_steps", max_steps, minimum=0)
    return _evaluate(agent, env, episodes=episodes, seed=seed, deterministic=deterministic, backend=backend,
                     max_steps=max_steps or None)


def _require_type(name: str, value: Any, types: tuple[type, ...], what: str) -> None:
    if not isinstance(value, types):
        raise LandersError(f"{name}={value!r} should be {what}.")


def _require_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise LandersError(f"{name}={value!r} should be an integer.")
    if value < minimum:
        rule = "must be positive" if minimum == 1 else f"must be >= {minimum}"
        raise LandersError(f"{name}={value!r} {rule}.")


def _preset_name(preset: str | None) -> str | None:
    """The public API's preset (`"auto"` default, None for none) as `make_spec` takes it."""
    from landers.core.config import NO_PRESET

    if preset is None:
        return NO_PRESET
    if not isinstance(preset, (str, Path)):
        raise LandersError(f"preset={preset!r} should be a preset name, a preset file's path, 'auto' or None.")
    return None if str(preset) == "auto" else str(preset)


def _refuse_existing_run(run_dir: Path) -> None:
    if (run_dir / "config.json").exists() or (run_dir / "checkpoints").exists():
        raise LandersError(f"run_dir='{run_dir}' already holds a run; continue it with "
                           f"landers.resume('{run_dir}', steps=...) or choose another run_dir.")

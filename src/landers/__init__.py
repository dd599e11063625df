"""landers: policy-optimization reinforcement learning that trains, evaluates, checkpoints and resumes.

    import landers
    run = landers.train("ppo", "CartPole-v1", steps=50_000, seed=1)
    agent = landers.load(run.run_dir)
    result = landers.evaluate(agent, "CartPole-v1", episodes=100)
"""

from __future__ import annotations

__version__ = "0.1.0"

from pathlib import Path
from typing import Any

__all__ = ["train", "load", "evaluate", "__version__"]


def train(algo: str, env: Any, *, steps: int | None = None, seed: int = 0, preset: str | None = None,
          run_dir: str | Path | None = None, quiet: bool = True, env_kwargs: dict[str, Any] | None = None,
          wrappers: Any = (), **overrides: Any):
    """Train `algo` on `env` and return a `Run` (`.run_dir`, `.agent`, `.eval`).

    `env` is a Gymnasium id, a `gymnasium.EnvSpec`, or a callable returning a `gymnasium.Env`
    (its import path is recorded when it has one, so that later uses of the run can rebuild
    it). `env_kwargs` go to the env's constructor; `wrappers` (`"module:callable"` strings or
    callables) wrap each env in order. Keyword overrides may be hyperparameters of the
    algorithm (e.g. `lr=1e-3`, `num_envs=16`) or run options (`backend`, `device`,
    `eval_every`, `eval_episodes`, `final_eval_episodes`, `checkpoint_every_s`, `threads`,
    `env_threads`, `overlap`).
    Without `preset`, the env's tuned preset is used when one ships.
    """
    from landers.run.spec import make_spec
    from landers.run.rundir import start

    spec = make_spec(algo, env, preset=preset, overrides=overrides, steps=steps, seed=seed, env_kwargs=env_kwargs,
                     wrappers=wrappers)
    return start(spec, run_dir=Path(run_dir) if run_dir is not None else None, quiet=quiet)


def load(path: str | Path, device: str = "cpu", env: Any = None):
    """The agent saved in a run directory (its `checkpoints/last`), a checkpoint directory, or
    a model repository on the Hugging Face Hub pushed by `landers push`: `hf://USER/NAME` or
    `hf://USER/NAME@REV` (through huggingface_hub's cache; `landers[hub]`).
    `env` (an id, EnvSpec or factory with the same spaces) replaces the recorded env: needed
    when the run's factory had no import path."""
    from landers.algos import load as _load

    if isinstance(path, str) and path.startswith("hf://"):
        from landers.share.hub import resolve

        path = resolve(path)
    return _load(path, device, env=env)


def evaluate(agent, env: Any = None, *, episodes: int = 100, seed: int = 10_000,
             deterministic: bool = True, backend: str = "auto", max_steps: int | None = None):
    """Mean, std and returns of `agent` over `episodes` whole episodes (an `EvalResult`) of
    its own env or `env` (an id, EnvSpec or factory with the same spaces); `max_steps` caps an
    episode's steps, so that a stuck agent cannot hang the evaluation."""
    from landers.policy.evaluation import evaluate as _evaluate

    return _evaluate(agent, env, episodes=episodes, seed=seed, deterministic=deterministic, backend=backend,
                     max_steps=max_steps)

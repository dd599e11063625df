"""A run directory's life around a `Trainer`: `start` makes a new one (config.json, then
training), `resume` continues one from its checkpoint, with the changes it is allowed.
Both hold the run's lock while they train.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Any

from landers.core import checkpoint
from landers.core.config import replace_config
from landers.core.files import read_json_object
from landers.core.lock import run_lock
from landers.errors import LandersError, WriteFailed
from landers.run.hooks import Hooks
from landers.run.spec import RUN_OPTIONS, RunSpec, default_run_dir, read_config, validate, versions
from landers.run.trainer import Interrupted, Run, Trainer


def start(spec: RunSpec, *, run_dir: Path | None = None, quiet: bool = False, hooks: Hooks = Hooks()) -> Run:
    """Train a new run described by `spec` into `run_dir` (default: a fresh dir under runs/);
    `quiet` hides the progress bar, `hooks` as in `Hooks`."""
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(spec)
    _refuse_existing_run(run_dir)
    try:
        run_dir.mkdir(parents=True)
        created = True
    except FileExistsError:
        created = False
    except OSError as e:
        raise LandersError(f"Cannot create the run directory '{run_dir}': {e.strerror}.") from None
    if not run_dir.is_dir():
        raise LandersError(f"Cannot create the run directory '{run_dir}': a file is in the way.")
    with run_lock(run_dir):
        _refuse_existing_run(run_dir)  # another writer may have started it in the meantime
        try:
            trainer = Trainer(spec, run_dir, quiet=quiet, hooks=hooks)
        except BaseException:
            if created:  # nothing was trained: leave no half-made run behind
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        try:
            checkpoint.write_json_atomic(run_dir / "config.json", {
                **spec.to_json(), "versions": versions(), "backend_resolved": trainer.envs.backend})
        except WriteFailed:
            trainer.close()
            raise
        try:
            return trainer.run()
        except LandersError as e:
            # e.g. a wrapper that changes the spaces at the first step: a run with nothing saved yet goes
            if created and not isinstance(e, Interrupted) and not (run_dir / "checkpoints").exists():
                trainer.close()
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


def _refuse_existing_run(run_dir: Path) -> None:
    if (run_dir / "config.json").exists() or (run_dir / "checkpoints").exists():
        raise LandersError(f"'{run_dir}' already holds a run; continue it with --resume {run_dir} "
                           "or choose another --run-dir.")


# What a resumed run cannot change: the network and the statistics its checkpoint holds, and
# where its envs' seeds come from.
FIXED_ON_RESUME = ("hidden_sizes", "activation", "shared_network", "norm_obs", "norm_reward", "optimizer",
                   "seed", "backend", "rnn", "rnn_size", "sde")


def _refuse_reached_total(steps: int | None, found: Path, run_dir: Path) -> None:
    """A `steps` total the checkpoint has reached would train nothing, yet rewrite config.json
    and eval.json: one sentence instead."""
    done = read_json_object(found / checkpoint.STATE).get("global_step")
    if steps is not None and isinstance(done, int) and steps <= done:
        raise LandersError(f"steps={steps} is not more than the {done:,} steps '{run_dir}' has done; "
                           f"steps is the run's new total, e.g. steps={2 * done}.")


def resume(run_dir: Path, *, steps: int | None = None, quiet: bool = False, hooks: Hooks = Hooks(),
           expect_algo: str | None = None, expect_env_id: str | None = None,
           overrides: dict[str, Any] | None = None) -> Run:
    """Continue the run in `run_dir` from `checkpoints/last`, optionally to a new step budget
    and with changed hyperparameters or run options (`overrides`, e.g. a smaller lr after a
    divergence); changes are recorded in config.json under "resumed". `run_dir` may also name
    a checkpoint of the run (RUN/checkpoints/best) to continue from instead of `last`.
    `expect_algo`/`expect_env_id` refuse a run of another algorithm or env; `quiet` and
    `hooks` as in `start`."""
    run_dir, source = Path(run_dir), "last"
    if run_dir.parent.name == "checkpoints" and (run_dir.parent.parent / "config.json").exists():
        run_dir, source = run_dir.parent.parent, run_dir.name
    config = run_dir / "config.json"
    if not config.exists():
        raise LandersError(f"'{run_dir}' is not a landers run directory (no config.json).")
    spec, history = read_config(config)
    began_on = read_json_object(config).get("backend_resolved")
    for given, actual, what in ((expect_algo, spec.algo, "algorithm"), (expect_env_id, spec.env_id, "env")):
        if given is not None and given != actual:
            raise LandersError(f"'{run_dir}' is a {spec.algo} run on {spec.env_id}; it cannot resume as {what} {given}.")
    overrides = dict(overrides or {})
    fixed = [key for key in FIXED_ON_RESUME if key in overrides]
    if fixed:
        raise LandersError(f"{', '.join(fixed)} cannot change when resuming: the checkpoint's network, "
                           "statistics and env seeds depend on them.")
    if overrides:
        run_options = {k: overrides.pop(k) for k in list(overrides) if k in RUN_OPTIONS}
        spec = replace_config(dataclasses.replace(spec, hparams=replace_config(spec.hparams, overrides)), run_options)
        overrides.update(run_options)
    if steps is not None:
        spec = dataclasses.replace(spec, steps=steps)
    validate(spec)
    # A run killed before its first checkpoint has nothing to continue from: start it again.
    has_checkpoint = (run_dir / "checkpoints").is_dir()
    if has_checkpoint:
        found = checkpoint.find(run_dir / "checkpoints" / source)  # a corrupt one is named before anything is written
        _refuse_reached_total(steps, found, run_dir)
    with run_lock(run_dir):
        trainer = Trainer(spec, run_dir, from_checkpoint=source if has_checkpoint else None, quiet=quiet,
                          hooks=hooks)
        moved = began_on not in (None, trainer.envs.backend)  # `auto` chose otherwise since (ENVPOOL_DIFFERS)
        if moved:
            print(f"warning: this run began on {began_on}'s {spec.env_id} and goes on with {trainer.envs.backend}'s "
                  "(backend auto chooses it now); its curve may shift at this resume.", file=sys.stderr)
        if steps is not None or overrides or source != "last" or moved:  # bad input has modified nothing so far
            change = {"step": trainer.state.global_step, "from": f"checkpoints/{source}",
                      "set": {k: str(v) for k, v in overrides.items()}, "steps": spec.steps,
                      **({"backend": f"{began_on} -> {trainer.envs.backend}"} if moved else {})}
            try:
                checkpoint.write_json_atomic(config, {**spec.to_json(), "versions": versions(),
                                                      "backend_resolved": trainer.envs.backend,
                                                      "resumed": history + [change]})
            except WriteFailed:
                trainer.close()
                raise
        return trainer.run()

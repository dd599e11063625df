"""What the Python API's `landers.train` and `landers.resume` run: a run directory's `start` or
`resume` (rundir.py) with the caller's callbacks as `Hooks`, leaving the caller's process as it
was; and the `Run` they return, which `resume` continues."""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from landers.run import rundir, trainer
from landers.run.callbacks import Callbacks
from landers.run.hooks import Hooks
from landers.run.spec import RunSpec


@dataclasses.dataclass
class Run(trainer.Run):
    """A finished run: `run_dir`, `agent`, `eval` (the final evaluation), `random_eval`, `spec`,
    `global_step`, `train_time` (seconds, evaluation excluded) and `stopped` (why it ended
    before its step budget, else None)."""

    def resume(self, *, steps: int | None = None, quiet: bool = True, callbacks: Any = (), **changes: Any) -> Run:
        """Continue this run, as `landers.resume(run.run_dir, ...)` does."""
        return resume(self.run_dir, steps=steps, quiet=quiet, callbacks=callbacks, **changes)


def train(spec: RunSpec, *, run_dir: Path | None, quiet: bool, callbacks: Any) -> Run:
    hooks = Hooks(callbacks=Callbacks(callbacks))  # a callback that is none is refused before anything is made
    with caller_state_kept():
        return _public(rundir.start(spec, run_dir=run_dir, quiet=quiet, hooks=hooks))


def resume(run_dir: str | Path, *, steps: int | None, quiet: bool, callbacks: Any, **changes: Any) -> Run:
    hooks = Hooks(callbacks=Callbacks(callbacks))
    with caller_state_kept():
        return _public(rundir.resume(Path(run_dir), steps=steps, quiet=quiet, hooks=hooks, overrides=changes))


def _public(run: trainer.Run) -> Run:
    return Run(**{f.name: getattr(run, f.name) for f in dataclasses.fields(run)})


@contextlib.contextmanager
def caller_state_kept() -> Iterator[None]:
    """Give back the caller's torch thread count and global random states, which training sets
    for its own reproducibility (one thread for small networks, the run's seed)."""
    import numpy as np
    import torch

    threads = torch.get_num_threads()
    torch_rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    numpy_rng, python_rng = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(torch_rng)
        if cuda_rng is not None:
            torch.cuda.set_rng_state_all(cuda_rng)
        np.random.set_state(numpy_rng)
        random.setstate(python_rng)

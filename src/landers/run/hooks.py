"""What the caller of a run hands its loop, as one frozen value: `Hooks`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from landers.run.callbacks import Callbacks

if TYPE_CHECKING:
    from landers.run.tracking import Tracker


@dataclass(frozen=True, kw_only=True)
class Hooks:
    """Where a run's progress goes and how its caller may end it early; `start` and `resume`
    pass it to the `Trainer`, whose loop calls each field at one named point:

    - `console`: the rich `Console` the progress bar draws on (`Trainer.log` advances the bar);
      None is rich's default, stdout. The CLI passes a stderr console: stdout is for results.
    - `on_eval(row)`: after each periodic evaluation, once checkpoints/best|last hold its state
      (`Trainer.periodic_eval`), with its evals.csv row (step, time, mean, std, episodes); it
      may raise to end the run. Ray Tune trials report from here.
    - `stop`: an event that, set from any thread, stops the run as Ctrl-C does, at the next
      update boundary (`Trainer.stop_if_asked`): checkpoints/last is saved, then `Interrupted`
      is raised.
    - `callbacks`: the caller's `Callbacks` (callbacks.py), told of each update at the end of
      `Trainer.log` and of each evaluation at the end of `Trainer.periodic_eval`; one that
      returns False ends the run there as the step budget would (`Trainer.stop_early`).
    - `tracker`: an experiment tracker (`landers.run.tracking`, W&B) beside TensorBoard: the
      run log (`RunLog`) starts it and hands it every row it writes, the evaluation videos and
      the final evaluation; the caller, who made it, finishes it (after adding the report).

    A new callback or tracker is a field here, called from its point, not a change to the
    loop: per-update metrics at the end of `Trainer.log` (the metrics.csv row), per-evaluation
    ones at the end of `Trainer.periodic_eval`, a reason to finish normally before the step
    budget by calling `Trainer.stop_early(reason)` there (as stop_return and callbacks do).
    """

    console: Any = None  # rich.console.Console; rich is imported only when the bar is made
    on_eval: Callable[[dict[str, float]], None] | None = None
    stop: threading.Event | None = None
    callbacks: Callbacks | None = None
    tracker: Tracker | None = None

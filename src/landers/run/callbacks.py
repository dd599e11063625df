"""Callbacks: code of the caller's that training calls after each update and each periodic
evaluation, with a small typed `Progress` record; returning False stops the run after that
update, saved and evaluated as at the end of a run (Stable-Baselines3's convention).

A callback is a callable `fn(progress)` (called after every update) or an object with
`on_update(progress)` and/or `on_eval(progress)`. The common ones ship here: `StopAtReturn`,
`StopWithoutImprovement` and `TimeLimit`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from landers.errors import LandersError


@dataclass(frozen=True)
class Evaluation:
    """One periodic evaluation (a row of evals.csv)."""

    step: int        # env steps trained when it ran
    mean: float      # mean return over its episodes
    std: float
    episodes: int


@dataclass(frozen=True)
class Progress:
    """Where a run stands after an update."""

    step: int                   # env steps trained so far (the whole run's, resumed ones included)
    updates: int                # updates so far
    seconds: float              # training time so far, evaluation excluded (metrics.csv's `time`)
    elapsed: float              # wall-clock seconds since this train or resume call began training
    metrics: dict[str, float] = field(default_factory=dict)  # this update's metrics.csv row
    last_eval: Evaluation | None = None  # the latest periodic evaluation of this call, if any


class Callbacks:
    """The caller's callbacks, called in order. `on_update` / `on_eval` say whether all of them
    let training go on; `reason` says why the first that did not stopped it. A callback's own
    exception propagates: the run ends with the checkpoint of its last evaluation or save."""

    def __init__(self, callbacks: Any = ()):
        if callable(callbacks) or _has_events(callbacks):
            callbacks = [callbacks]  # one callback given without a list
        try:
            self.callbacks = tuple(callbacks)
        except TypeError:
            raise LandersError(f"callbacks={callbacks!r} should be a list of callbacks.") from None
        for cb in self.callbacks:
            if not (callable(cb) or _has_events(cb)):
                raise LandersError(f"callbacks= holds a {type(cb).__name__}, which is neither callable nor has "
                                   "on_update(progress) or on_eval(progress).")
        self.reason: str | None = None

    def __bool__(self) -> bool:
        return bool(self.callbacks)

    def on_update(self, progress: Progress) -> bool:
        return self._call("on_update", progress)

    def on_eval(self, progress: Progress) -> bool:
        return self._call("on_eval", progress)

    def _call(self, event: str, progress: Progress) -> bool:
        go_on = True
        for cb in self.callbacks:
            method = getattr(cb, event, None)
            if method is None and event == "on_update" and not _has_events(cb):
                method = cb  # a plain callable hears of every update
            # Every callback hears of every update, even after an earlier one asked to stop.
            if method is not None and method(progress) is False:
                if go_on and self.reason is None:
                    name = getattr(cb, "__name__", None) or type(cb).__name__
                    self.reason = getattr(cb, "reason", None) or f"callback {name} returned False"
                go_on = False
        return go_on


def _has_events(obj: Any) -> bool:
    return hasattr(obj, "on_update") or hasattr(obj, "on_eval")


class StopAtReturn:
    """Stop once a periodic evaluation's mean return reaches `threshold`.

        landers.train("ppo", "CartPole-v1", callbacks=[StopAtReturn(475)])
    """

    def __init__(self, threshold: float):
        self.threshold = float(threshold)
        self.reason: str | None = None

    def on_eval(self, progress: Progress) -> bool:
        last = progress.last_eval
        if last is not None and last.mean >= self.threshold:
            self.reason = f"evaluation {last.mean:.1f} >= {self.threshold:g}"
            return False
        return True


class StopWithoutImprovement:
    """Stop once `evaluations` periodic evaluations in a row have not beaten the best mean
    return so far by more than `min_delta`.

        landers.train("ppo", "LunarLander-v3", callbacks=[StopWithoutImprovement(5)])
    """

    def __init__(self, evaluations: int, *, min_delta: float = 0.0):
        if isinstance(evaluations, bool) or not isinstance(evaluations, int) or evaluations < 1:
            raise LandersError(f"evaluations={evaluations!r} must be a positive integer.")
        self.evaluations, self.min_delta = evaluations, float(min_delta)
        self.best, self.without = -math.inf, 0
        self.reason: str | None = None

    def on_eval(self, progress: Progress) -> bool:
        mean = progress.last_eval.mean if progress.last_eval else -math.inf
        if mean > self.best + self.min_delta:
            self.best, self.without = mean, 0
            return True
        self.without += 1
        if self.without >= self.evaluations:
            self.reason = f"{self.without} evaluations without improving on {self.best:.1f}"
            return False
        return True


class TimeLimit:
    """Stop after the update that passes `seconds` of wall-clock time since training began
    (evaluations included).

        landers.train("ppo", "LunarLander-v3", callbacks=[TimeLimit(600)])
    """

    def __init__(self, seconds: float):
        if not seconds > 0:
            raise LandersError(f"seconds={seconds!r} must be positive.")
        self.seconds = float(seconds)
        self.reason: str | None = None

    def on_update(self, progress: Progress) -> bool:
        if progress.elapsed >= self.seconds:
            self.reason = f"time limit of {self.seconds:g} s reached"
            return False
        return True

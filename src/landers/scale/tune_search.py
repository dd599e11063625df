"""The search side of a `landers tune` study, which Tune pickles into the study's state: the
Optuna searcher told the truth about pruned trials, its define-by-run space, the wrapper that lets
a finished study grow, and ASHA rungs that outlive a resume."""

from __future__ import annotations

import json
from pathlib import Path

from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.search_generator import SearchGenerator

from landers.core.checkpoint import write_json_atomic
from landers.core.search import Space, suggest
from landers.errors import LandersError


class ResumableASHA(ASHAScheduler):
    """ASHA whose rungs outlive an interrupted study. Tune restores its scheduler as it was
    when the study began (it saves the searcher, not the scheduler), so a resumed study would
    judge new trials against empty rungs; these rungs (each a milestone and the score every
    trial had there) are written to `state_file` as JSON after each result and read back on
    the first result after a resume, with the ids of the trials it stopped (`pruned_names`): a
    study stopped by Ctrl-C can tell the trials this scheduler pruned from those the interrupt
    stopped. (A state file of a list alone, rungs without ids, is read too: studies before.)"""

    def __init__(self, state_file: str, **kwargs):
        super().__init__(**kwargs)
        self.state_file = state_file
        self._loaded = False
        self._stopped: set[str] = set()

    def _load(self) -> None:
        self._loaded = True
        saved = read_state(Path(self.state_file))
        if saved is None:
            return  # no state yet (a new study) or an unreadable one: start with empty rungs
        rungs, stopped = saved
        self._stopped |= stopped
        if len(rungs) == len(self._brackets) and all(
                [m for m, _ in r] == [m for m, _ in b._rungs] for r, b in zip(rungs, self._brackets, strict=True)):
            for r, b in zip(rungs, self._brackets, strict=True):
                b._rungs = r

    def _save(self) -> None:
        state = {"rungs": [[[m, recorded] for m, recorded in b._rungs] for b in self._brackets],
                 "stopped": sorted(self._stopped)}
        try:
            write_json_atomic(Path(self.state_file), state)
        except LandersError:  # a failed write (disk full): the study goes on, a resume would start them empty
            pass

    def _recorded(self, method, *args):
        """ASHA's own `method`, between reading the rungs back (once) and writing them."""
        if not self._loaded:
            self._load()
        out = method(*args)
        self._save()
        return out

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        if result.get("failed"):  # a seed failed: the trial ends; its NaN score goes to no rung
            return self.STOP

        def decide(*args):
            decision = ASHAScheduler.on_trial_result(self, *args)
            if decision == self.STOP and not result.get("finished"):
                self._stopped.add(str(trial.trial_id))
            return decision

        return self._recorded(decide, tune_controller, trial, result)

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        if result and result.get("failed"):  # Tune hands the last result here too: no rung for it
            self._trial_info.pop(trial.trial_id, None)
            return
        self._recorded(super().on_trial_complete, tune_controller, trial, result)


def read_state(path: Path) -> tuple[list, set[str]] | None:
    """A `ResumableASHA` state file: its rungs (per bracket, (milestone, {trial id: score})) and
    the ids of the trials it stopped; None where there is none or it cannot be read."""
    try:
        saved = json.loads(path.read_text())
        if isinstance(saved, list):  # written before the ids were kept
            saved = {"rungs": saved, "stopped": []}
        rungs = [[(float(m), {str(k): float(v) for k, v in recorded.items()}) for m, recorded in bracket]
                 for bracket in saved["rungs"]]
        return rungs, {str(t) for t in saved.get("stopped", [])}
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return None


def trial_folder(trial_id: str) -> str:
    """A trial's name, its folder under OUT/trials: Tune's id of it (random with a searcher)."""
    return f"trial_{trial_id}"


def pruned_names(path: Path) -> set[str]:
    """The names (`trial_folder`) of the trials the scheduler stopped, from its state file."""
    saved = read_state(path)
    return {trial_folder(t) for t in saved[1]} if saved else set()


class SeedScoredSearch(OptunaSearch):
    """Optuna's TPE through Tune, told the truth about early-stopped trials: a trial the
    scheduler stopped has only a partial score, so Optuna records it as pruned (with the
    intermediate values it was reported), not as completed with that score; a trial whose seed
    failed (its last result says `failed`, its score NaN) is a failed Optuna trial."""

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        if not result.get("failed"):
            super().on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False):
        if result is not None and result.get("failed"):
            result, error = None, True
        elif result is not None and not result.get("finished"):
            result = None
        super().on_trial_complete(trial_id, result, error)


class DrawFrom:
    """Optuna's define-by-run space: draws every parameter on the Optuna trial, which records
    them. A class, not a closure: Tune pickles its searcher into the study's state."""

    def __init__(self, space: Space):
        self.space = space

    def __call__(self, trial) -> None:
        suggest(trial, self.space)


class GrowingSearch(SearchGenerator):
    """Tune's wrapper of the searcher, whose number of trials follows study.json. Tune restores
    a study with the number it began with (in its saved search state); this reads the number
    the command asks for now, so that a finished study asked for more trials goes on with the
    same searcher (its TPE history), scheduler rungs and settings."""

    def __init__(self, searcher, study_file: str):
        super().__init__(searcher)
        self.study_file = study_file

    def set_state(self, state: dict) -> None:
        super().set_state(state)
        try:
            wanted = int(json.loads(Path(self.study_file).read_text())["trials"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if wanted > self._total_samples:
            self._total_samples, self._finished = wanted, False

"""Experiment tracking beside TensorBoard: Weights & Biases (`--track wandb`; `landers[track]`).

`RunLog` hands a `Tracker` every scalar it gives TensorBoard, under the same names, plus the
run's config, the videos, the final evaluation with the random baseline; the command that made
the tracker adds files (the report) and finishes it. wandb is imported only by `begin`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from landers.errors import LandersError, first_line

TRACKERS = ("wandb",)
RECORD = "tracking.json"  # in the run directory: which W&B run it logs to, for --resume


@dataclass(frozen=True, kw_only=True)
class Tracking:
    """Where a run's metrics also go (`--track`, `--wandb-project`, `--wandb-entity`, `--wandb-group`)."""

    kind: str = "wandb"  # the tracker; only W&B for now
    project: str | None = None  # W&B project [default: WANDB_PROJECT, else "landers"]
    entity: str | None = None  # W&B user or team [default: WANDB_ENTITY, else the login's]
    group: str | None = None  # runs W&B shows together: compare's seeds, a study's trials
    name: str | None = None  # the run's display name [default: the run directory's name]
    job_type: str | None = None  # train, compare or tune: W&B filters on it


def require_wandb() -> Any:
    try:
        import wandb
    except ImportError:
        raise LandersError("--track wandb needs wandb: pip install 'landers[track]'.") from None
    return wandb


def check(kind: str | None) -> None:
    """One sentence for an unknown tracker, or for W&B when it is not installed, before any work."""
    if kind is None:
        return
    if kind not in TRACKERS:
        raise LandersError(f"Unknown tracker '{kind}'; --track takes {', '.join(TRACKERS)}.")
    require_wandb()


class Tracker(Protocol):
    """What `RunLog` calls; `begin` first, once."""

    def begin(self, run_dir: Path, *, config: dict[str, Any], kept_rows: int | None) -> None: ...
    def log(self, scalars: dict[str, float], *, step: int) -> None: ...
    def video(self, path: Path, *, step: int) -> None: ...
    def final(self, result: dict[str, Any]) -> None: ...


class WandbTracker:
    """One W&B run per landers run.

    W&B's own step counts rows: one per row of metrics.csv, episodes.csv and evals.csv, in the
    order they are written, each carrying its env step as `global_step`, the x-axis of every
    chart (as wandb's TensorBoard sync does): the episodes of one update end at several env
    steps, which W&B's step, strictly increasing, could not hold. A resumed run rewinds its W&B
    run to the last row its checkpoint kept (`resume_from`, as TensorBoard's purge_step and the
    CSVs' truncation do), so a step logged after the checkpoint is never logged twice.
    """

    def __init__(self, settings: Tracking):
        self.settings = settings
        self.run: Any = None
        self.row = 0  # W&B's step of the next row
        self.wandb: Any = None

    def begin(self, run_dir: Path, *, config: dict[str, Any], kept_rows: int | None) -> None:
        """Start (or, for a resumed run that W&B tracked, continue) the W&B run; `kept_rows`:
        the rows the resumed run's CSVs kept (None for a new run)."""
        wandb = self.wandb = require_wandb()
        record = read_record(run_dir)
        settings = self.settings
        kwargs: dict[str, Any] = {}
        if record is not None and kept_rows is not None and kept_rows - record["first_row"] > 0:
            # The rows of the earlier run up to the checkpoint stay; W&B continues after them.
            self.row = kept_rows - record["first_row"]
            kwargs["resume_from"] = f"{record['id']}?_step={self.row - 1}"
            settings = Tracking(**{**record["settings"], **{k: v for k, v in asdict(settings).items() if v}})
            first_row = record["first_row"]
        else:
            first_row = kept_rows or 0
        try:
            self.run = wandb.init(project=settings.project or os.environ.get("WANDB_PROJECT") or "landers",
                                  entity=settings.entity, group=settings.group, name=settings.name or run_dir.name,
                                  job_type=settings.job_type, dir=str(run_dir), config=config, **kwargs)
        except wandb.errors.Error as e:  # no login, the server unreachable: its message is the sentence
            raise LandersError(f"W&B could not start a run ({first_line(e)}); set WANDB_MODE=offline to "
                               "log without the server.") from None
        self.run.define_metric("global_step")
        self.run.define_metric("*", step_metric="global_step")
        write_record(run_dir, {"kind": "wandb", "id": self.run.id, "first_row": first_row,
                               "settings": {**asdict(settings), "name": settings.name},
                               "project": self.run.project, "url": self.run.url})

    def log(self, scalars: dict[str, float], *, step: int) -> None:
        self.run.log({"global_step": step, **scalars}, step=self.row)
        self.row += 1

    def video(self, path: Path, *, step: int) -> None:
        """The video of the evaluation just logged, in that evaluation's row."""
        self.run.log({"global_step": step, "eval/video": self.wandb.Video(str(path), format=Path(path).suffix[1:])},
                     step=self.row - 1)

    def final(self, result: dict[str, Any]) -> None:
        """The final evaluation (eval.json) and the random baseline, in the run's summary."""
        summary = {f"final/{k}": result[k] for k in ("mean", "std", "episodes", "step", "train_time") if k in result}
        if "random" in result:
            summary.update({f"final/random_{k}": result["random"][k] for k in ("mean", "std", "episodes")})
        self.run.summary.update(summary)

    def save(self, path: Path) -> None:
        """A file of the run (the report) among the W&B run's files."""
        path = Path(path)
        self.run.save(str(path), base_path=str(path.parent), policy="now")

    def finish(self, *, failed: bool = False) -> None:
        if self.run is not None:
            run, self.run = self.run, None
            run.finish(exit_code=1 if failed else 0)


def from_options(track: str | None, project: str | None, entity: str | None, group: str | None, *,
                 job_type: str, default_group: str | None = None) -> Tracking | None:
    """The `Tracking` a command's `--track` and `--wandb-*` options ask for (None without
    `--track`); one sentence when the tracker is unknown or not installed, before any work."""
    if track is None:
        if any((project, entity, group)):
            raise LandersError("--wandb-project, --wandb-entity and --wandb-group go with --track wandb.")
        return None
    check(track)
    return Tracking(kind=track, project=project, entity=entity, group=group or default_group, job_type=job_type)


def tracker_for(settings: Tracking | None, *, resume: Path | None = None) -> WandbTracker | None:
    """The tracker of `settings`; without them, for `train --resume`, the one the run had (its
    tracking.json), so that a resumed run goes on logging where it did."""
    if settings is None and resume is not None:
        run_dir = resume.parent.parent if resume.parent.name == "checkpoints" else resume
        record = read_record(run_dir)
        if record is not None:
            settings = Tracking(**record["settings"])
    return make(settings)


def as_dict(settings: Tracking | None) -> dict[str, Any] | None:
    """`settings` as plain data, for a Ray trial's config (`for_member` reads it back)."""
    return asdict(settings) if settings is not None else None


def make(settings: Tracking | None) -> WandbTracker | None:
    if settings is None:
        return None
    check(settings.kind)
    return WandbTracker(settings)


def publish(settings: Tracking | None, directory: Path, files: list[Path], *, name: str) -> None:
    """The files a comparison or a study ends with (its report, table, best preset) as one more
    W&B run of its group, written under `directory`."""
    if settings is None:
        return
    wandb = require_wandb()
    try:
        run = wandb.init(project=settings.project or os.environ.get("WANDB_PROJECT") or "landers",
                         entity=settings.entity, group=settings.group, name=name,
                         job_type=f"{settings.job_type}-report" if settings.job_type else "report", dir=str(directory))
    except wandb.errors.Error as e:  # as in WandbTracker.begin
        raise LandersError(f"W&B could not start a run ({first_line(e)}); set WANDB_MODE=offline to "
                           "log without the server.") from None
    try:
        for path in files:
            if Path(path).is_file():
                run.save(str(path), base_path=str(Path(path).parent), policy="now")
    finally:
        run.finish()


def for_member(settings: dict[str, Any] | None, **defaults: Any) -> WandbTracker | None:
    """The tracker of one run of a comparison or a study, from its `Tracking` as a dict (what
    travels in a Ray trial's config), the fields it leaves unset taken from `defaults` (the
    comparison's or study's group, the run's name)."""
    if not settings:
        return None
    tracking = Tracking(**settings)
    return make(replace(tracking, **{k: v for k, v in defaults.items() if getattr(tracking, k) is None}))


def finite_scalars(row: dict[str, Any]) -> dict[str, float]:
    """The scalars of a CSV row that TensorBoard logs: numbers, finite, step and time aside."""
    return {k: v for k, v in row.items() if k not in ("step", "time") and isinstance(v, (int, float))
            and math.isfinite(v)}


def read_record(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / RECORD
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise LandersError(f"'{path}' is corrupt; delete it to start a new W&B run for this run.") from None
    ok = (isinstance(data, dict) and isinstance(data.get("id"), str) and isinstance(data.get("first_row"), int)
          and isinstance(data.get("settings"), dict) and set(data["settings"]) <= set(Tracking.__dataclass_fields__))
    if not ok:
        raise LandersError(f"'{path}' is corrupt; delete it to start a new W&B run for this run.")
    return data


def write_record(run_dir: Path, data: dict[str, Any]) -> None:
    from landers.core.checkpoint import write_json_atomic

    write_json_atomic(Path(run_dir) / RECORD, data)


"""What a run writes as it trains: metrics.csv (one row per update), episodes.csv (one row
per finished episode), evals.csv (one row per periodic evaluation) and TensorBoard events.

Rows are appended whole (`CsvAppender`), so a crash or a full disk never leaves half a row;
a write that fails ends the run with `WriteFailed` naming the file.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

from landers.core.files import CsvAppender, read_table, row_step, write_failed
from landers.errors import WriteFailed
from landers.run.tracking import Tracker, finite_scalars

UPDATE_COLUMNS = ["step", "time", "sps", "lr", "clip_coef", "policy_loss", "value_loss", "entropy",
                  "approx_kl", "clipfrac", "explained_variance", "gradient_steps", "episodes",
                  "return_mean"]
EPISODE_COLUMNS = ["step", "time", "return", "length"]
EVAL_COLUMNS = ["step", "time", "mean", "std", "episodes"]


def _truncate_after(path: Path, step: int) -> int:
    """Drop rows logged after `step` (a resumed run continues from its checkpoint's step),
    and any torn or garbage row a crash left behind; the number of rows kept."""
    header, rows, _ = read_table(path)
    if not header:
        if path.exists() and path.stat().st_size:  # no header at all: keep it aside, start anew
            try:
                os.replace(path, path.with_name(path.name + ".corrupt"))
            except OSError as e:
                raise write_failed(path, e) from None
        return 0
    tmp = path.with_name(path.name + ".tmp")
    kept = [r for r in rows if row_step(r) <= step]
    try:
        tmp.unlink(missing_ok=True)
        appender = CsvAppender(tmp, header)
        try:
            appender.write_rows(kept)
        finally:
            appender.close()
        os.replace(tmp, path)
    except (OSError, WriteFailed) as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(e, WriteFailed):
            raise
        raise write_failed(path, e) from None
    return len(kept)


def _quiet_tensorboard_thread_errors() -> None:
    """TensorBoard writes events from a thread; when the disk fills, that thread dies with a
    traceback on stderr, and TensorBoard raises the same error at the next call from the
    training thread, where `RunLog` turns it into one sentence. Print only other threads'."""
    previous = threading.excepthook
    if getattr(previous, "_landers", False):
        return

    def hook(args):
        if type(args.thread).__name__ != "_AsyncWriterThread":
            previous(args)

    hook._landers = True
    threading.excepthook = hook


class RunLog:
    """The run's CSVs, its TensorBoard events and, where one is given, a `Tracker` (W&B), which
    gets every scalar TensorBoard does under the same name, one row per CSV row."""

    def __init__(self, run_dir: Path, resume_step: int | None = None, tensorboard: bool = True,
                 extra_columns: list[str] = (), *, tracker: Tracker | None = None,
                 config: dict[str, Any] | None = None):
        files = {"metrics.csv": UPDATE_COLUMNS + list(extra_columns), "episodes.csv": EPISODE_COLUMNS, "evals.csv": EVAL_COLUMNS}
        kept = None
        if resume_step is not None:
            kept = sum(_truncate_after(run_dir / name, resume_step) for name in files)
        self.tracker = tracker
        if tracker is not None:  # before any file is opened: a tracker that cannot start ends the run here
            tracker.begin(run_dir, config=config or {}, kept_rows=kept)
        self.updates, self.episodes, self.evals = (CsvAppender(run_dir / n, c) for n, c in files.items())
        self.tb = None
        self.tb_dir = run_dir / "tb"
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            _quiet_tensorboard_thread_errors()
            # Like the CSVs, keep what was logged up to the checkpoint's step (inclusive).
            purge = None if resume_step is None else resume_step + 1
            try:
                self.tb = SummaryWriter(str(self.tb_dir), purge_step=purge)
            except OSError as e:
                raise write_failed(self.tb_dir, e) from None

    def _scalars(self, prefix: str, row: dict[str, Any], step: int) -> None:
        scalars = {f"{prefix}/{key}": value for key, value in finite_scalars(row).items()}
        if self.tracker is not None:
            self.tracker.log(scalars, step=step)
        if self.tb is None:
            return
        try:
            for name, value in scalars.items():
                self.tb.add_scalar(name, value, step)
        except OSError as e:
            raise write_failed(self.tb_dir, e) from None

    def update(self, row: dict[str, Any]) -> None:
        self.updates.write([row])
        self._scalars("train", row, row["step"])

    def episodes_done(self, rows: list[dict[str, Any]]) -> None:
        self.episodes.write(rows)
        for row in rows:
            self._scalars("episode", {"return": row["return"], "length": row["length"]}, row["step"])

    def eval(self, row: dict[str, Any]) -> None:
        self.evals.write([row])
        self._scalars("eval", row, row["step"])

    def video(self, path: Path, step: int) -> None:
        """A video of the evaluation just logged (the tracker shows it beside that evaluation)."""
        if self.tracker is not None:
            self.tracker.video(path, step=step)

    def final(self, result: dict[str, Any]) -> None:
        """The final evaluation, as written to eval.json (with the random policy's)."""
        if self.tracker is not None:
            self.tracker.final(result)

    def close(self) -> None:
        for c in (self.updates, self.episodes, self.evals):
            c.close()
        if self.tb is not None:
            tb, self.tb = self.tb, None
            try:
                tb.close()
            except OSError as e:
                raise write_failed(self.tb_dir, e) from None

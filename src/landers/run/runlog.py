"""What a run writes as it trains: metrics.csv (one row per update), episodes.csv (one row
per finished episode), evals.csv (one row per periodic evaluation) and TensorBoard events."""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

UPDATE_COLUMNS = ["step", "time", "sps", "lr", "clip_coef", "policy_loss", "value_loss", "entropy",
                  "approx_kl", "clipfrac", "explained_variance", "gradient_steps", "episodes",
                  "return_mean"]
EPISODE_COLUMNS = ["step", "time", "return", "length"]
EVAL_COLUMNS = ["step", "time", "mean", "std", "episodes"]


def _truncate_after(path: Path, step: int) -> None:
    """Drop rows logged after `step` (a resumed run continues from its checkpoint's step)."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if r and int(float(r[0])) <= step]
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        csv.writer(f).writerows(kept)
    os.replace(tmp, path)


class _Csv:
    def __init__(self, path: Path, columns: list[str]):
        new = not path.exists() or path.stat().st_size == 0
        self.file = path.open("a", newline="")
        self.writer = csv.DictWriter(self.file, columns, extrasaction="ignore")
        if new:
            self.writer.writeheader()

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.writer.writerows(rows)
        self.file.flush()


class RunLog:
    def __init__(self, run_dir: Path, resume_step: int | None = None, tensorboard: bool = True,
                 extra_columns: list[str] = ()):
        files = {"metrics.csv": UPDATE_COLUMNS + list(extra_columns), "episodes.csv": EPISODE_COLUMNS, "evals.csv": EVAL_COLUMNS}
        if resume_step is not None:
            for name in files:
                _truncate_after(run_dir / name, resume_step)
        self.updates, self.episodes, self.evals = (_Csv(run_dir / n, c) for n, c in files.items())
        self.tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            # Like the CSVs, keep what was logged up to the checkpoint's step (inclusive).
            purge = None if resume_step is None else resume_step + 1
            self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=purge)

    def _scalars(self, prefix: str, row: dict[str, Any], step: int) -> None:
        if self.tb is None:
            return
        for key, value in row.items():
            if key not in ("step", "time") and isinstance(value, (int, float)) and math.isfinite(value):
                self.tb.add_scalar(f"{prefix}/{key}", value, step)

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

    def close(self) -> None:
        for c in (self.updates, self.episodes, self.evals):
            c.file.close()
        if self.tb is not None:
            self.tb.close()

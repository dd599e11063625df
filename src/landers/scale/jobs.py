"""Jobs of a suite or a comparison and their names: one (algorithm, preset, seed) is one run
directory, RUNS/<algo>[@preset]__s<seed>, and one Tune trial named the same. Pure: no Ray."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Job:
    algo: str
    seed: int
    run_dir: Path
    preset: str | None = None  # a shipped preset's name or a preset file (best.json); None: the env's own

    @property
    def label(self) -> str:
        """How the table and curves name it: `ppo`, or `ppo@PRESET` (`--algos` entries)."""
        return entry_label(self.algo, self.preset)

    @property
    def name(self) -> str:
        return run_name(self.algo, self.preset, self.seed)

    @property
    def done(self) -> bool:
        return (self.run_dir / "eval.json").exists()


def entry_label(algo: str, preset: str | None) -> str:
    return f"{algo}@{preset}" if preset else algo


def run_name(algo: str, preset: str | None, seed: int) -> str:
    """The run directory's name (a preset file's path made safe for one directory level)."""
    return f"{re.sub(r'[^A-Za-z0-9_.@-]+', '_', entry_label(algo, preset))}__s{seed}"


def parse_entry(entry: str) -> tuple[str, str | None]:
    """`ALGO` or `ALGO@PRESET` -> (algo, preset or None)."""
    algo, _, preset = entry.partition("@")
    return algo.strip(), preset.strip() or None


def preset_of(job: Job) -> dict:
    """A job's preset for its trial: the name as given (it names the run), and a preset file's
    absolute path (the trial's worker has another working directory)."""
    if job.preset is None:
        return {}
    file = Path(job.preset)
    return {"preset": job.preset, **({"preset_file": str(file.absolute())} if file.is_file() else {})}


def name_of_config(config: dict) -> str:
    """The run name of a trial's config (compare's `{"run": {...}}` or the run itself)."""
    run = config.get("run", config)
    return run_name(run["algo"], run.get("preset"), run["seed"])

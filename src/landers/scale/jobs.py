"""Jobs of a comparison or a suite and their names: one (env, algorithm, preset, seed) is one
run directory, RUNS/[<env>/]<algo>[@preset]__s<seed>, and one Tune trial; the checks that need
no Ray. Nothing here imports Ray."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Job:
    algo: str
    seed: int
    run_dir: Path
    preset: str | None = None  # a shipped preset's name or a preset file (best.json); None: the env's own
    env_id: str | None = None  # a suite's env; None in a comparison, whose one env the settings name

    @property
    def label(self) -> str:
        """How the table and curves name it: `ppo`, or `ppo@PRESET` (`--algos` entries)."""
        return entry_label(self.algo, self.preset)

    @property
    def name(self) -> str:
        """The run directory's own name."""
        return run_name(self.algo, self.preset, self.seed)

    @property
    def key(self) -> str:
        """The Tune trial's name: unique within its experiment (a suite's runs of several envs)."""
        return self.name if self.env_id is None else f"{safe_name(self.env_id)}__{self.name}"

    @property
    def done(self) -> bool:
        return (self.run_dir / "eval.json").exists()

    def trial_entry(self) -> dict[str, Any]:
        """What the job's Tune trial is told (its config's `run`): plain JSON."""
        return {"algo": self.algo, "seed": self.seed, **preset_of(self),
                **({"env_id": self.env_id} if self.env_id is not None else {})}


@dataclass(frozen=True)
class RunSettings:
    """What every trial of one experiment (a comparison or a suite) shares."""

    env_id: str | None  # a comparison's env; a suite's jobs each name their own
    steps: int | None  # env steps per run; None: each preset's budget
    cpus_per_run: int  # Ray CPUs and torch threads of each run
    storage: str  # a path all nodes see, or a URI
    runs: str  # where run directories live (STORAGE/runs, or OUT/runs for a URI storage)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    wrappers: tuple[str, ...] = ()
    tracking: dict[str, Any] | None = None  # a landers.run.tracking.Tracking as a dict: each run logs to W&B

    def env_of(self, entry: dict[str, Any]) -> str:
        return entry.get("env_id") or self.env_id

    def run_dir_of(self, entry: dict[str, Any]) -> Path:
        """Where a trial's run lives on a path storage."""
        env = entry.get("env_id")
        return Path(self.runs, *([safe_name(env)] if env else []), name_of_config(entry))


@dataclass(frozen=True)
class Request:
    """What `compare` or `bench` asks for: every env x `--algos` entry x seed, one run each."""

    env_ids: tuple[str, ...]
    entries: tuple[str, ...]  # --algos entries, ALGO or ALGO@PRESET
    seeds: int
    first_seed: int = 1
    steps: int | None = None  # None: each preset's budget
    cpus_per_run: int = 1
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    wrappers: tuple[str, ...] = ()
    suite: bool = False  # a suite's runs live in RUNS/<env>/ and report one status line

    def jobs(self, runs: Path) -> list[Job]:
        jobs = []
        for env in self.env_ids:
            where = runs / safe_name(env) if self.suite else runs
            for algo, preset in (parse_entry(e) for e in self.entries):
                jobs += [Job(algo, s, where / run_name(algo, preset, s), preset, env if self.suite else None)
                         for s in range(self.first_seed, self.first_seed + self.seeds)]
        return jobs


def safe_name(text: str) -> str:
    """`text` made safe for one directory level."""
    return re.sub(r"[^A-Za-z0-9_.@-]+", "_", text)


def entry_label(algo: str, preset: str | None) -> str:
    return f"{algo}@{preset}" if preset else algo


def run_name(algo: str, preset: str | None, seed: int) -> str:
    """The run directory's name (a preset file's path made safe for one directory level)."""
    return f"{safe_name(entry_label(algo, preset))}__s{seed}"


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
    """The run directory's name of a trial's config (`{"run": {...}}` or the run itself)."""
    run = config.get("run", config)
    return run_name(run["algo"], run.get("preset"), run["seed"])


def key_of_config(config: dict) -> str:
    """The trial's name from its config (see `Job.key`)."""
    run = config.get("run", config)
    name = name_of_config(run)
    return f"{safe_name(run['env_id'])}__{name}" if run.get("env_id") else name


def check_env(env_id: str, env_kwargs: dict[str, Any] | None = None, wrappers: tuple[str, ...] = ()) -> None:
    """Build the env once, with its kwargs and wrappers, and close it: a misspelled id, argument
    or wrapper is one sentence on the driver, before Ray starts (a trial would take its start-up,
    ~20 s here, to fail on it)."""
    from landers.envs.source import env_source

    source = env_source(env_id, env_kwargs, wrappers)
    source.check()
    env = source.make()
    env.close()


def unmasked(env_id: str, specs: dict[str, Any], env_kwargs: dict[str, Any] | None = None,
             wrappers: tuple[str, ...] = ()) -> list[str]:
    """The names of `specs` (name -> RunSpec on `env_id`) whose algorithm cannot apply action masks
    (and that do not ignore them with mask=false), where the env offers one: each would fail at
    its first rollout. The env is probed (one env of the Gymnasium backend, which can call a mask
    method, reset once) only when some spec would need it."""
    from landers.algos import get_algo

    names = [name for name, spec in specs.items()
             if not get_algo(spec.algo).MASKS and getattr(spec.hparams, "mask", False)]
    if not names:
        return []
    from landers.envs import make_vec_env
    from landers.envs.source import env_source

    envs = make_vec_env(env_source(env_id, env_kwargs, wrappers), 1, 0, "gymnasium")
    try:
        envs.reset()
        return names if envs.mask_source is not None else []
    finally:
        envs.close()

"""What defines a run: `RunSpec` (written fully resolved to config.json) and `make_spec`,
which resolves a preset, `--set` overrides and run options into a validated spec."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from landers.algos import get_algo
from landers.core.config import (
    NO_PRESET,
    doc,
    find_preset,
    from_json,
    must_be,
    replace_config,
    to_json_dict,
    typed_overrides,
    unknown_key_error,
)
from landers.core.files import read_json_object
from landers.envs import resolve_backend
from landers.envs.source import EnvSource, env_source
from landers.errors import LandersError

DEFAULT_STEPS = 100_000


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines a run; written fully resolved to `config.json`."""

    algo: str = doc("ppo", "algorithm")
    env_id: str = doc("CartPole-v1", "Gymnasium env id (module:EnvId imports module first), or the factory's name")
    env_kwargs: dict = doc({}, "the env's constructor arguments (JSON values)")
    wrappers: tuple[str, ...] = doc((), "module:callable[:JSON kwargs] applied in order to each env")
    env_factory: str | None = doc(None, "import path of the callable that made the env, or <name at 0x...> "
                                        "for one without (usable only in the process that trained)")
    steps: int = doc(DEFAULT_STEPS, "env steps to train for (rounded up to whole rollouts)")
    seed: int = doc(0, "seed of the training envs, network init and sampling")
    backend: str = doc("auto", "vector env backend: auto, gymnasium or envpool")
    device: str = doc("auto", "torch device: auto (CUDA when present), cpu or cuda")
    eval_every: int = doc(0, "env steps between periodic evaluations (0: a tenth of the run)")
    eval_episodes: int = doc(10, "episodes per periodic evaluation")
    final_eval_episodes: int = doc(100, "episodes of the final evaluation (and of the random baseline)")
    checkpoint_every_s: float = doc(60.0, "rewrite checkpoints/last at least this often (seconds)")
    threads: int = doc(0, "torch CPU threads; 0: 1 for MLPs (fastest for small nets), all cores for CNNs")
    env_threads: int = doc(0, "EnvPool worker threads (per half with overlap); 0: one per core, 1 per half with overlap")
    overlap: bool = doc(False, "step two fixed halves of the envs alternately, one on EnvPool's threads while the "
                               "policy acts on the other (deterministic; other numbers than the synchronous path); "
                               "on by default where the preset says so, EnvPool can overlap and the run has two "
                               "cores (its threads, else the machine's)")
    eval_max_steps: int = doc(0, "cap on an evaluation episode's steps, so a stuck agent cannot hang it (0: the env's own limit)")
    stop_return: float | None = doc(None, "end training once a periodic evaluation's mean reaches this")
    record_every: int = doc(0, "record a video every K periodic evaluations into RUN_DIR/videos (0: never)")
    preset: str | None = doc(None, "the preset the hyperparameters came from")
    hparams: Any = doc(None, "the algorithm's config")

    @property
    def env(self) -> EnvSource:
        return EnvSource(self.env_id, self.env_kwargs, self.wrappers, self.env_factory)

    def to_json(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["hparams"] = to_json_dict(self.hparams)
        data["wrappers"] = list(self.wrappers)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "The run's config") -> RunSpec:
        """The spec in `data` (config.json's content), every field checked against its type."""
        if not isinstance(data, dict) or not isinstance(data.get("algo"), str):
            raise LandersError(f"{where} is corrupt: it names no algorithm.")
        algo = get_algo(data["algo"])
        hparams = from_json(algo.Config, data.get("hparams"), f"{where} (hparams)")
        return from_json(cls, data, where, hparams=hparams)


def read_config(path: Path) -> tuple[RunSpec, list]:
    """The spec in a run's config.json and the list of changes made when resuming it (its
    "resumed" entry); one sentence if the file is not JSON or holds the wrong types."""
    data = read_json_object(path)
    history = data.pop("resumed", [])
    if not isinstance(history, list):
        raise LandersError(f"'{path}' is corrupt: 'resumed' should be a list.")
    data.pop("versions", None)
    data.pop("backend_resolved", None)
    return RunSpec.from_json(data, f"'{path}'"), history


ENV_FIELDS = ("env_id", "env_kwargs", "wrappers", "env_factory")
RUN_OPTIONS = [f.name for f in dataclasses.fields(RunSpec) if f.name not in ("algo", "hparams", "preset", *ENV_FIELDS)]


def make_spec(algo: str, env: Any, *, preset: str | None = None, overrides: dict[str, Any] | None = None,
              env_kwargs: dict[str, Any] | None = None, wrappers: Any = (), config: Any = None,
              **options: Any) -> RunSpec:
    """Resolve preset, hyperparameter overrides and run options into a validated RunSpec.

    `env` is an id, a `gymnasium.EnvSpec`, a callable returning an env, or an `EnvSource`;
    `env_kwargs` and `wrappers` (`module:callable[:JSON]` or callables) add to it.
    `preset` None takes the env's tuned preset when one ships (a factory's: that of the id its
    env registers as), `"none"` none at all, else a preset name or file. `config` is the
    algorithm's Config (then used whole: no preset's hyperparameters go under it) or a dict
    layered over the preset like `overrides`. `overrides` may hold hyperparameters and run
    options (as from `--set`); values given as strings are parsed to the field's type.
    """
    module = get_algo(algo)
    algo = algo.lower()
    source = env_source(env, env_kwargs, wrappers)
    source.check()
    hparams, preset, overrides = base_config(module, algo, config, preset, dict(overrides or {}))
    found = find_preset(algo, preset_env_id(source) if preset is None else source.env_id, preset)
    run_overrides = {k: overrides.pop(k) for k in list(overrides) if k in RUN_OPTIONS}
    for key, value in options.items():
        if key not in RUN_OPTIONS:
            raise unknown_key_error(key, RUN_OPTIONS, "run option")
        if value is not None:
            run_overrides[key] = value
    if found is not None:
        run_overrides.setdefault("steps", found.steps)
        if found.eval_every:
            run_overrides.setdefault("eval_every", found.eval_every)
    unknown = [key for key in overrides if key not in {f.name for f in dataclasses.fields(hparams)}]
    if unknown:
        raise unknown_key_error(unknown[0], [f.name for f in dataclasses.fields(hparams)],
                                "hyperparameter or run option", plural="hyperparameters",
                                also={"run options": RUN_OPTIONS})
    # A Config object given whole, and a preset the caller named, are values given like --set's.
    fit = config is None or isinstance(config, dict)
    hparams = fitted_config(module, hparams, found.hparams if found else {}, overrides,
                            preset_given=preset is not None) if fit else replace_config(hparams, overrides)
    chosen = set(overrides) | set(found.hparams if found else {})
    if getattr(hparams, "norm_obs", False) and "norm_obs" not in chosen and not has_vector_observations(source):
        # The general default normalizes vector observations; an env with none (pixels, categories,
        # bits) trains without it, where asking for it (--set, a preset) is refused.
        hparams = dataclasses.replace(hparams, norm_obs=False)
    spec = replace_config(RunSpec(algo=algo, env_id=source.env_id, env_kwargs=source.kwargs,
                                  wrappers=source.wrappers, env_factory=source.factory,
                                  preset=found.name if found else None, hparams=hparams), run_overrides)
    if found is not None and found.overlap and "overlap" not in run_overrides:
        cores = spec.threads or available_cores()  # compare and tune give each run its share as threads
        spec = dataclasses.replace(spec, overlap=cores >= 2 and can_overlap(module, source, hparams, spec.backend))
    validate(spec)
    return spec


def fitted_config(module: Any, base: Any, preset_hparams: dict[str, Any], overrides: dict[str, Any], *,
                  preset_given: bool = False) -> Any:
    """`base` with a preset's hyperparameters and then `overrides` laid over it, where the
    algorithm's `constrain` fits the values nobody gave to those given (PPO: num_minibatches, the
    default's or the env's preset's, rounded down to divide a batch that --set made smaller, or
    to num_envs with rnn). Given values (`overrides`, and the preset's with `preset_given`: one
    the caller named) are only checked."""
    preset_values = typed_overrides(base, preset_hparams)
    given = {**(preset_values if preset_given else {}), **typed_overrides(base, overrides)}
    merged = {**preset_values, **given}
    return dataclasses.replace(base, **{**module.constrain(dict(merged), base), **given})


def base_config(module: Any, algo: str, config: Any, preset: str | None,
                overrides: dict[str, Any]) -> tuple[Any, str | None, dict[str, Any]]:
    """(the Config the preset and overrides go over, the preset to look for, the overrides) for
    `make_spec`'s `config`: a dict joins the overrides; the algorithm's Config is used whole."""
    if config is None:
        return module.Config(), preset, overrides
    if isinstance(config, dict):
        return module.Config(), preset, {**config, **overrides}
    if not isinstance(config, module.Config):
        raise LandersError(f"config= is a {type(config).__name__}; {algo} takes its own Config "
                           f"(landers.algos.{algo}.Config) or a dict of hyperparameters.")
    if preset is not None and preset.lower() != NO_PRESET:
        raise LandersError(f"config= gives every hyperparameter, so preset={preset!r} would have nothing to set; "
                           "pass one of them.")
    return config, NO_PRESET, overrides


def has_vector_observations(source: EnvSource) -> bool:
    """Whether the env's observations hold a vector part (one env is built to ask); a space
    landers cannot handle counts as one, for the trainer to refuse in its own words."""
    from landers.policy.spaces import ObsLayout

    probe = source.make()
    try:
        return ObsLayout(probe.observation_space).has_vector
    except LandersError:
        return True
    finally:
        probe.close()


def preset_env_id(source: EnvSource) -> str:
    """The id whose tuned preset this env gets: the id it registers as once its kwargs apply,
    and for a factory the id its env says it was made from (`env.spec.id`; one env is built to
    ask), so that `lambda: gym.make("CartPole-v1")` trains as "CartPole-v1" does. A factory
    whose env has no registered spec gets no preset."""
    if source.factory is None:
        return source.registered_as()
    probe = source.make()
    try:
        spec = probe.spec
    finally:
        probe.close()
    if spec is None or spec.id not in gym.registry:
        return source.env_id
    try:
        kwargs = json.loads(json.dumps(spec.kwargs))
    except (TypeError, ValueError):  # arguments that are no JSON values: not a preset's env
        return spec.id
    return EnvSource(spec.id, kwargs).registered_as()


def value_sources(spec: RunSpec, overrides: dict[str, Any]) -> dict[str, str]:
    """Where each hyperparameter and run option of `spec` (made by `make_spec` with `overrides`)
    comes from: "--set", "preset NAME" or "default"."""
    found = find_preset(spec.algo, spec.env_id, spec.preset) if spec.preset else None
    from_preset = set(found.hparams) if found else set()
    if found is not None:
        from_preset |= {"steps"} | ({"eval_every"} if found.eval_every else set()) | (
            {"overlap"} if found.overlap else set())
    names = [f.name for f in dataclasses.fields(spec.hparams)] + RUN_OPTIONS
    sources = {name: "--set" if name in overrides else f"preset {spec.preset}" if name in from_preset else "default"
               for name in names}
    for name, was in fitted_values(spec, overrides, found).items():
        sources[name] += f" ({was}, fitted to this run)"
    return sources


_LOOK_UP = object()


def fitted_values(spec: RunSpec, overrides: dict[str, Any], found: Any = _LOOK_UP) -> dict[str, Any]:
    """The hyperparameters make_spec fitted to this run (a num_minibatches rounded to the batch,
    norm_obs off where there are no vector observations), each with the value it would have had:
    its default's, or its preset's (`found`, the run's preset, is looked up unless given)."""
    if found is _LOOK_UP:
        found = find_preset(spec.algo, spec.env_id, spec.preset) if spec.preset else None
    defaults = type(spec.hparams)()
    unfitted = typed_overrides(defaults, found.hparams) if found else {}
    fitted = {}
    for f in dataclasses.fields(spec.hparams):
        was = unfitted.get(f.name, getattr(defaults, f.name))
        if f.name not in overrides and getattr(spec.hparams, f.name) != was:
            fitted[f.name] = was
    return fitted


def available_cores() -> int:
    """The cores this process may run on (its affinity, where the OS says; else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows
        return os.cpu_count() or 1


def can_overlap(module: Any, source: EnvSource, hparams: Any, backend: str) -> bool:
    """Whether `overlap` overlaps anything here: EnvPool steps one half on its threads while the
    policy acts on the other, so it needs EnvPool, two equal halves and fixed rollouts. A
    preset's overlap is dropped where it cannot (Gymnasium keeps the synchronous path), and
    where the run has one core (two runs sharing two cores measured 6% slower overlapped); asked
    for with --set, an odd num_envs or whole-episode collection is refused, and Gymnasium's
    halves step one after the other."""
    num_envs = getattr(hparams, "num_envs", 0)
    return (module.COLLECT == "steps" and num_envs >= 2 and num_envs % 2 == 0
            and resolve_backend(source, backend) == "envpool")


def validate(spec: RunSpec) -> None:
    must_be(spec, ("steps", "eval_episodes", "final_eval_episodes", "checkpoint_every_s"), lambda v: v > 0,
            "must be positive")
    must_be(spec, ("eval_every", "record_every", "threads", "env_threads", "eval_max_steps"), lambda v: v >= 0,
            "must be >= 0")
    if spec.record_every:
        from landers.see.video import imageio_module

        imageio_module()  # fail now, not at the first evaluation, when imageio is missing
    resolve_backend(spec.env, spec.backend)
    resolve_device(spec.device)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda"):
        raise LandersError(f"Unknown device {device!r}; use auto, cpu, cuda or cuda:N.")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise LandersError(f"device={device} was asked for, but torch sees no CUDA device here.")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise LandersError(f"device={device}: this machine has {torch.cuda.device_count()} CUDA device(s).")
    return resolved


def versions() -> dict[str, str]:
    from landers.version import __version__

    return {"landers": __version__, "torch": torch.__version__, "gymnasium": gym.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def default_run_dir(spec: RunSpec, root: Path = Path("runs")) -> Path:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.env_id)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = root / f"{name}__{spec.algo}__s{spec.seed}__{stamp}"
    path, i = base, 1
    while path.exists():
        path, i = Path(f"{base}-{i}"), i + 1
    return path

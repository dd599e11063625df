"""Config as data: frozen dataclasses, `--set KEY=VALUE` parsing, and presets as JSON files.

Every hyperparameter field carries its documentation in `metadata["help"]` (see `doc`), which
`landers train --help-config` prints. Derived values are properties of the config classes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import typing
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from landers.errors import LandersError, close_names


def doc(default: Any, help: str) -> Any:
    """A dataclass field with its default and its one-line documentation (a dict default is
    copied for each instance)."""
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata={"help": help})
    return dataclasses.field(default=default, metadata={"help": help})


def redefault(cls: type, name: str, default: Any) -> Any:
    """`cls`'s field `name` with another default and the same documentation, for a subclass that
    changes a shared hyperparameter's default."""
    return doc(default, cls.__dataclass_fields__[name].metadata["help"])


def field_docs(cls: type) -> list[tuple[str, str, Any, str]]:
    """(name, type, default, help) for each field of a config dataclass."""
    hints = typing.get_type_hints(cls)
    return [
        (f.name, _type_name(hints[f.name]),
         f.default_factory() if f.default is dataclasses.MISSING else f.default, f.metadata.get("help", ""))
        for f in dataclasses.fields(cls)
    ]


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def parse_value(tp: Any, text: str, key: str) -> Any:  # noqa: C901 (one branch per field type, read as a table)
    """Turn the string from `--set key=text` into a value of the field's type `tp`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in args:
        if text.strip().lower() in ("none", "null", ""):
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return parse_value(inner, text, key)
    if origin is tuple:
        parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
        return tuple(parse_value(args[0], p.strip(), key) for p in parts)
    try:
        if tp is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            number = float(text.replace("_", ""))
            if not math.isfinite(number) or number != int(number):
                raise ValueError
            return int(number)
        if tp is float:
            number = float(text)
            if math.isnan(number):
                raise ValueError
            return number
        if tp is str:
            return text
    except ValueError:
        raise LandersError(f"{key}={text}: expected a value of type {_type_name(tp)}.") from None
    raise LandersError(f"{key}: unsupported field type {_type_name(tp)}.")


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """['lr=3e-4', 'num_envs=8'] -> {'lr': '3e-4', 'num_envs': '8'}."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise LandersError(f"--set expects KEY=VALUE, got '{item}'.")
        out[key.strip()] = value.strip()
    return out


def unknown_key_error(key: str, known: list[str], what: str, *, plural: str = "keys",
                      also: dict[str, list[str]] | None = None) -> LandersError:
    """One sentence for an unknown name: the close ones if any, else every known one (with the
    names of `also`'s other kinds, e.g. the run options beside the hyperparameters)."""
    everything = list(known) + [name for names in (also or {}).values() for name in names]
    close = close_names(key, everything)
    if close:
        return LandersError(f"Unknown {what} '{key}'. Did you mean {', '.join(close)}?")
    if not also:
        return LandersError(f"Unknown {what} '{key}'. Known {plural}: {', '.join(sorted(known))}.")
    lists = [f"{plural}: {', '.join(sorted(known))}"] + [f"{kind}: {', '.join(sorted(names))}"
                                                          for kind, names in also.items()]
    return LandersError(f"Unknown {what} '{key}'. Known {'; '.join(lists)}.")


def must_be(cfg: Any, names: tuple[str, ...], ok: Callable[[Any], bool], rule: str) -> None:
    """Raise one sentence naming the first field of `names` whose value fails `ok`, as
    `lr=-1.0 must be positive`."""
    for name in names:
        value = getattr(cfg, name)
        if not ok(value):
            raise LandersError(f"{name}={value!r} {rule}.")


def replace_config(cfg: Any, overrides: dict[str, Any]) -> Any:
    """A copy of dataclass `cfg` with `overrides`; string values are parsed to the field's type."""
    return dataclasses.replace(cfg, **typed_overrides(cfg, overrides))


def typed_overrides(cfg: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    """`overrides` for dataclass `cfg`, each value of its field's type (strings parsed); one
    sentence for an unknown key or a value of the wrong type."""
    hints = typing.get_type_hints(type(cfg))
    known = [f.name for f in dataclasses.fields(cfg)]
    values: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in known:
            raise unknown_key_error(key, known, "hyperparameter")
        tp = hints[key]
        if isinstance(value, str) and tp is not str:
            value = parse_value(tp, value, key)
        else:  # from a preset file or the Python API: a value of the field's type is needed
            ok, value = _json_value(tp, value)
            if not ok:
                raise LandersError(f"{key}={value!r}: expected a value of type {_type_name(tp)}.")
        values[key] = value
    return values


def _json_value(tp: Any, value: Any) -> tuple[bool, Any]:  # noqa: C901 (one branch per field type, read as a table)
    """(ok, value converted to `tp`) for a value read from JSON; JSON has no tuples, and an
    integral number may stand for a float."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return True, value
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for option in args:
            ok, converted = _json_value(option, value)
            if ok:
                return True, converted
        return False, value
    if tp is type(None):
        return value is None, value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            return False, value
        items = [_json_value(args[0], v) for v in value]
        if not all(ok for ok, _ in items):
            return False, value
        return True, (tuple if origin is tuple else list)(v for _, v in items)
    if origin is dict or tp is dict:
        return isinstance(value, dict), value
    if tp is bool:
        return isinstance(value, (bool, np.bool_)), bool(value) if isinstance(value, np.bool_) else value
    if isinstance(value, (bool, np.bool_)):  # true is no number
        return False, value
    if tp is int and isinstance(value, numbers.Integral):
        return True, int(value)
    if tp is float and isinstance(value, numbers.Real):
        return True, float(value)
    return isinstance(value, tp), value


def from_json(cls: type, data: Any, where: str, **given: Any) -> Any:
    """An instance of dataclass `cls` from the JSON object `data`, every field checked against
    its declared type: a corrupt or hand-edited file gets one sentence, not a traceback later.
    `given` supplies fields that are already converted (nested configs)."""
    if not isinstance(data, dict):
        raise LandersError(f"{where} is corrupt: expected a JSON object, found {type(data).__name__}.")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in given:
            continue
        if key not in known:
            raise LandersError(f"{where} is corrupt or from another version: unknown key {key!r}.")
        ok, values[key] = _json_value(hints[key], value)
        if not ok:
            raise LandersError(f"{where} is corrupt: {key!r} should be {_type_name(hints[key])}, "
                               f"not {json.dumps(value)[:40]}.")
    try:
        return cls(**values, **given)
    except TypeError as e:  # a field without default is missing
        raise LandersError(f"{where} is corrupt: {e}.") from None


def to_json_dict(cfg: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


# ---------------------------------------------------------------- shared hyperparameters


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    """What every learning algorithm has: rollout size, discount, optimizer, network and
    normalization. Each algorithm's Config adds its own fields (and may change defaults)."""

    num_envs: int = doc(8, "parallel environments")
    num_steps: int = doc(128, "steps per environment per rollout (T)")
    gamma: float = doc(0.99, "discount factor")
    lr: float = doc(3e-4, "learning rate")
    anneal_lr: bool = doc(True, "decay the learning rate linearly to 0 over the run")
    max_grad_norm: float = doc(0.5, "global gradient-norm clipping")
    hidden_sizes: tuple[int, ...] = doc((64, 64), "MLP hidden layer sizes")
    activation: str = doc("tanh", "MLP activation: tanh or relu")
    shared_network: bool = doc(False, "one MLP trunk for actor and critic instead of two")
    ortho_init: bool = doc(True, "orthogonal weights and zero biases (gain sqrt 2, 0.01 for the policy head, 1 for the "
                                 "value head); false keeps PyTorch's default initialization of every layer")
    init_log_std: float = doc(0.0, "initial log-std of the Gaussian policy (continuous actions); with sde, of "
                                   "every entry of the exploration matrices' std")
    sde: bool = doc(False, "generalized state-dependent exploration (gSDE) for continuous actions: the noise is "
                           "the policy's last hidden layer times a random matrix per env, redrawn on a schedule")
    sde_sample_freq: int = doc(-1, "with sde, draw new exploration matrices every this many steps of a "
                                   "rollout; -1 draws them only at the start of each rollout")
    norm_obs: bool = doc(False, "normalize observations with running statistics")
    norm_reward: bool = doc(False, "scale rewards by the running std of the discounted return")
    rnn: str | None = doc(None, "recurrent core between the observation encoder and the heads: lstm or gru "
                                "(memory for envs where one observation does not tell the whole state); none for none")
    rnn_size: int = doc(128, "width of the recurrent core's state (the LSTM's h and c each)")
    mask: bool = doc(True, "obey the env's action mask where it offers one (false ignores it, for ablations)")

    def __post_init__(self):
        must_be(self, ("num_envs", "num_steps", "lr", "max_grad_norm"), lambda v: v > 0, "must be positive")
        must_be(self, ("gamma",), lambda v: 0 < v <= 1, "must be in (0, 1]")
        must_be(self, ("activation",), lambda v: v in ("tanh", "relu"), "must be tanh or relu")
        must_be(self, ("hidden_sizes",), lambda v: bool(v) and min(v) > 0,
                "must be positive layer sizes, e.g. (64, 64)")
        must_be(self, ("rnn",), lambda v: v in (None, "lstm", "gru"), "must be lstm, gru or none")
        must_be(self, ("rnn_size",), lambda v: v > 0, "must be positive")
        must_be(self, ("sde_sample_freq",), lambda v: v == -1 or v > 0,
                "must be -1 (new exploration matrices once per rollout) or a positive number of steps")
        if self.sde and self.rnn:
            raise LandersError("sde (state-dependent exploration) does not combine with a recurrent policy (rnn); "
                               "choose one of them.")

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps


# ---------------------------------------------------------------- presets


@dataclasses.dataclass(frozen=True)
class Preset:
    """A tuned configuration for one algorithm on one env, shipped as `presets/<name>.json`."""

    name: str
    algo: str
    env_id: str | list[str]  # one id, or several that share the preset (e.g. Atari games)
    steps: int
    hparams: dict[str, Any]
    description: str = ""
    eval_every: int | None = None
    # Step the envs in two overlapped halves (RunSpec.overlap) where it can overlap: set where
    # it measured faster for the env and learned the same (bench/RESULTS.md).
    overlap: bool = False
    results: dict[str, Any] = dataclasses.field(default_factory=dict)
    # How it was found (`landers tune`: command, trials, seeds, steps, objective) and checked
    # (`landers bench` on seeds no study used: seeds, IQM, CI, date, machine, times), written by
    # bench/tuning/record_validation.py; tests/test_presets_validated.py holds them to the mark.
    study: dict[str, Any] = dataclasses.field(default_factory=dict)
    validation: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def env_ids(self) -> list[str]:
        """Every env id the preset names, the first being the one it is shown and fingerprinted on."""
        return [self.env_id] if isinstance(self.env_id, str) else list(self.env_id)


def preset_from_json(name: str, data: Any, where: str) -> Preset:
    """A Preset from a JSON object, or one sentence saying what is wrong with it."""
    fields = {f.name: f for f in dataclasses.fields(Preset)}
    if not isinstance(data, dict):
        raise LandersError(f"{where} must hold a JSON object with algo, env_id, steps and hparams.")
    unknown = sorted(set(data) - set(fields))
    missing = sorted(k for k in ("algo", "env_id", "steps", "hparams") if k not in data)
    if unknown or missing:
        raise LandersError(f"{where}: " + ("; ".join(filter(None, [
            f"unknown key(s) {', '.join(map(repr, unknown))}" if unknown else "",
            f"missing {', '.join(missing)}" if missing else ""]))) + ".")
    if not (isinstance(data["algo"], str) and isinstance(data["hparams"], dict)
            and isinstance(data["steps"], int) and not isinstance(data["steps"], bool) and data["steps"] > 0):
        raise LandersError(f"{where}: algo must be a string, steps a positive integer and hparams an object.")
    data = {k: v for k, v in data.items() if k != "name"}
    return from_json(Preset, data, where, name=name)  # every field's type checked


def all_presets() -> dict[str, Preset]:
    presets = {}
    for entry in sorted(resources.files("landers.presets").iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            name = entry.name[: -len(".json")]
            presets[name] = preset_from_json(name, json.loads(entry.read_text()), f"preset {name}")
    return presets


def read_preset_file(path: Path) -> Preset:
    """A preset file such as `landers tune` writes (best.json)."""
    try:
        data = json.loads(Path(path).read_text())
    except OSError as e:
        raise LandersError(f"Cannot read the preset file '{path}': {e.strerror}.") from None
    except ValueError as e:
        raise LandersError(f"The preset file '{path}' is not valid JSON: {e}.") from None
    return preset_from_json(str(path), data, f"The preset file '{path}'")


NO_PRESET = "none"  # `--preset none`, `preset=None` in Python: the algorithm's defaults


def find_preset(algo: str, env_id: str, name: str | None) -> Preset | None:
    """The named preset (a shipped name or a path to a preset file), else (`name` None) the tuned
    preset for (algo, env_id) when one ships, else None. `name` "none" asks for no preset: the
    algorithm's general defaults."""
    if name is not None and name.lower() == NO_PRESET:
        return None
    presets = all_presets()
    if name is not None:
        if name in presets:
            preset = presets[name]
        elif name.endswith(".json") or Path(name).is_file():
            preset = read_preset_file(Path(name))
        else:
            raise LandersError(f"{unknown_key_error(name, list(presets), 'preset', plural='presets')} "
                              "A preset file's path works too, and none for no preset.")
        if preset.algo != algo:
            raise LandersError(f"Preset '{name}' is for {preset.algo}, not {algo}.")
        return preset
    for preset in presets.values():
        if preset.algo == algo and env_id in preset.env_ids:
            return preset
    return None

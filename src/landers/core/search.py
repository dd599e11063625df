"""Hyperparameter search spaces as data: each algorithm declares `SEARCH_SPACE` next to its
config, `landers tune --space FILE` narrows or replaces it, and `sample` draws one valid
configuration through an Optuna trial (define-by-run, so constraints are applied as values
are drawn).

A space maps Config field names to `Float`, `Int` or `Choice`. Constraints between fields
(e.g. PPO's "num_minibatches divides num_envs * num_steps") are the algorithm's `constrain`
function, which turns a drawn dict into one its Config accepts; the configuration that trains
is always the constrained one, and it is what trials.csv and best.json record.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landers.core.config import replace_config, unknown_key_error
from landers.errors import LandersError, first_line


@dataclass(frozen=True)
class Float:
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Int:
    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class Choice:
    options: tuple


Param = Float | Int | Choice
Space = dict[str, Param]


def suggest(trial, space: Space) -> dict[str, Any]:
    """Draw one value per parameter from an Optuna trial (or anything with its suggest_* API)."""
    params: dict[str, Any] = {}
    for name, p in space.items():
        if isinstance(p, Float):
            params[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
        elif isinstance(p, Int):
            params[name] = trial.suggest_int(name, p.low, p.high, log=p.log)
        else:
            params[name] = trial.suggest_categorical(name, list(p.options))
    return params


def constrained(algo, params: dict[str, Any], base: Any = None) -> dict[str, Any]:
    """`params` made valid for `algo`'s Config by the algorithm's own `constrain`, if any, on
    top of `base` (the config the unsearched values come from; default: the defaults)."""
    return algo.constrain(dict(params), base if base is not None else algo.Config())


def largest_divisor_at_most(n: int, k: int) -> int:
    """The largest divisor of `n` that is <= `k` (at least 1)."""
    k = max(1, min(k, n))
    while n % k:
        k -= 1
    return k


# ---------------------------------------------------------------- space files

def param_to_json(p: Param) -> dict[str, Any]:
    if isinstance(p, Choice):
        return {"choice": list(p.options)}
    return {"float" if isinstance(p, Float) else "int": [p.low, p.high], "log": p.log}


def space_to_json(space: Space) -> dict[str, Any]:
    return {name: param_to_json(p) for name, p in space.items()}


def _param_from_json(name: str, spec: Any) -> Param:
    where = f"search space parameter '{name}'"
    if not isinstance(spec, dict):
        raise LandersError(f"{where}: expected an object such as {{\"float\": [1e-5, 1e-3], \"log\": true}}, "
                           f"got {json.dumps(spec)}.")
    kinds = [k for k in ("float", "int", "choice") if k in spec]
    extra = set(spec) - {"float", "int", "choice", "log"}
    if len(kinds) != 1 or extra:
        raise LandersError(f"{where}: give exactly one of float, int or choice (and optionally log), "
                           f"got keys {sorted(spec)}.")
    kind, value = kinds[0], spec[kinds[0]]
    if kind == "choice":
        if not isinstance(value, list) or not value:
            raise LandersError(f"{where}: choice must be a non-empty list.")
        return Choice(tuple(tuple(v) if isinstance(v, list) else v for v in value))
    number = float if kind == "float" else int
    ok = (isinstance(value, list) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    if ok and kind == "int":
        ok = all(float(v).is_integer() for v in value)
    if not ok or not all(math.isfinite(v) for v in value):
        raise LandersError(f"{where}: {kind} must be [low, high] of finite {number.__name__}s, got {json.dumps(value)}.")
    low, high = number(value[0]), number(value[1])
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise LandersError(f"{where}: log must be true or false.")
    if low > high or (log and low <= 0):
        raise LandersError(f"{where}: needs low <= high{' and low > 0 on a log scale' if log else ''}, "
                           f"got [{value[0]}, {value[1]}].")
    return (Float if kind == "float" else Int)(low, high, log)


def check_space(algo, space: Space) -> None:
    """Refuse names that are not the algorithm's hyperparameters, and bounds or choices its
    Config rejects (each extreme tried on top of the defaults, after the constraints)."""
    known = [f.name for f in dataclasses.fields(algo.Config)]
    for name, p in space.items():
        if name not in known:
            raise unknown_key_error(name, known, "hyperparameter in the search space")
        values = p.options if isinstance(p, Choice) else (p.low, p.high)
        for value in values:
            try:
                replace_config(algo.Config(), constrained(algo, {name: value}))
            except LandersError as e:
                raise LandersError(f"search space parameter '{name}': the value {value!r} is outside its "
                                   f"valid domain ({e})") from None


def load_space(path: Path, algo, *, base: Space | None = None, fixed: frozenset[str] = frozenset()) -> Space:
    """`base` (tune's default space: the algorithm's, with the network's size and activation;
    None: the algorithm's SEARCH_SPACE) with FILE applied: a JSON (or YAML) object of parameter
    specs. Its parameters replace those of the same name and add new ones; `null` drops one;
    `"replace": true` at the top level searches only the file's parameters."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise LandersError(f"Cannot read the search space file '{path}': {e.strerror}.") from None
    try:
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except ImportError:
        raise LandersError("YAML search spaces need PyYAML (pip install pyyaml); JSON always works.") from None
    except Exception as e:  # JSONDecodeError, yaml.YAMLError: the file is not what it claims
        raise LandersError(f"The search space file '{path}' is not valid {'YAML' if str(path).endswith(('.yaml', '.yml')) else 'JSON'}: "
                           f"{first_line(e)}.") from None
    if not isinstance(data, dict):
        raise LandersError(f"The search space file '{path}' must hold an object of parameters, e.g. "
                           "{\"lr\": {\"float\": [1e-4, 1e-3], \"log\": true}}.")
    replace = data.pop("replace", False)
    if not isinstance(replace, bool):
        raise LandersError(f"The search space file '{path}': replace must be true or false.")
    # A parameter fixed with --set leaves the algorithm's space; the file naming it too is a conflict.
    start = algo.SEARCH_SPACE if base is None else base
    space: Space = {} if replace else {k: v for k, v in start.items() if k not in fixed}
    for name, spec in data.items():
        if spec is None:
            space.pop(name, None)
        else:
            space[name] = _param_from_json(name, spec)
    if not space:
        raise LandersError(f"The search space from '{path}' has no parameters left to search.")
    check_space(algo, space)
    return space
